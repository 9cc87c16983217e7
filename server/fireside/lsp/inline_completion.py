"""`textDocument/inlineCompletion` (LSP 3.18): ghost text at the cursor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from fireside.lsp.typed_word import typed_word

if TYPE_CHECKING:
    from fireside.lsp.server import FiresideServer


async def inline_completion(ls: FiresideServer, params: types.InlineCompletionParams) -> types.InlineCompletionList | None:
    snapshot = ls.snapshot(params.text_document.uri, params.position)
    if snapshot is None:
        return None
    invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
    text = await ls.suggest(snapshot, invoked)
    if not text:
        return types.InlineCompletionList(items=[])
    word, replaced = typed_word(ls.workspace.get_text_document(snapshot.uri), params.position, snapshot.offset)
    return types.InlineCompletionList(items=[types.InlineCompletionItem(insert_text=word + text, range=replaced)])


def register(ls: FiresideServer) -> None:
    # pygls advertises the capability only when registered with options.
    ls.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())(inline_completion)
