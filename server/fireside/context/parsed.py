"""A document parsed once, for everything one prompt asks of it.

Tree-sitter works in UTF-8 bytes and rows; editors and Python strings work in code
points. This keeps the text, its bytes and its tree together and converts between them.
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node, Point, Tree

from fireside.context.bisection import longest
from fireside.context.languages import Language


@dataclass(frozen=True)
class Parsed:
    text: str
    source: bytes
    tree: Tree | None  # None: no grammar, lines only
    language: Language | None

    @classmethod
    def of(cls, text: str, language: Language | None) -> Parsed:
        # surrogatepass: an editor may hand over a lone surrogate mid-edit.
        source = text.encode("utf-8", "surrogatepass")
        tree = language.parser().parse(source) if language is not None else None
        return cls(text, source, tree, language)

    def edited(self, start: int, end: int, replacement: str) -> Parsed:
        """This text with [start, end) (code points) replaced, parsed incrementally from
        this tree: a one-line change costs a fraction of a full parse."""
        text = self.text[:start] + replacement + self.text[end:]
        if self.tree is None or self.language is None:
            return Parsed(text, text.encode("utf-8", "surrogatepass"), None, self.language)
        source = text.encode("utf-8", "surrogatepass")
        start_byte, old_end_byte = self.byte_offset(start), self.byte_offset(end)
        new_end_byte = start_byte + len(replacement.encode("utf-8", "surrogatepass"))
        tree = self.tree.copy()
        tree.edit(
            start_byte=start_byte, old_end_byte=old_end_byte, new_end_byte=new_end_byte,
            start_point=self._point(self.source, start_byte), old_end_point=self._point(self.source, old_end_byte),
            new_end_point=self._point(source, new_end_byte),
        )
        return Parsed(text, source, self.language.parser().parse(source, tree), self.language)

    def updated(self, text: str) -> Parsed:
        """`text` parsed incrementally from this parse of an earlier version of it: only
        the span between their common start and common end is re-read."""
        start = longest(min(len(self.text), len(text)), lambda n: self.text[:n] == text[:n])
        room = min(len(self.text), len(text)) - start
        end = longest(room, lambda n: self.text[len(self.text) - n :] == text[len(text) - n :])
        return self.edited(start, len(self.text) - end, text[start : len(text) - end])

    @staticmethod
    def _point(source: bytes, byte: int) -> Point:
        row = source.count(b"\n", 0, byte)
        return Point(row, byte - (source.rfind(b"\n", 0, byte) + 1))

    def byte_offset(self, offset: int) -> int:
        """The UTF-8 byte offset of a code-point offset."""
        if self.text.isascii():
            return offset
        return len(self.text[:offset].encode("utf-8", "surrogatepass"))

    def char_offset(self, byte: int) -> int:
        """The code-point offset of a UTF-8 byte offset."""
        if self.text.isascii():
            return byte
        return len(self.source[:byte].decode("utf-8", "replace"))

    def node_text(self, node: Node) -> str:
        return self.slice(node.start_byte, node.end_byte)

    def slice(self, start: int, end: int) -> str:
        """The text between two byte offsets."""
        return self.source[start:end].decode("utf-8", "replace")

    def line_start_byte(self, byte: int) -> int:
        return self.source.rfind(b"\n", 0, byte) + 1
