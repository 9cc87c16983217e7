"""How many prompt tokens one decode step may evaluate.

The worker reads its inbox only between `llama_decode` calls, so one step is the longest a
cancel (a keystroke that made a completion stale) or a newly arrived request waits. A full
batch of 512 prompt tokens is a few milliseconds on a GPU but five seconds on two CPU
cores, where 64-token steps evaluate prompts just as fast (measured: 108 tokens/s at 64,
128 and 256 per step, 91 at 512). So steps are sized from the measured speed to last
about `target` seconds, never fewer than `floor` tokens, never more than the batch.
"""

from __future__ import annotations


class StepBudget:
    def __init__(self, capacity: int, target_s: float = 0.5, floor: int = 64) -> None:
        self.capacity = capacity
        self._target = target_s
        self._floor = min(floor, capacity)
        self._rate: float | None = None  # tokens per second, smoothed

    def prompt_room(self) -> int:
        """Prompt tokens the next step may take (until measured: the whole batch)."""
        if self._rate is None:
            return self.capacity
        return max(self._floor, min(self.capacity, int(self._rate * self._target)))

    def observe(self, tokens: int, seconds: float) -> None:
        """One decode of `tokens` took `seconds`. Steps of a few tokens say more about
        per-step overhead than about speed, so only steps of at least `floor` count."""
        if tokens < self._floor or seconds <= 0:
            return
        rate = tokens / seconds
        self._rate = rate if self._rate is None else 0.7 * self._rate + 0.3 * rate
