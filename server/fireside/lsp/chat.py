"""`fireside/chat`: a streamed conversation with a model about the user's code.

Params: `conversationId` (optional; the server keeps each conversation's history),
`messages` (the new turns), `context` (optional: `uri` with a `range` for the selection,
`file: true` for the whole file, `symbols: true` for definitions the context engine
finds for it), `model` (default: the chat model) and `partialResultToken`, to which the
answer streams as `$/progress` values `{"delta": text}`. The result is the whole answer.
Cancelling the request stops the model. A cloud model gets attached code only where
policy allows that file, with secrets redacted.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from fireside.cascade.redact import redact
from fireside.context.prompt import Document, build_context
from fireside.lsp.json_params import plain
from fireside.lsp.ranges import range_from_json

if TYPE_CHECKING:
    from fireside.lsp.server import FiresideServer

CHAT = "fireside/chat"
SYSTEM = "You are Fireside, a coding assistant inside the user's editor. Answer concisely; put code in fenced blocks."
_FILE_LIMIT = 24_000  # characters of an attached file
_SYMBOL_BUDGET = 1024  # tokens of related definitions


class Conversations:
    """Histories by id, the most recent `capacity` kept."""

    def __init__(self, capacity: int = 64) -> None:
        self._items: OrderedDict[str, list[dict[str, str]]] = OrderedDict()
        self._capacity = capacity

    def get(self, conversation_id: str) -> list[dict[str, str]]:
        history = self._items.pop(conversation_id, [])
        self._items[conversation_id] = history
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)
        return history


def _messages(params: dict[str, Any]) -> list[dict[str, str]]:
    raw = params.get("messages")
    if not isinstance(raw, list) or not raw or not all(
        isinstance(m, dict) and m.get("role") in ("user", "assistant", "system") and isinstance(m.get("content"), str) for m in raw
    ):
        raise JsonRpcInvalidParams('messages must be a non-empty list of {"role": "user"|"assistant"|"system", "content": text}')
    return [{"role": m["role"], "content": m["content"]} for m in raw]


async def attached_context(ls: FiresideServer, context: Any, cloud: bool) -> str:
    """The code the user attached, as text for the prompt ("" for none)."""
    if not isinstance(context, dict) or not isinstance(context.get("uri"), str):
        return ""
    uri = context["uri"]
    document = ls.workspace.get_text_document(uri)
    path = ls.path_of(uri)
    if cloud and (refusal := ls.cloud_policy().refusal(path)) is not None:
        raise JsonRpcInvalidParams(f"{path} is not sent to the cloud model: {refusal}")
    text = document.source
    parts = []
    offset = 0
    if context.get("range") is not None:
        start, end = (document.offset_at_position(p) for p in range_from_json(context["range"]))
        offset = start
        if end > start:
            parts.append(f"Selected in `{path}`:\n```{document.language_id or ''}\n{text[start:end]}\n```")
    if context.get("file"):
        parts.append(f"The file `{path}`:\n```{document.language_id or ''}\n{text[:_FILE_LIMIT]}\n```")
    if context.get("symbols"):
        found = build_context(Document(path, text, offset, document.language_id), ls.sources(), _SYMBOL_BUDGET, ls.completer.tokens.count)
        parts += [f"From `{s.path}`:\n```\n{s.text}\n```" for s in found.snippets]
    attached = "\n\n".join(parts)
    return redact(attached).text if cloud else attached


async def chat(ls: FiresideServer, params: Any) -> dict[str, Any]:
    params = plain(params)
    if not isinstance(params, dict):
        raise JsonRpcInvalidParams("params must be an object")
    new = _messages(params)
    model = params.get("model") or ls.settings.models.chat
    if not isinstance(model, str):
        raise JsonRpcInvalidParams("model must be a model name")
    conversation_id = str(params.get("conversationId") or uuid.uuid4().hex)
    history = ls.conversations.get(conversation_id)
    cloud = (await ls.daemon.model(model)).remote
    attached = await attached_context(ls, params.get("context"), cloud)
    if attached:
        new[-1] = {**new[-1], "content": f"{attached}\n\n{new[-1]['content']}"}
    if cloud:
        new = [{**m, "content": redact(m["content"]).text} for m in new]
    token = params.get("partialResultToken")
    pieces: list[str] = []
    body = {"model": model, "messages": [{"role": "system", "content": SYSTEM}, *history, *new]}
    async for item in ls.daemon.chat(body):
        piece = str((item.get("message") or {}).get("content") or "")
        if piece:
            pieces.append(piece)
            if token is not None:
                ls.protocol.notify(types.PROGRESS, types.ProgressParams(token=token, value={"delta": piece}))
    content = "".join(pieces)
    history.extend([*new, {"role": "assistant", "content": content}])
    return {"conversationId": conversation_id, "content": content, "model": model}


def register(ls: FiresideServer) -> None:
    ls.feature(CHAT)(chat)
