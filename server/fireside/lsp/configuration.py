"""The session: `initialize`, `initialized`, `workspace/didChangeConfiguration`, `shutdown`."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lsprotocol import types

from fireside.lsp.daemon_client import DaemonError

if TYPE_CHECKING:
    from fireside.lsp.server import FiresideServer


def initialize(ls: FiresideServer, params: types.InitializeParams) -> None:
    ls.apply_settings(params.initialization_options)


async def initialized(ls: FiresideServer, params: types.InitializedParams) -> None:
    """Index the workspace in the background, and get the daemon and the completion
    model ready now, so that the first keystroke does not wait for either."""
    ls.start_indexing()
    await warm_up(ls)


async def warm_up(ls: FiresideServer) -> None:
    daemon = ls.completer.daemon
    try:
        await daemon.ensure_running()
        await daemon.model(ls.settings.models.completion)
    except DaemonError as e:
        ls.daemon_failed(e)


async def did_change_configuration(ls: FiresideServer, params: types.DidChangeConfigurationParams) -> None:
    before = ls.settings
    ls.apply_settings(params.settings)
    if ls.settings.daemon != before.daemon or ls.settings.models != before.models:
        await asyncio.shield(warm_up(ls))


async def shutdown(ls: FiresideServer, params: None) -> None:
    await ls.close()


def register(ls: FiresideServer) -> None:
    ls.feature(types.SHUTDOWN)(shutdown)
    ls.feature(types.INITIALIZE)(initialize)
    ls.feature(types.INITIALIZED)(initialized)
    ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(did_change_configuration)
