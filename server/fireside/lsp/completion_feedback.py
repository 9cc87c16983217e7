"""What the editor tells us about suggestions, Copilot-style, and what we tell it back.

`textDocument/didShowCompletion` and `textDocument/didPartiallyAcceptCompletion` are
optional notifications (Copilot's language server defines them); `fireside/stats`
answers where suggestions came from: the model, the cache or a prefetch.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fireside.lsp.server import FiresideServer

log = logging.getLogger(__name__)


def _field(params: Any, name: str) -> Any:
    return params.get(name) if isinstance(params, dict) else getattr(params, name, None)


def did_show(ls: FiresideServer, params: Any) -> None:
    ls.completer.stats.shown += 1
    log.debug("shown: %r", _field(_field(params, "item"), "insertText"))


def did_partially_accept(ls: FiresideServer, params: Any) -> None:
    accepted = _field(params, "acceptedLength")
    if isinstance(accepted, int) and accepted > 0:
        ls.completer.stats.accepted_chars += accepted


def stats(ls: FiresideServer, params: Any) -> dict[str, int]:
    return dataclasses.asdict(ls.completer.stats)


def register(ls: FiresideServer) -> None:
    ls.feature("textDocument/didShowCompletion")(did_show)
    ls.feature("textDocument/didPartiallyAcceptCompletion")(did_partially_accept)
    ls.feature("fireside/stats")(stats)
