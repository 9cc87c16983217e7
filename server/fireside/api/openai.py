"""OpenAI-compatible `/v1`: chat completions, completions (with `suffix` for
fill-in-the-middle), embeddings and models, translated to and from `AnswerRequest`.

Beyond OpenAI's schema, a request may carry `options` (Ollama's names: `num_ctx`,
`top_k`, `min_p`, `repeat_penalty`, `keep_alive`, ...) for what the schema cannot say.
"""

from __future__ import annotations

import base64
import struct
import time
import uuid
from typing import Any

from aiohttp import web

from fireside.api import options as opt
from fireside.api.answers import AnswerRequest, Delta, Event, Finish
from fireside.api.daemon import DAEMON, record_for
from fireside.api.errors import HttpError
from fireside.api.streams import Frames, collect_answer, stream_answer
from fireside.api.tools import ToolPolicy
from fireside.engine import FimInput, Stats
from fireside.engine.errors import InvalidRequest, ModelNotFound
from fireside.models.registry import normalize_name

def _usage(stats: Stats) -> dict[str, Any]:
    return {
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.completion_tokens,
        "total_tokens": stats.prompt_tokens + stats.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": stats.cached_tokens},
    }


def _common(body: dict[str, Any], model: str) -> dict[str, Any]:
    """AnswerRequest fields shared by chat and text completions."""
    if (n := opt.number(body, "n", integer=True)) not in (None, 1):
        raise InvalidRequest(f"n={n} is not supported: ask for one choice per request", param="n")
    if body.get("logprobs"):
        raise InvalidRequest("logprobs are not available from this server", param="logprobs")
    return {"model": model, **opt.generation(body, ("max_completion_tokens", "max_tokens"))}


def _response_format(value: Any) -> dict[str, Any] | None:
    """The JSON Schema a `response_format` asks for (json_object: any JSON object)."""
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise InvalidRequest("response_format.json_schema.schema must be a JSON Schema object", param="response_format")
        return schema
    raise InvalidRequest('response_format.type must be "text", "json_object" or "json_schema"', param="response_format")


def _stream_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options") or {}
    return bool(isinstance(options, dict) and options.get("include_usage"))


def _tool_calls(finish: Finish) -> list[dict[str, Any]]:
    return [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json}} for c in finish.tool_calls]


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await opt.json_body(request)
    model = opt.model_name(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list", param="messages")
    answer = AnswerRequest(
        messages=tuple(messages),
        json_schema=_response_format(body.get("response_format")),
        tools=ToolPolicy.parse(body.get("tools"), body.get("tool_choice")),
        **_common(body, model),
    )
    daemon = request.app[DAEMON]
    record = record_for(request, model)
    ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    head = {"id": ident, "created": created, "model": model, "system_fingerprint": "fireside"}
    if not body.get("stream"):
        content, reasoning, finish = await collect_answer(daemon.answer(answer), record)
        message: dict[str, Any] = {"role": "assistant", "content": content if not finish.tool_calls else (content or None)}
        if reasoning:
            message["reasoning"] = reasoning
        if finish.tool_calls:
            message["tool_calls"] = _tool_calls(finish)
        return web.json_response(
            {**head, "object": "chat.completion", "choices": [{"index": 0, "message": message, "finish_reason": finish.reason, "logprobs": None}], "usage": _usage(finish.stats)}
        )

    include_usage = _stream_usage(body)
    chunk = {**head, "object": "chat.completion.chunk"}
    first = [True]

    def frames(event: Event) -> Frames:
        out: Frames = []
        if first[0]:
            first[0] = False
            out.append(({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}, None))
        if isinstance(event, Delta):
            delta = {"content": event.content} if event.content else {}
            if event.reasoning:
                delta["reasoning"] = event.reasoning
            out.append(({**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}, None))
            return out
        for i, call in enumerate(_tool_calls(event)):
            out.append(({**chunk, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": i, **call}]}, "finish_reason": None}]}, None))
        out.append(({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": event.reason}]}, None))
        if include_usage:
            out.append(({**chunk, "choices": [], "usage": _usage(event.stats)}, None))
        out.append(("[DONE]", None))
        return out

    return await stream_answer(request, "sse", daemon.answer(answer), record, frames, _sse_error)


def _sse_error(error: HttpError) -> Frames:
    return [(error.openai(), None), ("[DONE]", None)]


async def completions(request: web.Request) -> web.StreamResponse:
    body = await opt.json_body(request)
    model = opt.model_name(body)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise InvalidRequest("prompt must be a string (one prompt per request; token arrays are not accepted)", param="prompt")
    suffix = opt.text(body, "suffix")
    echo = bool(body.get("echo"))
    if echo and suffix:
        raise InvalidRequest("echo cannot be combined with suffix", param="echo")
    common = _common(body, model)
    if suffix is not None:
        answer = AnswerRequest(fim=FimInput(prefix=prompt, suffix=suffix), **common)
    else:
        answer = AnswerRequest(prompt=prompt, json_schema=_response_format(body.get("response_format")), **common)
    daemon = request.app[DAEMON]
    record = record_for(request, model)
    head = {"id": f"cmpl-{uuid.uuid4().hex[:24]}", "object": "text_completion", "created": int(time.time()), "model": model}
    if not body.get("stream"):
        content, _, finish = await collect_answer(daemon.answer(answer), record)
        text = prompt + content if echo else content
        return web.json_response({**head, "choices": [{"index": 0, "text": text, "finish_reason": finish.reason, "logprobs": None}], "usage": _usage(finish.stats)})

    include_usage = _stream_usage(body)
    echoed = [not echo]

    def frames(event: Event) -> Frames:
        out: Frames = []
        if not echoed[0]:
            echoed[0] = True
            out.append(({**head, "choices": [{"index": 0, "text": prompt, "finish_reason": None, "logprobs": None}]}, None))
        if isinstance(event, Delta):
            if event.content:
                out.append(({**head, "choices": [{"index": 0, "text": event.content, "finish_reason": None, "logprobs": None}]}, None))
            return out
        out.append(({**head, "choices": [{"index": 0, "text": "", "finish_reason": event.reason, "logprobs": None}]}, None))
        if include_usage:
            out.append(({**head, "choices": [], "usage": _usage(event.stats)}, None))
        out.append(("[DONE]", None))
        return out

    return await stream_answer(request, "sse", daemon.answer(answer), record, frames, _sse_error)


async def embeddings(request: web.Request) -> web.Response:
    body = await opt.json_body(request)
    model = opt.model_name(body)
    texts = opt.input_texts(body.get("input"))
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise InvalidRequest('encoding_format must be "float" or "base64"', param="encoding_format")
    options = opt.options_of(body)
    dimensions = opt.number(body, "dimensions", integer=True)
    keep_alive = opt.keep_alive(options.get("keep_alive"))
    result = await request.app[DAEMON].embed(model, texts, bool(options.get("truncate", True)), keep_alive, dimensions)
    record = record_for(request, model)
    record.prompt_tokens = result.prompt_tokens
    record.backend = "remote" if request.app[DAEMON].remote_entry(model) else "local"

    def encode(vector: list[float]) -> Any:
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode() if encoding == "base64" else vector

    return web.json_response(
        {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": encode(v)} for i, v in enumerate(result.vectors)],
            "model": model,
            "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens},
        }
    )


def _model_card(name: str, backend: str | None) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": backend or "fireside"}


async def list_models(request: web.Request) -> web.Response:
    models = await request.app[DAEMON].usable_models()
    return web.json_response({"object": "list", "data": [_model_card(name, backend) for name, backend in models.items()]})


async def get_model(request: web.Request) -> web.Response:
    models = await request.app[DAEMON].usable_models()
    name = normalize_name(request.match_info["id"])
    if name not in models:
        raise ModelNotFound(f'model "{request.match_info["id"]}" not found, try pulling it first')
    return web.json_response(_model_card(name, models[name]))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/chat/completions", chat_completions)
    router.add_post("/v1/completions", completions)
    router.add_post("/v1/embeddings", embeddings)
    router.add_get("/v1/models", list_models)
    router.add_get("/v1/models/{id:.+}", get_model)
