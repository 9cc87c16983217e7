"""A real `fireside lsp` over stdio, driven by pygls' own LanguageClient, as editors do."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path


@dataclass
class LspSession:
    client: LanguageClient
    root: Path
    log_path: Path
    messages: list[types.ShowMessageParams] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    progress: list[tuple[Any, Any]] = field(default_factory=list)  # $/progress (token, value), in order

    def open(self, name: str, text: str, language_id: str = "python") -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        uri = from_fs_path(str(path))
        assert uri is not None
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(uri=uri, language_id=language_id, version=1, text=text)))
        return uri

    def insert(self, uri: str, version: int, at: types.Position, text: str) -> None:
        """A keystroke: an incremental change, as editors send them."""
        change = types.TextDocumentContentChangePartial(range=types.Range(start=at, end=at), text=text)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version), content_changes=[change])
        )

    async def inline(self, uri: str, at: types.Position, invoked: bool = True) -> types.InlineCompletionList | None:
        result = await self.request_inline(uri, at, invoked)[1]
        assert result is None or isinstance(result, types.InlineCompletionList)
        return result

    def request_inline(self, uri: str, at: types.Position, invoked: bool) -> tuple[str, asyncio.Future[Any]]:
        """An inline completion request left running: its id (for `cancel`) and its answer."""
        kind = types.InlineCompletionTriggerKind.Invoked if invoked else types.InlineCompletionTriggerKind.Automatic
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=at, context=types.InlineCompletionContext(trigger_kind=kind)
        )
        msg_id = str(uuid.uuid4())
        return msg_id, self.client.protocol.send_request_async(types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=msg_id)

    def request(self, method: str, params: Any) -> tuple[str, asyncio.Future[Any]]:
        """Any request left running: its id (for `cancel`) and its answer."""
        msg_id = str(uuid.uuid4())
        return msg_id, self.client.protocol.send_request_async(method, params, msg_id=msg_id)

    def cancel(self, msg_id: str) -> None:
        """`$/cancelRequest`, as editors send when the user typed on."""
        self.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))

    async def stats(self) -> dict[str, int]:
        result = await self.client.protocol.send_request_async("fireside/stats", {})
        return {k: getattr(result, k) for k in result._fields} if hasattr(result, "_fields") else dict(result)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@asynccontextmanager
async def lsp_session(root: Path, options: dict[str, Any], env: dict[str, str] | None = None, log_level: str = "debug") -> AsyncIterator[LspSession]:
    """Start `fireside lsp`, initialize it with `options`, shut it down at the end (its log
    beside `root`; benchmarks lower `log_level`, as debug logging costs time)."""
    root.mkdir(parents=True, exist_ok=True)
    log_path = root.parent / f"{root.name}-lsp.log"
    client = LanguageClient("fireside-tests", "1")
    session = LspSession(client, root, log_path)

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def show_message(params: types.ShowMessageParams) -> None:
        session.messages.append(params)

    @client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
    def create_progress(params: types.WorkDoneProgressCreateParams) -> None:
        return None

    @client.feature(types.PROGRESS)
    def progress(params: types.ProgressParams) -> None:
        session.progress.append((params.token, params.value))

    @client.feature("$/fireside/status")
    def status(params: Any) -> None:
        session.statuses.append({"state": params.state, "message": params.message} if hasattr(params, "state") else dict(params))

    await client.start_io(sys.executable, "-m", "fireside", "lsp", "--log-file", str(log_path), "--log-level", log_level, env=env)
    try:
        capabilities = types.ClientCapabilities(
            text_document=types.TextDocumentClientCapabilities(inline_completion=types.InlineCompletionClientCapabilities()),
            general=types.GeneralClientCapabilities(position_encodings=[types.PositionEncodingKind.Utf16]),
            window=types.WindowClientCapabilities(work_done_progress=True),
        )
        result = await client.initialize_async(
            types.InitializeParams(capabilities=capabilities, root_uri=from_fs_path(str(root)), initialization_options=options, process_id=None)
        )
        assert result.capabilities.inline_completion_provider is not None
        client.initialized(types.InitializedParams())
        yield session
    finally:
        try:
            await asyncio.wait_for(client.shutdown_async(None), 10)
            client.exit(None)
        finally:
            await asyncio.wait_for(client.stop(), 20)
