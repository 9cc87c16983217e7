"""Token accounting for one prompt: what is left, what each piece costs, and a log of what
was chosen or left out and why.

Counting is the caller's (a tokenizer may be slow-ish), so text is counted in pieces, and
a file's lines in fixed chunks of `CHUNK` lines that are counted once per prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import accumulate

from fireside.context.bisection import longest
from fireside.context.snippet import Snippet

CountTokens = Callable[[str], int]

CHUNK = 16  # lines: windows of the file start on multiples of this where they can
# Text beyond budget × this many characters is not even counted: code averages 3 to 4
# characters a token, so it could not fit.
_MOST_CHARS_PER_TOKEN = 16


class Budget:
    """The tokens left, and the decisions taken: every choice is recorded, so that what a
    prompt lacks can be explained."""

    def __init__(self, tokens: int, count: CountTokens) -> None:
        self.left = tokens
        self.count = count
        self.decisions: list[str] = []

    def take(self, cost: int, what: str) -> bool:
        """Spend `cost` tokens on `what` if they are left; record the choice either way."""
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
        self.decisions.append(decision)


class Lines:
    """Whole lines of a document, and what ranges of them cost."""

    def __init__(self, text: str, count: CountTokens) -> None:
        # Each with its "\n": `text` ends with one. Only "\n" ends a line here; LSP's
        # other line breaks are rare enough to stay inside lines.
        self.lines = [line + "\n" for line in text.split("\n")[:-1]]
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
    kept = longest(len(text), lambda n: count(text[len(text) - n :]) <= budget)
    return text[len(text) - kept :]


def fit_head(text: str, budget: int, count: CountTokens) -> str:
    """The longest start of `text` within `budget` tokens."""
    return text[: longest(len(text), lambda n: count(text[:n]) <= budget)]


def head_lines(text: str, budget: int, count: CountTokens) -> str:
    """The most whole lines from the start of `text` within `budget` tokens, counted as one
    text (exact for any tokenizer); the first line cut if it alone is over."""
    lines = text[: budget * _MOST_CHARS_PER_TOKEN].split("\n")
    if len(lines) > 1 and len(text) > budget * _MOST_CHARS_PER_TOKEN:
        lines.pop()  # cut by the slice above: not a whole line
    ends = list(accumulate(len(line) + 1 for line in lines))  # where each line's newline is, plus one
    kept = longest(len(ends), lambda n: n == 0 or count(text[: ends[n - 1] - 1]) <= budget)
    return text[: ends[kept - 1] - 1] if kept else fit_head(lines[0], budget, count)


def tail_lines(text: str, budget: int, count: CountTokens) -> str:
    """The most whole lines from the end of `text` within `budget` tokens (the last line
    cut from its start if it alone is over)."""
    return head_lines(text[::-1], budget, lambda piece: count(piece[::-1]))[::-1]


def fit_whole(prefix: str, suffix: str, snippets: tuple[Snippet, ...], budget_tokens: int, budget: Budget) -> tuple[str, str, tuple[Snippet, ...]]:
    """The pieces were counted one by one, and a real tokenizer may count them a little
    higher together. Check the whole; if over, leave out the last snippets, then lines
    from the top of the prefix, until it fits."""
    count = budget.count
    snippet_costs = [count(s.text) for s in snippets]
    while True:
        over = count(prefix) + count(suffix) + sum(snippet_costs) - budget_tokens
        if over <= 0:
            return prefix, suffix, snippets
        if snippets:
            dropped, snippets, snippet_costs = snippets[-1], snippets[:-1], snippet_costs[:-1]
            budget.note(f"left out the {dropped.reason} ({dropped.path}): the whole counted {over} tokens over")
        elif "\n" in prefix:
            budget.note(f"left out the prefix's first line: the whole counted {over} tokens over")
            prefix = prefix[prefix.index("\n") + 1 :]
        else:
            budget.note(f"cut the cursor's line and the suffix: the whole counted {over} tokens over")
            prefix = fit_tail(prefix, max(0, budget_tokens - count(suffix)), count)
            return prefix, fit_head(suffix, budget_tokens - count(prefix), count), snippets
