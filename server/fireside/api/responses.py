"""OpenAI's Responses API, `/v1/responses`, stateless: every request carries its whole
conversation as `input` items, which become chat messages for an `AnswerRequest`.

Nothing is stored, so `store` is accepted and ignored, and a request that points at an
earlier response (`previous_response_id`, `conversation`) is refused.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from fireside.api import options as opt
from fireside.api.answers import AnswerRequest, Delta, Event, Finish
from fireside.api.daemon import DAEMON, record_for
from fireside.api.errors import HttpError
from fireside.api.streams import Frames, collect_answer, stream_answer
from fireside.api.tools import ToolCall, ToolPolicy, message_text
from fireside.engine import Stats
from fireside.engine.errors import InvalidRequest


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def _usage(stats: Stats) -> dict[str, Any]:
    return {
        "input_tokens": stats.prompt_tokens,
        "input_tokens_details": {"cached_tokens": stats.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": stats.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": stats.prompt_tokens + stats.completion_tokens,
    }


def _text(content: Any, index: int) -> str:
    """Text of an item's content (required here, unlike a chat message's)."""
    if content is None:
        raise InvalidRequest(f"input[{index}].content must be a string or a list of parts", param="input")
    return message_text(content, index, "input")


def _messages(value: Any, instructions: str | None) -> list[dict[str, Any]]:
    """Input items as chat messages; consecutive function calls join the assistant
    message before them, as one turn's `tool_calls`."""
    out: list[dict[str, Any]] = [{"role": "system", "content": instructions}] if instructions else []
    if isinstance(value, str):
        return [*out, {"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise InvalidRequest("input must be a string or a non-empty list of items", param="input")
    for i, item in enumerate(value):
        kind = item.get("type", "message") if isinstance(item, dict) else None
        if kind == "message":
            if item.get("role") not in ("user", "assistant", "system", "developer"):
                raise InvalidRequest(f'input[{i}].role must be "user", "assistant", "system" or "developer"', param="input")
            out.append({"role": item["role"], "content": _text(item.get("content"), i)})
        elif kind == "function_call":
            call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
            if not isinstance(call_id, str) or not isinstance(name, str) or not isinstance(arguments, str):
                raise InvalidRequest(f"input[{i}] is a function_call without string call_id, name and arguments", param="input")
            call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            if not (out and out[-1]["role"] == "assistant"):
                out.append({"role": "assistant", "content": ""})
            out[-1] = {**out[-1], "tool_calls": [*out[-1].get("tool_calls", []), call]}
        elif kind == "function_call_output":
            if not isinstance(item.get("call_id"), str):
                raise InvalidRequest(f"input[{i}] is a function_call_output without a call_id", param="input")
            out.append({"role": "tool", "tool_call_id": item["call_id"], "content": _text(item.get("output"), i)})
        elif kind == "reasoning":
            continue  # earlier reasoning is not shown to the model again
        elif kind == "item_reference":
            raise InvalidRequest(f"input[{i}] refers to a stored item, but this server stores nothing: send the item itself", param="input")
        else:
            raise InvalidRequest(f"input[{i}] has unknown type {kind!r}", param="input")
    return out


def _tools(value: Any) -> Any:
    """Function tools pass through; OpenAI's hosted tools (web search, ...) do not exist here."""
    for i, tool in enumerate(value if isinstance(value, list) else []):
        if isinstance(tool, dict) and tool.get("type") != "function":
            raise InvalidRequest(f"tools[{i}] is a {tool.get('type')} tool; only function tools are available here", param="tools")
    return value


def _text_format(value: Any) -> dict[str, Any] | None:
    """The JSON Schema `text.format` asks for (json_object: any JSON object)."""
    if value is None:
        return None
    spec = value.get("format") if isinstance(value, dict) else None
    kind = spec.get("type") if isinstance(spec, dict) else None
    if spec is None or kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        if not isinstance(spec.get("schema"), dict):
            raise InvalidRequest("text.format.schema must be a JSON Schema object", param="text")
        return spec["schema"]
    raise InvalidRequest('text.format.type must be "text", "json_object" or "json_schema"', param="text")


def _answer_request(body: dict[str, Any], model: str) -> AnswerRequest:
    for key in ("previous_response_id", "conversation"):
        if body.get(key) is not None:
            raise InvalidRequest(f"{key} is not supported: this server is stateless, so send the whole conversation as input", param=key)
    return AnswerRequest(
        model=model,
        messages=tuple(_messages(body.get("input"), opt.text(body, "instructions"))),
        sampling=opt.sampling({k: body.get(k) for k in ("temperature", "top_p")}),
        max_tokens=opt.max_tokens(body.get("max_output_tokens"), "max_output_tokens"),
        json_schema=_text_format(body.get("text")),
        tools=ToolPolicy.parse(_tools(body.get("tools")), body.get("tool_choice")),
    )


def _reasoning_item(ident: str, text: str, status: str) -> dict[str, Any]:
    return {"type": "reasoning", "id": ident, "summary": [], "content": [{"type": "reasoning_text", "text": text}] if text else [], "status": status}


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(ident: str, text: str | None, status: str) -> dict[str, Any]:
    """An assistant message; with text None, as first announced (no parts yet)."""
    return {"type": "message", "id": ident, "status": status, "role": "assistant", "content": [] if text is None else [_output_text(text)]}


def _call_item(call: ToolCall, ident: str, arguments: str, status: str) -> dict[str, Any]:
    return {"type": "function_call", "id": ident, "call_id": call.id, "name": call.name, "arguments": arguments, "status": status}


def _response(head: dict[str, Any], output: list[dict[str, Any]], finish: Finish | None) -> dict[str, Any]:
    """The response object; without a finish, as it stands before generating."""
    incomplete = finish is not None and finish.reason == "length"
    status = "in_progress" if finish is None else "incomplete" if incomplete else "completed"
    return {
        **head,
        "status": status,
        "output": output,
        "usage": _usage(finish.stats) if finish is not None else None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
    }


def _head(body: dict[str, Any], model: str) -> dict[str, Any]:
    """What every form of the response object repeats: its id and the request's settings."""
    return {
        "id": _new_id("resp"),
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "error": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {},
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "store": False,
        "temperature": body.get("temperature"),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p"),
    }


async def responses(request: web.Request) -> web.StreamResponse:
    body = await opt.json_body(request)
    model = opt.model_name(body)
    answer = _answer_request(body, model)
    daemon = request.app[DAEMON]
    record = record_for(request, model)
    head = _head(body, model)
    if not body.get("stream"):
        content, reasoning, finish = await collect_answer(daemon.answer(answer), record)
        status = "incomplete" if finish.reason == "length" else "completed"
        output = [_reasoning_item(_new_id("rs"), reasoning, status)] if reasoning else []
        if content:
            output.append(_message_item(_new_id("msg"), content, status))
        output.extend(_call_item(c, _new_id("fc"), c.arguments_json, "completed") for c in finish.tool_calls)
        return web.json_response(_response(head, output, finish))
    events = _Events(head)
    return await stream_answer(request, "sse", daemon.answer(answer), record, events.frames, events.error)


@dataclass
class _Events:
    """One streamed response: numbered events, one output item open at a time, the
    finished items kept for the final response object."""

    head: dict[str, Any]
    sequence: int = 0
    output: list[dict[str, Any]] = field(default_factory=list)
    open: str | None = None  # "reasoning" or "message"
    item_id: str = ""
    text: str = ""

    def frames(self, event: Event) -> Frames:
        out: Frames = []
        if self.sequence == 0:
            out += [self._event("response.created", response=_response(self.head, [], None))]
            out += [self._event("response.in_progress", response=_response(self.head, [], None))]
        if isinstance(event, Delta):
            if event.reasoning:
                out += self._switch("reasoning")
                out.append(self._part_event("response.reasoning_text.delta", delta=event.reasoning))
                self.text += event.reasoning
            if event.content:
                out += self._switch("message")
                out.append(self._part_event("response.output_text.delta", delta=event.content, logprobs=[]))
                self.text += event.content
            return out
        out += self._close("incomplete" if event.reason == "length" else "completed")
        for call in event.tool_calls:
            ident, index = _new_id("fc"), len(self.output)
            out.append(self._event("response.output_item.added", output_index=index, item=_call_item(call, ident, "", "in_progress")))
            out.append(self._event("response.function_call_arguments.delta", item_id=ident, output_index=index, delta=call.arguments_json))
            out.append(self._event("response.function_call_arguments.done", item_id=ident, output_index=index, arguments=call.arguments_json))
            self.output.append(_call_item(call, ident, call.arguments_json, "completed"))
            out.append(self._event("response.output_item.done", output_index=index, item=self.output[-1]))
        final = _response(self.head, self.output, event)
        out.append(self._event("response.incomplete" if final["status"] == "incomplete" else "response.completed", response=final))
        return out

    def error(self, error: HttpError) -> Frames:
        return [self._event("error", code=error.code, message=error.message, param=error.param)]

    def _event(self, kind: str, **fields: Any) -> tuple[dict[str, Any], str]:
        self.sequence += 1
        return {"type": kind, "sequence_number": self.sequence - 1, **fields}, kind

    def _part_event(self, kind: str, **fields: Any) -> tuple[dict[str, Any], str]:
        """An event about the open item's one content part."""
        return self._event(kind, item_id=self.item_id, output_index=len(self.output), content_index=0, **fields)

    def _part(self, text: str) -> dict[str, Any]:
        return {"type": "reasoning_text", "text": text} if self.open == "reasoning" else _output_text(text)

    def _item(self, text: str | None, status: str) -> dict[str, Any]:
        if self.open == "reasoning":
            return _reasoning_item(self.item_id, text or "", status)
        return _message_item(self.item_id, text, status)

    def _switch(self, kind: str) -> Frames:
        """Open an item of this kind, with its one content part, unless it is open already."""
        if self.open == kind:
            return []
        out = self._close("completed")
        self.open, self.item_id, self.text = kind, _new_id("rs" if kind == "reasoning" else "msg"), ""
        out.append(self._event("response.output_item.added", output_index=len(self.output), item=self._item(None, "in_progress")))
        out.append(self._part_event("response.content_part.added", part=self._part("")))
        return out

    def _close(self, status: str) -> Frames:
        if self.open is None:
            return []
        done = "response.reasoning_text.done" if self.open == "reasoning" else "response.output_text.done"
        out = [self._part_event(done, text=self.text, **({} if self.open == "reasoning" else {"logprobs": []}))]
        out.append(self._part_event("response.content_part.done", part=self._part(self.text)))
        item = self._item(self.text, status)
        out.append(self._event("response.output_item.done", output_index=len(self.output), item=item))
        self.output.append(item)
        self.open = None
        return out


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/responses", responses)
