"""Reading request fields the protocols share: sampling values, Ollama-style `options`,
stop strings, token limits and keep-alive, each type-checked with a message naming the
field, so a client's mistake is a 400 and never a crash or a silent default."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from typing import Any

from aiohttp import web

from fireside.config import parse_duration
from fireside.engine import SamplingOptions
from fireside.engine.errors import InvalidRequest

# Ollama `options` that shape sampling; the rest that we honour are handled by callers.
_SAMPLING = {f.name for f in fields(SamplingOptions)}
_INTS = {"top_k", "repeat_last_n", "seed"}


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidRequest(f"request body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    return body


def number(body: dict[str, Any], key: str, integer: bool = False) -> Any:
    value = body.get(key)
    if value is None:
        return None
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and isinstance(value, float) and not value.is_integer()):
        raise InvalidRequest(f"{key} must be {kind}, got {json.dumps(value)[:40]}", param=key)
    if not -(2**63) <= value <= 2**63 or value != value:
        raise InvalidRequest(f"{key} is out of range", param=key)
    return int(value) if integer else float(value)


def text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{key} must be a string", param=key)
    return value


def flag(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidRequest(f"{key} must be true or false", param=key)
    return value


def model_name(body: dict[str, Any]) -> str:
    name = text(body, "model")
    if not name:
        raise InvalidRequest("model is required", param="model")
    return name


def stop_strings(value: Any, key: str = "stop") -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise InvalidRequest(f"{key} must be a string or a list of strings", param=key)
    return tuple(s for s in value if s)


def sampling(values: dict[str, Any]) -> dict[str, float | int]:
    """The sampling values a request sets, from OpenAI top-level fields or Ollama
    `options` (same names); what it leaves out comes from the model's parameters."""
    given = {k: number(values, k, integer=k in _INTS) for k in _SAMPLING if values.get(k) is not None}
    try:
        replace(SamplingOptions(), **given).validate()
    except InvalidRequest as e:
        raise InvalidRequest(e.message, param=e.message.split(" ")[0]) from None
    return given  # type: ignore[return-value]


def options_of(body: dict[str, Any]) -> dict[str, Any]:
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise InvalidRequest("options must be an object", param="options")
    return options


def max_tokens(value: Any, key: str) -> int | None:
    """A token limit; Ollama's -1 (no limit) and -2 (fill the context) mean none."""
    n = number({key: value}, key, integer=True)
    if n is None or n in (-1, -2):
        return None
    if n < 1:
        raise InvalidRequest(f"{key} must be at least 1, got {n}", param=key)
    return int(n)


def keep_alive(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except InvalidRequest as e:
        raise InvalidRequest(f"keep_alive: {e.message}", param="keep_alive") from None


def num_ctx(options: dict[str, Any]) -> int | None:
    n = number(options, "num_ctx", integer=True)
    if n is not None and n < 1:
        raise InvalidRequest("num_ctx must be positive", param="num_ctx")
    return n


def input_texts(value: Any) -> list[str]:
    """Embedding input: a string or a non-empty list of strings (token arrays are not accepted)."""
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise InvalidRequest("input must be a string or a non-empty list of strings (token arrays are not accepted)", param="input")
    return texts


def generation(body: dict[str, Any], limit_keys: tuple[str, ...]) -> dict[str, Any]:
    """AnswerRequest fields of a request in OpenAI's style: sampling values, stop and
    keep-alive at the top level or in Ollama-style `options`; the token limit is the first
    of `limit_keys` given (`options.num_predict` last)."""
    options = options_of(body)
    limit = next((body[k] for k in limit_keys if body.get(k) is not None), options.get("num_predict"))
    return {
        "sampling": {**sampling(body), **sampling(options)},
        "max_tokens": max_tokens(limit, "max_tokens"),
        "stop": stop_strings(body.get("stop")) or stop_strings(options.get("stop")),
        "num_ctx": num_ctx(options),
        "keep_alive": keep_alive(options.get("keep_alive", body.get("keep_alive"))),
    }
