"""Ranges as code actions and commands carry them in JSON ([line, character, line,
character], UTF-16 columns as LSP counts them) and positions of character offsets."""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams


def range_json(r: types.Range) -> list[int]:
    return [r.start.line, r.start.character, r.end.line, r.end.character]


def range_from_json(value: Any) -> tuple[types.Position, types.Position]:
    if not (isinstance(value, list) and len(value) == 4 and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)):
        raise JsonRpcInvalidParams("range must be [startLine, startCharacter, endLine, endCharacter]")
    return types.Position(value[0], value[1]), types.Position(value[2], value[3])


def position_at(text: str, offset: int) -> types.Position:
    """The LSP position (UTF-16 column) of a character offset in `text`."""
    line = text.count("\n", 0, offset)
    column = text[text.rfind("\n", 0, offset) + 1 : offset]
    return types.Position(line, len(column.encode("utf-16-le")) // 2)
