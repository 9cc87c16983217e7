"""How long to wait after a keystroke before asking the model: the debounce.

A request sent in the middle of a burst of typing is wasted work (its answer is stale a
moment later), and one sent long after the user paused feels slow. So the wait follows
the user's own pace: a little more than their usual gap between keys while they type
quickly, and short for someone who types slowly, for whom every gap is already a pause.
"""

from __future__ import annotations

import statistics
from collections import deque

# Gaps longer than this are pauses (reading, thinking), not typing speed.
_PAUSE = 1.5


class TypingPace:
    def __init__(self, window: int = 12) -> None:
        self._gaps: deque[float] = deque(maxlen=window)
        self._last: float | None = None

    def keystroke(self, now: float) -> None:
        if self._last is not None and 0 < now - self._last < _PAUSE:
            self._gaps.append(now - self._last)
        self._last = now

    def delay(self, longest: float, adaptive: bool) -> float:
        """Seconds to wait, at most `longest`: 1.5x the median gap between keys while
        that is shorter than `longest`, a quarter of `longest` for slower typists."""
        if not adaptive or len(self._gaps) < 3:
            return longest
        gap = statistics.median(self._gaps)
        return min(longest, 1.5 * gap) if gap < longest else longest / 4
