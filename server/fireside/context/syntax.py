"""The syntax at the cursor: the scopes around it, and whether a line or a block fits.

Code being typed is rarely valid; tree-sitter's error recovery keeps the tokens around
the cursor meaningful anyway (an ERROR node still holds the `:` or `{` just typed), so
these checks look at tokens, not at well-formed statements. Where a language has no
grammar, indentation and the last characters of a line decide instead.
"""

from __future__ import annotations

import enum

from tree_sitter import Node

from fireside.context.languages import Language
from fireside.context.parsed import Parsed


class Shape(enum.Enum):
    LINE = "line"  # finish the line the cursor is on
    BLOCK = "block"  # write a body: the cursor starts an empty block


# After the cursor, these are what an editor's auto-pairing typed: they do not make the
# cursor "mid-line" (`if (x) {|}` still opens a block).
_CLOSERS = " \t)]}\"'`;,"
# How block-opening lines end, for languages without a grammar.
_OPENER_ENDINGS = (":", "{", "=>", " do", " then")


def completion_shape(text: str, offset: int, language: Language | None, parsed: Parsed | None = None) -> Shape:
    """LINE mid-line or after a complete statement; BLOCK at the end of a line that
    opens a block, or on a blank line right after one whose body is still empty."""
    parsed = parsed or Parsed.of(text, language)
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    before, after = text[start:offset], text[offset : len(text) if end < 0 else end]
    if after.strip(_CLOSERS):
        return Shape.LINE
    if before.strip():
        return Shape.BLOCK if _opens_block(parsed, start, offset) else Shape.LINE
    above_start, above_end = _line_above(text, start)
    if above_end < 0 or not _opens_block(parsed, above_start, above_end):
        return Shape.LINE
    # The opener's body already has code (below the cursor, indented deeper): a line.
    below = next((line for line in text[offset:].split("\n")[1:] if line.strip()), None)
    return Shape.LINE if below is not None and _indent(below) > _indent(text[above_start:above_end]) else Shape.BLOCK


def _line_above(text: str, line_start: int) -> tuple[int, int]:
    """The span of the nearest non-blank line above; (-1, -1) if there is none."""
    end = line_start - 1
    while end >= 0:
        start = text.rfind("\n", 0, end) + 1
        if text[start:end].strip():
            return start, end
        end = start - 1
    return -1, -1


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _opens_block(parsed: Parsed, start: int, end: int) -> bool:
    """Whether the code in `text[start:end]` (one line) ends by opening a block: its last
    token, trailing comments aside, is one of the language's openers (`:`, `{`, `then`),
    or ends a node that is (Lua's parameter list)."""
    if parsed.tree is None or parsed.language is None:
        return parsed.text[start:end].rstrip().endswith(_OPENER_ENDINGS)
    line_start, at = parsed.byte_offset(start), parsed.byte_offset(end)
    while True:
        at = line_start + len(parsed.source[line_start:at].rstrip())
        if at == line_start:
            return False
        node: Node | None = parsed.tree.root_node.descendant_for_byte_range(at - 1, at)
        if node is None or "comment" not in node.type or node.start_byte < line_start:
            break
        at = node.start_byte  # a trailing comment: look at the code before it
    while node is not None and node.end_byte == at:
        if node.type in parsed.language.openers:
            return True
        node = node.parent
    return False


def enclosing_scopes(parsed: Parsed, offset: int) -> list[Node]:
    """The functions and classes around the cursor, outermost first. On a blank line after
    an indentation-delimited body (Python), the cursor is still in the scopes whose header
    is indented less than it: tree-sitter ends them at their last token."""
    if parsed.tree is None or parsed.language is None:
        return []
    at = parsed.byte_offset(offset)
    code_end = len(parsed.source[:at].rstrip())
    if code_end == 0:
        return []
    column = at - parsed.line_start_byte(at)
    scopes = []
    node: Node | None = parsed.tree.root_node.descendant_for_byte_range(code_end - 1, code_end)
    while node is not None:
        if node.type in parsed.language.scopes and node.start_byte < at and (at <= node.end_byte or column > node.start_point.column):
            scopes.append(node)
        node = node.parent
    return scopes[::-1]
