"""`textDocument/completion`: the same suggestion as one item in the completion menu,
for clients without inline completion."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from fireside.lsp.typed_word import typed_word

if TYPE_CHECKING:
    from fireside.lsp.server import FiresideServer


async def completion(ls: FiresideServer, params: types.CompletionParams) -> types.CompletionList | None:
    snapshot = ls.snapshot(params.text_document.uri, params.position)
    if snapshot is None:
        return None
    invoked = params.context is None or params.context.trigger_kind == types.CompletionTriggerKind.Invoked
    text = await ls.suggest(snapshot, invoked)
    if not text:
        return types.CompletionList(is_incomplete=True, items=[])
    word, replaced = typed_word(ls.workspace.get_text_document(snapshot.uri), params.position, snapshot.offset)
    first_line = (word + text).strip().splitlines()[0]
    item = types.CompletionItem(
        label=first_line if len(first_line) <= 60 else first_line[:57] + "...",
        kind=types.CompletionItemKind.Text,
        detail="Fireside",
        documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=f"```\n{word + text}\n```"),
        filter_text=word + text,
        sort_text="0",
        text_edit=types.TextEdit(range=replaced, new_text=word + text),
        insert_text_format=types.InsertTextFormat.PlainText,
    )
    # Incomplete: the next keystroke asks again, and the cache answers it at once.
    return types.CompletionList(is_incomplete=True, items=[item])


def register(ls: FiresideServer) -> None:
    ls.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[".", "(", " "]))(completion)
