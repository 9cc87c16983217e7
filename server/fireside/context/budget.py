"""Token accounting for one prompt: what is left, what each piece costs, and a log of what
was chosen or left out and why.

Counting is the caller's (a tokenizer may be slow-ish), so text is counted in pieces, and
a file's lines in fixed chunks of `CHUNK` lines that are counted once per prompt.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

CountTokens = Callable[[str], int]

CHUNK = 16  # lines: windows of the file start on multiples of this where they can


class Budget:
    def __init__(self, tokens: int, count: CountTokens) -> None:
        self.left = tokens
        self.count = count
        self.decisions: list[str] = []

    def take(self, cost: int, what: str) -> bool:
        """Spend `cost` tokens on `what` if they are left; log the choice either way."""
        if cost > self.left:
            self.note(f"left out {what}: {cost} tokens, {self.left} left")
            return False
        self.left -= cost
        self.note(f"chose {what}: {cost} tokens")
        return True

    def give_back(self, cost: int, what: str) -> None:
        self.left += cost
        self.note(f"dropped {what}: now in the window ({cost} tokens back)")

    def note(self, decision: str) -> None:
        log.debug("%s", decision)
        self.decisions.append(decision)


class Lines:
    """A document's lines, each with its newline, and what ranges of them cost."""

    def __init__(self, lines: list[str], count: CountTokens) -> None:
        self.lines = lines
        self.count = count
        self._chunks: dict[int, int] = {}

    def text(self, start: int, end: int) -> str:
        return "".join(self.lines[start:end])

    def cost(self, start: int, end: int) -> int:
        """The tokens of lines [start, end): whole chunks from the memo, ragged ends counted."""
        total, line = 0, start
        while line < end:
            chunk_end = min(end, (line // CHUNK + 1) * CHUNK)
            if line % CHUNK == 0 and chunk_end - line == CHUNK:
                if line not in self._chunks:
                    self._chunks[line] = self.count(self.text(line, chunk_end))
                total += self._chunks[line]
            else:
                total += self.count(self.text(line, chunk_end))
            line = chunk_end
        return total


def fit_tail(text: str, budget: int, count: CountTokens) -> str:
    """The longest end of `text` within `budget` tokens (for a line too long to keep whole)."""
    kept = _longest(len(text), lambda n: count(text[len(text) - n :]) <= budget)
    return text[len(text) - kept :]


def fit_head(text: str, budget: int, count: CountTokens) -> str:
    """The longest start of `text` within `budget` tokens."""
    return text[: _longest(len(text), lambda n: count(text[:n]) <= budget)]



def _longest(size: int, fits: Callable[[int], bool]) -> int:
    """The largest n <= size that fits (if n fits, so does anything shorter); 0 if none."""
    return max(0, bisect.bisect_left(range(size + 1), True, key=lambda n: not fits(n)) - 1)
