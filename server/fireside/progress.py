"""Ollama-style pull and create progress on a terminal: a bar per transfer (from the
NDJSON statuses that carry `total` and `completed`), a line for every other status."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn, TransferSpeedColumn


def show_progress(statuses: Iterable[dict[str, Any]]) -> None:
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    bars: dict[str, TaskID] = {}
    with Progress(*columns, console=console, transient=False) as progress:
        for status in statuses:
            text = str(status.get("status", ""))
            if status.get("total"):
                if text not in bars:
                    bars[text] = progress.add_task(text, total=status["total"])
                progress.update(bars[text], completed=status.get("completed", 0), total=status["total"])
            elif text:
                progress.console.print(text, markup=False, highlight=False)
