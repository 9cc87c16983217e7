"""Document sync: pygls keeps the text (incremental changes); this keeps what completion
needs to know about edits. Cheap, and in order on the event loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from fireside.lsp.server import FiresideServer


def did_change(ls: FiresideServer, params: types.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    document = ls.workspace.get_text_document(uri)
    ls.completer.document_changed(uri, document.source)
    for change in params.content_changes:
        if isinstance(change, types.TextDocumentContentChangePartial):
            ls.edits.record(ls.path_of(uri), document.source, change.range.start.line)


def did_save(ls: FiresideServer, params: types.DidSaveTextDocumentParams) -> None:
    if ls.index is not None:
        ls.index.update(ls.path_of(params.text_document.uri), ls.workspace.get_text_document(params.text_document.uri).source)


def did_close(ls: FiresideServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.completer.document_closed(params.text_document.uri)


def register(ls: FiresideServer) -> None:
    ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)(did_change)
    ls.feature(types.TEXT_DOCUMENT_DID_SAVE)(did_save)
    ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)(did_close)
