"""Regions the user edited lately: what they are working on is likely what the code at
the cursor needs to know about, even in another file."""

from __future__ import annotations

from dataclasses import dataclass

from fireside.context.snippet import Snippet


@dataclass(frozen=True)
class _Region:
    path: str
    first: int  # 0-based lines, inclusive
    last: int
    text: str


class RecentEdits:
    """Regions the user edited lately, newest first: what they are working on is likely relevant.

    `record` runs on the event loop and `regions` in the completion's worker thread: the
    tuple of regions is replaced whole, never changed in place.
    """

    def __init__(self, capacity: int = 8, radius: int = 3) -> None:
        self.capacity = capacity
        self.radius = radius
        self._regions: tuple[_Region, ...] = ()

    def record(self, path: str, text: str, line: int) -> None:
        """An edit at `line` (0-based) of `path`, whose text is now `text`: remember the lines
        around it, merged with a region of the same file it overlaps or touches. A merged
        region grows to at most twice the edit's own span, kept around the newest edit."""
        first, last = max(0, line - self.radius), line + self.radius
        kept = []
        for region in self._regions:
            if region.path == path and region.first <= last + 1 and first <= region.last + 1:
                first, last = min(first, region.first), max(last, region.last)
            else:
                kept.append(region)
        span = 4 * self.radius + 1
        if last - first + 1 > span:
            first = max(first, line - span // 2)
            last = min(last, first + span - 1)
        lines = text.split("\n")
        last = min(last, len(lines) - 1)
        self._regions = (_Region(path, first, last, "\n".join(lines[first : last + 1])), *kept)[: self.capacity]

    def regions(self, exclude: str | None = None) -> list[Snippet]:
        """The regions, newest first, but those of `exclude` (the current file, whose
        nearest code is in the prompt already) and blank ones."""
        return [
            Snippet(r.path, r.text, f"recent edit, lines {r.first + 1}-{r.last + 1}", r.first)
            for r in self._regions
            if r.path != exclude and r.text.strip()
        ]
