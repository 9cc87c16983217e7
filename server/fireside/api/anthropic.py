"""Anthropic's Messages API, `/v1/messages`, translated to and from `AnswerRequest`, so the
official SDK and the tools built on it can use the daemon's models.

Content blocks become OpenAI-shaped messages: an assistant's `tool_use` blocks its
`tool_calls`, a user's `tool_result` blocks `tool` messages. Only text is read.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from fireside.api import options as opt
from fireside.api.answers import AnswerRequest, Delta, Event, FinishReason
from fireside.api.daemon import DAEMON, record_for
from fireside.api.errors import HttpError
from fireside.api.streams import Frames, collect_answer, stream_answer
from fireside.api.tools import ToolCall, ToolPolicy, message_text
from fireside.engine import Stats
from fireside.engine.errors import InvalidRequest

# Which stop string ended an answer is not reported, so a stop is always "end_turn".
_STOP_REASON: dict[FinishReason, str] = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "cancel": "end_turn"}


def _usage(stats: Stats) -> dict[str, Any]:
    """Anthropic counts cache reads apart from `input_tokens`, which excludes them."""
    return {
        "input_tokens": stats.prompt_tokens - stats.cached_tokens,
        "output_tokens": stats.completion_tokens,
        "cache_read_input_tokens": stats.cached_tokens,
        "cache_creation_input_tokens": 0,
    }


def _system(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "system", "content": value}]
    if isinstance(value, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in value):
        return [{"role": "system", "content": "".join(str(b.get("text", "")) for b in value)}]
    raise InvalidRequest("system must be a string or a list of text blocks", param="system")


def _tool_call(block: dict[str, Any], index: int) -> dict[str, Any]:
    ident, name, arguments = block.get("id"), block.get("name"), block.get("input", {})
    if not isinstance(ident, str) or not isinstance(name, str) or not isinstance(arguments, dict):
        raise InvalidRequest(f"messages[{index}] has a tool_use block without a string id and name and an object input", param="messages")
    return {"id": ident, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}}


def _tool_result(block: dict[str, Any], index: int) -> dict[str, Any]:
    ident = block.get("tool_use_id")
    if not isinstance(ident, str):
        raise InvalidRequest(f"messages[{index}] has a tool_result block without a tool_use_id", param="messages")
    text = message_text(block.get("content"), index)
    return {"role": "tool", "tool_call_id": ident, "content": "Error: " + text if block.get("is_error") else text}


def _message(message: Any, index: int) -> list[dict[str, Any]]:
    """One Anthropic message as chat messages: a user's tool results come first, as
    `tool` messages answering the assistant's calls just before."""
    role = message.get("role") if isinstance(message, dict) else None
    if role not in ("user", "assistant"):
        raise InvalidRequest(f'messages[{index}].role must be "user" or "assistant"', param="messages")
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f"messages[{index}].content must be a string or a list of content blocks", param="messages")
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use" and role == "assistant":
            calls.append(_tool_call(block, index))
        elif kind == "tool_result" and role == "user":
            results.append(_tool_result(block, index))
        elif kind in ("thinking", "redacted_thinking") and role == "assistant":
            continue  # earlier reasoning is not shown to the model again
        elif kind in ("image", "document"):
            raise InvalidRequest(f"messages[{index}] has {kind} content, but this model only reads text", param="messages")
        else:
            raise InvalidRequest(f"messages[{index}] has a content block of type {kind!r}, which a {role} message cannot carry here", param="messages")
    text = "".join(texts)
    if calls:
        return [{"role": "assistant", "content": text, "tool_calls": calls}]
    return results + ([{"role": role, "content": text}] if text or not results else [])


def _tools(value: Any) -> Any:
    """Client tools pass through; Anthropic's server tools (web search, ...) do not exist here."""
    for i, tool in enumerate(value if isinstance(value, list) else []):
        if isinstance(tool, dict) and tool.get("type", "custom") != "custom":
            raise InvalidRequest(f'tools[{i}] is a {tool["type"]} tool; only custom tools with an input_schema are available here', param="tools")
    return value


def _output_format(config: Any) -> dict[str, Any] | None:
    """The JSON Schema `output_config.format` asks for (Anthropic's structured outputs)."""
    spec = config.get("format") if isinstance(config, dict) else None
    if spec is None:
        return None
    schema = spec.get("schema") if isinstance(spec, dict) and spec.get("type") == "json_schema" else None
    if not isinstance(schema, dict):
        raise InvalidRequest('output_config.format must be {"type": "json_schema", "schema": {...}}', param="output_config")
    return schema


def _answer_request(body: dict[str, Any], model: str) -> AnswerRequest:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list", param="messages")
    limit = opt.max_tokens(body.get("max_tokens"), "max_tokens")
    if limit is None:
        raise InvalidRequest("max_tokens is required (a positive integer)", param="max_tokens")
    thinking = body.get("thinking")
    return AnswerRequest(
        model=model,
        messages=tuple(_system(body.get("system")) + [m for i, message in enumerate(messages) for m in _message(message, i)]),
        sampling=opt.sampling({k: body.get(k) for k in ("temperature", "top_p", "top_k")}),
        max_tokens=limit,
        stop=opt.stop_strings(body.get("stop_sequences"), "stop_sequences"),
        json_schema=_output_format(body.get("output_config")),
        tools=ToolPolicy.parse(_tools(body.get("tools")), body.get("tool_choice")),
        think=isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"),
    )


def _tool_use(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}


async def messages(request: web.Request) -> web.StreamResponse:
    body = await opt.json_body(request)
    model = opt.model_name(body)
    answer = _answer_request(body, model)
    daemon = request.app[DAEMON]
    record = record_for(request, model)
    head = {"id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant", "model": model}
    if not body.get("stream"):
        content, reasoning, finish = await collect_answer(daemon.answer(answer), record)
        blocks: list[dict[str, Any]] = [{"type": "thinking", "thinking": reasoning, "signature": ""}] if reasoning else []
        if content:
            blocks.append({"type": "text", "text": content})
        blocks.extend(_tool_use(c) for c in finish.tool_calls)
        return web.json_response({**head, "content": blocks, "stop_reason": _STOP_REASON[finish.reason], "stop_sequence": None, "usage": _usage(finish.stats)})
    return await stream_answer(request, "sse", daemon.answer(answer), record, _Blocks(head).frames, _sse_error)


@dataclass
class _Blocks:
    """One streamed message: content blocks numbered in order, one open at a time."""

    head: dict[str, Any]
    started: bool = False
    index: int = -1
    open: str | None = None

    def frames(self, event: Event) -> Frames:
        out: Frames = []
        if not self.started:
            self.started = True
            message = {**self.head, "content": [], "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}
            out += [({"type": "message_start", "message": message}, "message_start"), ({"type": "ping"}, "ping")]
        if isinstance(event, Delta):
            if event.reasoning:
                out += self._switch("thinking", {"type": "thinking", "thinking": "", "signature": ""})
                out.append(self._delta({"type": "thinking_delta", "thinking": event.reasoning}))
            if event.content:
                out += self._switch("text", {"type": "text", "text": ""})
                out.append(self._delta({"type": "text_delta", "text": event.content}))
            return out
        out += self._close()
        for call in event.tool_calls:
            out += self._switch("tool_use", {**_tool_use(call), "input": {}})
            out.append(self._delta({"type": "input_json_delta", "partial_json": call.arguments_json}))
            out += self._close()
        delta = {"stop_reason": _STOP_REASON[event.reason], "stop_sequence": None}
        out.append(({"type": "message_delta", "delta": delta, "usage": _usage(event.stats)}, "message_delta"))
        out.append(({"type": "message_stop"}, "message_stop"))
        return out

    def _switch(self, kind: str, block: dict[str, Any]) -> Frames:
        """Start a block of this kind unless one is open already."""
        if self.open == kind:
            return []
        out = self._close()
        self.index, self.open = self.index + 1, kind
        out.append(({"type": "content_block_start", "index": self.index, "content_block": block}, "content_block_start"))
        return out

    def _delta(self, delta: dict[str, Any]) -> tuple[dict[str, Any], str]:
        return {"type": "content_block_delta", "index": self.index, "delta": delta}, "content_block_delta"

    def _close(self) -> Frames:
        if self.open is None:
            return []
        self.open = None
        return [({"type": "content_block_stop", "index": self.index}, "content_block_stop")]


def _sse_error(error: HttpError) -> Frames:
    return [(error.anthropic(), "error")]


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/messages", messages)
