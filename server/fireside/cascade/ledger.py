"""The escalation ledger: one JSON line per checked edit task, in the state directory.

Every task is recorded, escalated or not, so that `fireside ledger` can say what share
was resolved locally, which checks sent tasks to the cloud, and what the cloud cost
against sending everything there. Paths are relative to the workspace; no code is kept.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Prices:
    """US dollars per million tokens."""

    input: float = 0.0
    output: float = 0.0

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input + tokens_out * self.output) / 1e6


@dataclass
class LedgerEntry:
    time: str
    action: str
    path: str
    local_model: str
    local_tokens_in: int = 0
    local_tokens_out: int = 0
    local_seconds: float = 0.0
    escalated: bool = False
    signal: dict[str, str] = field(default_factory=dict)  # {"check": name, "excerpt": output} or {"check": "user rejected the local edit"}
    cloud_model: str | None = None
    cloud_tokens_in: int = 0
    cloud_tokens_out: int = 0
    cloud_seconds: float = 0.0
    cost_usd: float = 0.0  # the cloud's marginal cost, from the configured prices
    all_cloud_usd: float = 0.0  # what the task would have cost had it gone to the cloud model directly
    outcome: str = ""  # local, cloud, cloud-failed, local-failed, blocked, cancelled
    blocked: str | None = None  # why the cloud was not asked, when it was not


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, entry: LedgerEntry) -> None:
        """One line, written with a single append so concurrent writers never interleave."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(asdict(entry), separators=(",", ":")) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def entries(self) -> Iterator[dict[str, Any]]:
        """The recorded entries; a damaged line (a crash mid-write) is skipped."""
        if not self.path.is_file():
            return
        with self.path.open(encoding="utf-8") as f:
            for line in f:
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(item, dict):
                    yield item


@dataclass(frozen=True)
class Summary:
    tasks: int
    resolved_locally: int
    escalated: int
    by_signal: dict[str, int]
    outcomes: dict[str, int]
    spent_usd: float
    all_cloud_usd: float


def summarize(entries: Iterable[dict[str, Any]]) -> Summary:
    tasks = local = escalated = 0
    signals: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    spent = all_cloud = 0.0
    for e in entries:
        tasks += 1
        local += e.get("outcome") == "local"
        outcomes[str(e.get("outcome", "?"))] += 1
        if e.get("escalated"):
            escalated += 1
            signals[str((e.get("signal") or {}).get("check", "?"))] += 1
        spent += float(e.get("cost_usd", 0.0))
        all_cloud += float(e.get("all_cloud_usd", 0.0))
    return Summary(tasks, local, escalated, dict(signals.most_common()), dict(outcomes.most_common()), spent, all_cloud)
