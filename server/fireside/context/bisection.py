"""One search both the budget and the parser need: the most of something that still fits."""

from __future__ import annotations

import bisect
from collections.abc import Callable


def longest(size: int, holds: Callable[[int], bool]) -> int:
    """The largest n <= size for which `holds(n)`, where `holds` is true up to some n and
    false after it (0 if it never holds). Bisection: `holds` is called about log2(size)
    times, on slices a tokenizer or C's string comparison handles in one go."""
    return max(0, bisect.bisect_left(range(size + 1), True, key=lambda n: not holds(n)) - 1)
