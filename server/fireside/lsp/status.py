"""`$/fireside/status`: a notification editors show in their status bar.

States: `idle`, `busy` (a completion is being computed), `error` (the last request
failed: the message says why) and `offline` (no daemon answers). Sent only on change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

METHOD = "$/fireside/status"


class StatusReporter:
    def __init__(self, notify: Callable[[str, Any], None]) -> None:
        self._notify = notify
        self._running = 0
        self._last: tuple[str, str] | None = None

    def _send(self, state: str, message: str = "") -> None:
        if (state, message) != self._last:
            self._last = (state, message)
            self._notify(METHOD, {"state": state, "message": message})

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Busy while any completion runs; idle after the last one, unless it failed."""
        self._running += 1
        self._send("busy")
        try:
            yield
        finally:
            self._running -= 1
            if self._running == 0 and self._last is not None and self._last[0] == "busy":
                self._send("idle")

    def error(self, message: str) -> None:
        self._send("error", message)

    def offline(self, message: str) -> None:
        self._send("offline", message)
