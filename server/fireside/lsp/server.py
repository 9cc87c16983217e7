"""`fireside lsp`: the language server object and the features it registers.

One server object holds the session's state: settings, the daemon client, the inline
completer, the cascade for checked edits, chat histories, the workspace index and
recent edits. Each LSP method has its own small module (`document_sync`,
`inline_completion`, `completion`, `configuration`, `completion_feedback`,
`code_actions`, `commands`, `chat`); `create_server` wires them up. Document sync stays
cheap and runs on the event loop in order; completion works on a snapshot, its heavy
parts (context selection) on a worker thread and the model in the daemon.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from fireside import __version__
from fireside.cascade.escalation import Escalation
from fireside.cascade.ledger import Ledger, Prices
from fireside.cascade.policy import CloudPolicy
from fireside.config import Paths
from fireside.context.parse_cache import ParseCache
from fireside.context.prompt import Sources
from fireside.context.recent_edits import RecentEdits
from fireside.context.workspace_index import WorkspaceIndex
from fireside.lsp.chat import Conversations
from fireside.lsp.daemon_client import DaemonClient, DaemonError, DaemonOffline
from fireside.lsp.inline_completer import InlineCompleter, Snapshot
from fireside.lsp.settings import Settings, parse_settings
from fireside.lsp.status import StatusReporter

log = logging.getLogger(__name__)


class FiresideServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("fireside", __version__)
        self.settings = Settings()
        self.status = StatusReporter(self.protocol.notify)
        self.completer = InlineCompleter(self._daemon_client(self.settings), self.status, self.sources)
        self.escalation = Escalation(lambda body: self.daemon.chat(body), self._prices, Ledger(Paths.from_env().ledger))
        self.conversations = Conversations()
        self.local_edits: dict[str, dict[str, Any]] = {}  # uri -> the last code action answered locally, for "retry with cloud"
        self.edits = RecentEdits()
        self.parse_cache = ParseCache()  # parses kept between keystrokes
        self.index: WorkspaceIndex | None = None
        self._shown_errors: set[str] = set()
        self._indexing: asyncio.Task[None] | None = None

    @property
    def daemon(self) -> DaemonClient:
        return self.completer.daemon

    async def _prices(self, model: str) -> Prices:
        return (await self.daemon.model(model)).prices

    def cloud_policy(self) -> CloudPolicy:
        options = self.settings.cascade
        return CloudPolicy(options.cloud_model, options.never_send, self.settings.daemon_settings().offline)

    def root(self) -> Path:
        """The workspace root; checks run on a copy of it."""
        root = self.workspace.root_path
        if not root:
            raise DaemonError("open a folder: checked edits need a workspace")
        return Path(root)

    def uri_of(self, path: str) -> str:
        """The URI of a workspace-relative path."""
        return from_fs_path(str(self.root() / path)) or path

    def exists(self, path: str) -> bool:
        return (self.root() / path).is_file()

    def document_text(self, path: str) -> str | None:
        """A workspace file's text: the editor's if it is open, else the disk's."""
        uri = self.uri_of(path)
        if uri in self.workspace.text_documents:
            return self.workspace.text_documents[uri].source
        try:
            return (self.root() / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def _daemon_client(self, settings: Settings) -> DaemonClient:
        return DaemonClient(settings.daemon_settings(), settings.daemon.start, Paths.from_env().cache_dir / "daemon.log")

    def apply_settings(self, raw: Any) -> None:
        """New settings from the client; each invalid key is reported and its default used."""
        settings, errors = parse_settings(raw)
        for error in errors:
            self.show(f"Fireside: invalid setting {error}; using the default", types.MessageType.Warning)
        if settings.daemon != self.settings.daemon:
            old = self.completer.daemon
            self.completer.daemon = self._daemon_client(settings)
            asyncio.get_running_loop().create_task(old.close())
        self.settings = settings

    def show(self, message: str, kind: types.MessageType = types.MessageType.Error, once: bool = True) -> None:
        """A message for the user; by default once: completion runs on every keystroke, and
        the same failure must not pop up again each time (an action's outcome may)."""
        if once and message in self._shown_errors:
            return
        self._shown_errors.add(message)
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def path_of(self, uri: str) -> str:
        """The document's path as prompts show it: relative to the workspace root."""
        path = to_fs_path(uri) or uri
        root = self.workspace.root_path
        if root and path.startswith(root.rstrip(os.sep) + os.sep):
            return os.path.relpath(path, root)
        return path

    def sources(self) -> Sources:
        """What context may come from, as of now: open documents, the index, recent edits."""
        documents = {self.path_of(uri): doc.source for uri, doc in self.workspace.text_documents.items()}
        return Sources(open_documents=documents, index=self.index if self.index and self.index.ready else None, recent=self.edits, cache=self.parse_cache)

    def snapshot(self, uri: str, position: types.Position) -> Snapshot | None:
        """The document at the cursor, or None where completion is off for it."""
        document = self.workspace.get_text_document(uri)
        path = self.path_of(uri)
        if not self.settings.completion.allows(document.language_id, path):
            return None
        return Snapshot(uri, path, document.language_id, document.source, document.offset_at_position(position))

    async def suggest(self, snapshot: Snapshot, invoked: bool) -> str | None:
        """The completer's suggestion; failures become a status (and a message, once)."""
        try:
            return await self.completer.complete(snapshot, self.settings, invoked)
        except DaemonError as e:
            self.daemon_failed(e)
        return None

    def daemon_failed(self, error: DaemonError) -> None:
        """Offline or refused: the status bar says so, and a message says why, once."""
        if isinstance(error, DaemonOffline):
            self.status.offline(str(error))
        else:
            self.status.error(str(error))
        self.show(f"Fireside: {error}")

    def start_indexing(self) -> None:
        root = self.workspace.root_path
        if root is None or self._indexing is not None:
            return
        self.index = WorkspaceIndex(Path(root))
        self._indexing = asyncio.get_running_loop().create_task(asyncio.to_thread(self.index.build))

    async def close(self) -> None:
        await self.completer.close()
        await self.completer.daemon.close()


def create_server() -> FiresideServer:
    # Imported here: each handler module registers one method on the given server.
    from fireside.lsp import chat, code_actions, commands, completion, completion_feedback, configuration, document_sync, inline_completion

    server = FiresideServer()
    for module in (configuration, document_sync, inline_completion, completion, completion_feedback, code_actions, commands, chat):
        module.register(server)
    return server


def main(tcp_port: int | None = None, log_file: str | None = None, log_level: str = "info") -> int:
    """Serve one editor session. Logs go to standard error (stdout is the protocol), or
    to `log_file`; at debug level they say what each prompt's context holds and why."""
    logging.basicConfig(filename=log_file, level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if log_level != "debug":
        # pygls logs every message at info, documents' text included: users' code stays out of logs.
        logging.getLogger("pygls").setLevel(logging.WARNING)
    server = create_server()
    if tcp_port is not None:
        server.start_tcp("127.0.0.1", tcp_port)
    else:
        server.start_io()
    return 0
