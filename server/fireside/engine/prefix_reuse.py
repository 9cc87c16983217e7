"""Which sequence slot a new request should use, and how much KV cache it can reuse.

With a unified KV cache, `llama_memory_seq_cp` makes another sequence's cells visible
to the new one without copying, so a new request reuses the longest prefix held by any
slot: its own slot's (trimmed in place) or a busy slot's (shared). Pure logic, no llama.cpp.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    # Compare in blocks first: prompts of thousands of tokens are common.
    step = 256
    while i + step <= n and a[i : i + step] == b[i : i + step]:
        i += step
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass(frozen=True)
class SlotView:
    seq_id: int
    cached: Sequence[int]
    busy: bool
    last_used: float


@dataclass(frozen=True)
class ReusePlan:
    """Run the request on `target`; keep `n_reuse` cached tokens, taken from `source`
    (another sequence, shared by seq_cp) or, when `source` is None, from `target` itself."""

    target: int
    source: int | None
    n_reuse: int


def plan_reuse(prompt: Sequence[int], slots: Sequence[SlotView]) -> ReusePlan | None:
    """Pick a free slot for `prompt`, or None when every slot is busy.

    At least one prompt token is always left to evaluate: its logits start generation.
    """
    free = [s for s in slots if not s.busy]
    if not free:
        return None
    limit = max(0, len(prompt) - 1)
    matches = {s.seq_id: min(common_prefix(s.cached, prompt), limit) for s in slots}
    own = max(free, key=lambda s: (matches[s.seq_id], -s.last_used))
    donor = max(slots, key=lambda s: matches[s.seq_id])
    if matches[donor.seq_id] > matches[own.seq_id]:
        # Another slot holds more of the prompt: overwrite the free slot whose cache is
        # worth least (least recently used) and share the donor's cells.
        target = min(free, key=lambda s: (matches[s.seq_id], s.last_used))
        return ReusePlan(target=target.seq_id, source=donor.seq_id, n_reuse=matches[donor.seq_id])
    if matches[own.seq_id] == 0:
        own = min(free, key=lambda s: s.last_used)
    return ReusePlan(target=own.seq_id, source=None, n_reuse=matches[own.seq_id])
