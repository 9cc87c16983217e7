"""How long to wait after a keystroke before asking the model: the debounce.

A request sent in the middle of a burst of typing is wasted work: the next key makes it
stale, and on a slow machine its cancelled prompt step still delays the request that
matters. One sent long after the user paused feels slow. So the wait follows the user's
own pace, a little more than their usual gap between keys (a gap that long is a pause),
and the model's: when it answers within the user's usual gap, there is nothing to save
by waiting longer than the configured debounce.
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

    def delay(self, debounce: float, adaptive: bool, answer_time: float | None) -> float:
        """Seconds to wait: `debounce` until the pace is known; then 1.5x the median gap
        between keys, between half and four times `debounce`, and no more than
        `debounce` when the model's usual `answer_time` is shorter than that gap."""
        if not adaptive or len(self._gaps) < 3:
            return debounce
        gap = statistics.median(self._gaps)
        wait = min(4 * debounce, max(debounce / 2, 1.5 * gap))
        if answer_time is not None and answer_time < gap:
            wait = min(wait, debounce)
        return wait
