"""Ollama's native API, `/api`: generate, chat, embeddings, the installed and the loaded
models and a model's facts, translated to and from `AnswerRequest`, so the `ollama`
package and the tools built on Ollama use the daemon's models unchanged.

Answers stream as NDJSON unless `stream` is false (Ollama streams by default); the last
object carries the timings, in nanoseconds. An empty prompt (or message list) loads the
model, and with `keep_alive` 0 unloads it. Model facts come from the GGUF header, read
without loading the model; file paths never leave the daemon.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from fireside.api import options as opt
from fireside.api.answers import AnswerRequest, Delta, Event, Finish
from fireside.api.daemon import DAEMON, record_for
from fireside.api.streams import Frames, collect_answer, ndjson_error, stream_answer
from fireside.api.tools import ToolCall, ToolPolicy
from fireside.engine import Embeddings, FimInput
from fireside.engine.errors import InvalidRequest

# Ollama's "forever" is now plus Go's longest duration (about 292 years).
FOREVER_SECONDS = (2**63 - 1) / 1e9
def timestamp(seconds: float) -> str:
    """RFC 3339 in UTC, as Ollama writes times."""
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _no_images(value: Any, param: str) -> None:
    if value:
        raise InvalidRequest("this model does not read images", param=param)


def _format(value: Any) -> dict[str, Any] | None:
    """The JSON Schema `format` asks for ("json": any JSON object)."""
    if value is None or value == "":
        return None
    if value == "json":
        return {"type": "object"}
    if isinstance(value, dict):
        return value
    raise InvalidRequest('format must be "json" or a JSON Schema object', param="format")


def _think(value: Any) -> bool:
    """Whether reasoning is returned (as `thinking`); a level ("low", ...) means yes."""
    if value is None or value in ("low", "medium", "high"):
        return True
    if isinstance(value, bool):
        return value
    raise InvalidRequest('think must be true, false, "low", "medium" or "high"', param="think")


def _common(body: dict[str, Any], model: str) -> dict[str, Any]:
    """AnswerRequest fields generate and chat share. Ollama truncates a prompt too long
    for the context by default; `truncate: false` makes it an error instead."""
    options = opt.options_of(body)
    if options.get("seed") == -1:  # Ollama's "pick a random seed"
        options = {k: v for k, v in options.items() if k != "seed"}
    return {
        "model": model,
        "sampling": opt.sampling(options),
        "max_tokens": opt.max_tokens(options.get("num_predict"), "num_predict"),
        "stop": opt.stop_strings(options.get("stop")),
        "num_ctx": opt.num_ctx(options),
        "keep_alive": opt.keep_alive(body.get("keep_alive")),
        "json_schema": _format(body.get("format")),
        "think": _think(body.get("think")),
        "truncate": opt.flag(body, "truncate", True),
    }


def _final(finish: Finish) -> dict[str, Any]:
    """The closing fields of an answer; Ollama counts the model's load in the total."""
    s = finish.stats
    return {
        "done": True,
        "done_reason": "length" if finish.reason == "length" else "stop",
        "total_duration": s.total_duration_ns,
        "load_duration": s.load_duration_ns,
        "prompt_eval_count": s.prompt_tokens,
        "prompt_eval_duration": s.prompt_eval_duration_ns,
        "eval_count": s.completion_tokens,
        "eval_duration": s.eval_duration_ns,
    }


def _thinking(reasoning: str) -> dict[str, str]:
    return {"thinking": reasoning} if reasoning else {}


async def _load(request: web.Request, model: str, keep_alive: float | None, empty: dict[str, Any]) -> web.Response:
    """Ollama's way to load a model ahead of use, or with keep_alive 0 to unload it."""
    daemon = request.app[DAEMON]
    record_for(request, model)
    if daemon.remote_entry(model) is None:
        local = await daemon.installed(model)
        if keep_alive == 0:
            await daemon.pool.unload(local.name)
        else:
            async with daemon.pool.use(local.name, daemon.keep_alive(local, keep_alive)):
                pass
    reason = "unload" if keep_alive == 0 else "load"
    return web.json_response({"model": model, "created_at": timestamp(time.time()), **empty, "done": True, "done_reason": reason})


def _prompt(body: dict[str, Any], prompt: str, suffix: str) -> dict[str, Any]:
    """What the model is given: a fill-in-the-middle task with a suffix, the prompt as it
    is with `raw`, or else a chat turn, so the model's own chat template applies."""
    raw = opt.flag(body, "raw", False)
    system = opt.text(body, "system")
    if opt.text(body, "template") and not raw:
        raise InvalidRequest("custom templates are not supported; use raw", param="template")
    if body.get("context"):
        raise InvalidRequest("context is not supported: send the conversation to /api/chat", param="context")
    if system and (raw or suffix):
        raise InvalidRequest("system cannot be combined with raw or suffix", param="system")
    if suffix:
        return {"fim": FimInput(prefix=prompt, suffix=suffix)}
    if raw:
        return {"prompt": prompt}
    return {"messages": (*([{"role": "system", "content": system}] if system else []), {"role": "user", "content": prompt})}


async def generate(request: web.Request) -> web.StreamResponse:
    body = await opt.json_body(request)
    model = opt.model_name(body)
    prompt, suffix = opt.text(body, "prompt") or "", opt.text(body, "suffix") or ""
    _no_images(body.get("images"), "images")
    common = _common(body, model)
    stream = opt.flag(body, "stream", True)
    if not prompt and not suffix:
        return await _load(request, model, common["keep_alive"], {"response": ""})
    answer = AnswerRequest(**_prompt(body, prompt, suffix), **common)
    daemon = request.app[DAEMON]
    record = record_for(request, model)
    if not stream:
        content, reasoning, finish = await collect_answer(daemon.answer(answer), record)
        return web.json_response({"model": model, "created_at": timestamp(time.time()), "response": content, **_thinking(reasoning), **_final(finish)})

    def frames(event: Event) -> Frames:
        head = {"model": model, "created_at": timestamp(time.time())}
        if isinstance(event, Delta):
            return [({**head, "response": event.content, **_thinking(event.reasoning), "done": False}, None)]
        return [({**head, "response": "", **_final(event)}, None)]

    return await stream_answer(request, "ndjson", daemon.answer(answer), record, frames, ndjson_error)


def _tool_call(call: Any, index: int) -> dict[str, Any]:
    """An Ollama tool call (arguments as an object) in OpenAI's shape (arguments as JSON text)."""
    function = call.get("function") if isinstance(call, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    arguments = function.get("arguments", {}) if isinstance(function, dict) else None
    if not isinstance(name, str) or not isinstance(arguments, dict | str):
        raise InvalidRequest(f"messages[{index}].tool_calls need a function with a name and arguments", param="messages")
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    return {"id": str(call.get("id", "")), "type": "function", "function": {"name": name, "arguments": text}}


def _message(message: Any, index: int) -> dict[str, Any]:
    """An Ollama message as an OpenAI-shaped one: `tool_name` becomes `name`; earlier
    thinking is not shown to the model again."""
    if not isinstance(message, dict):
        raise InvalidRequest(f"messages[{index}] must be an object", param="messages")
    _no_images(message.get("images"), "messages")
    out = {k: message[k] for k in ("role", "content", "tool_call_id") if k in message}
    if "tool_name" in message:
        out["name"] = message["tool_name"]
    calls = message.get("tool_calls")
    if calls:
        if not isinstance(calls, list):
            raise InvalidRequest(f"messages[{index}].tool_calls must be a list", param="messages")
        out["tool_calls"] = [_tool_call(c, index) for c in calls]
    return out


def _reply(content: str, reasoning: str = "", calls: tuple[ToolCall, ...] = ()) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, **_thinking(reasoning)}
    if calls:
        message["tool_calls"] = [{"function": {"name": c.name, "arguments": c.arguments}} for c in calls]
    return message


async def chat(request: web.Request) -> web.StreamResponse:
    body = await opt.json_body(request)
    model = opt.model_name(body)
    messages = body.get("messages") or []
    if not isinstance(messages, list):
        raise InvalidRequest("messages must be a list", param="messages")
    converted = tuple(_message(m, i) for i, m in enumerate(messages))
    tools = ToolPolicy.parse(body.get("tools"), None)
    common = _common(body, model)
    stream = opt.flag(body, "stream", True)
    if not converted:
        return await _load(request, model, common["keep_alive"], {"message": _reply("")})
    answer = AnswerRequest(messages=converted, tools=tools, **common)
    daemon = request.app[DAEMON]
    record = record_for(request, model)
    if not stream:
        content, reasoning, finish = await collect_answer(daemon.answer(answer), record)
        return web.json_response({"model": model, "created_at": timestamp(time.time()), "message": _reply(content, reasoning, finish.tool_calls), **_final(finish)})

    def frames(event: Event) -> Frames:
        head = {"model": model, "created_at": timestamp(time.time())}
        if isinstance(event, Delta):
            return [({**head, "message": _reply(event.content, event.reasoning), "done": False}, None)]
        calls: Frames = [({**head, "message": _reply("", calls=event.tool_calls), "done": False}, None)] if event.tool_calls else []
        return [*calls, ({**head, "message": _reply(""), **_final(event)}, None)]

    return await stream_answer(request, "ndjson", daemon.answer(answer), record, frames, ndjson_error)


async def _embed(request: web.Request, model: str, body: dict[str, Any], texts: list[str], dimensions: int | None = None) -> tuple[Embeddings, int]:
    """Embeddings of `texts`, and how long they took in nanoseconds."""
    daemon = request.app[DAEMON]
    record = record_for(request, model)
    started = time.perf_counter_ns()
    result = await daemon.embed(model, texts, opt.flag(body, "truncate", True), opt.keep_alive(body.get("keep_alive")), dimensions)
    record.prompt_tokens = result.prompt_tokens
    record.backend = "remote" if daemon.remote_entry(model) else "local"
    return result, time.perf_counter_ns() - started


async def embed(request: web.Request) -> web.Response:
    body = await opt.json_body(request)
    model = opt.model_name(body)
    texts = opt.input_texts(body.get("input"))
    result, duration_ns = await _embed(request, model, body, texts, opt.number(body, "dimensions", integer=True))
    return web.json_response(
        {
            "model": model,
            "embeddings": result.vectors,
            "total_duration": duration_ns,
            "load_duration": result.load_duration_ns,
            "prompt_eval_count": result.prompt_tokens,
        }
    )


async def embeddings(request: web.Request) -> web.Response:
    """The older single-text endpoint."""
    body = await opt.json_body(request)
    model = opt.model_name(body)
    prompt = opt.text(body, "prompt")
    if not prompt:
        raise InvalidRequest("prompt is required", param="prompt")
    result, _ = await _embed(request, model, body, [prompt])
    return web.json_response({"embedding": result.vectors[0]})


# -- model facts -----------------------------------------------------------------------


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/api/generate", generate)
    router.add_post("/api/chat", chat)
    router.add_post("/api/embed", embed)
    router.add_post("/api/embeddings", embeddings)
