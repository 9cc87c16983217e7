"""The word being typed at the cursor: suggestions replace it rather than repeat it.

Clients filter and place a suggestion by its range; a range from the start of the word
to the cursor, with the word leading the inserted text, works in all of them. Columns
are in the client's position encoding (UTF-16 code units unless negotiated otherwise).
"""

from __future__ import annotations

import re

from lsprotocol import types
from pygls.workspace import TextDocument

_WORD_TAIL = re.compile(r"[\w$]*\Z")


def word_before(text: str, offset: int) -> str:
    """The identifier characters just before `offset` on its line."""
    line_start = text.rfind("\n", 0, offset) + 1
    match = _WORD_TAIL.search(text, line_start, offset)
    return match.group() if match else ""


def typed_word(document: TextDocument, position: types.Position, offset: int) -> tuple[str, types.Range]:
    """The identifier characters just before the cursor, and their range."""
    word = word_before(document.source, offset)
    width = document.position_codec.client_num_units(word)
    start = types.Position(line=position.line, character=position.character - width)
    return word, types.Range(start=start, end=position)
