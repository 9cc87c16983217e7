"""Server-initiated `$/progress` for long work (a checked edit, an explanation), which the
user can cancel from the editor's progress UI (`window/workDoneProgress/cancel`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from fireside.lsp.server import FiresideServer


@asynccontextmanager
async def work_progress(ls: FiresideServer, title: str) -> AsyncIterator[Callable[[str], None]]:
    """Yield a `report(message)`; the work inside is cancelled if the user cancels it.
    Without the client's support for server-initiated progress, reports go nowhere."""
    window = ls.client_capabilities.window
    if window is None or not window.work_done_progress:
        yield lambda _message: None
        return
    token = f"fireside-{uuid.uuid4().hex[:12]}"
    progress = ls.work_done_progress
    await progress.create_async(token)
    progress.begin(token, types.WorkDoneProgressBegin(title=title, cancellable=True))
    task = asyncio.current_task()
    cancelled = progress.tokens[token]  # a concurrent future: pygls cancels it on the client's cancel
    loop = asyncio.get_running_loop()
    cancelled.add_done_callback(lambda f: f.cancelled() and task is not None and loop.call_soon_threadsafe(task.cancel))
    try:
        yield lambda message: progress.report(token, types.WorkDoneProgressReport(message=message))
    finally:
        progress.end(token, types.WorkDoneProgressEnd())
        with suppress(Exception):
            cancelled.set_result(None)
        progress.tokens.pop(token, None)
