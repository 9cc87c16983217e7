"""Remote backends that speak Anthropic's Messages API (`api = "anthropic"` in models.toml):
the request built from an `AnswerRequest`, and the streamed events read back into the
same `Delta`s and `Finish` an OpenAI-compatible backend gives. Chat only: Messages has
no plain-text or fill-in-the-middle completion."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fireside.api.answers import AnswerRequest, Delta, Event, Finish
from fireside.engine import Stats
from fireside.engine.errors import InvalidRequest, RemoteUnavailable
from fireside.models.registry import Backend

VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # Messages requires a limit


def anthropic_headers(key: str | None) -> dict[str, str]:
    return {"anthropic-version": VERSION, **({"x-api-key": key} if key else {})}


def anthropic_request(backend: Backend, model: str, r: AnswerRequest) -> tuple[str, dict[str, Any]]:
    """(path, body) of the Messages request for this answer."""
    if r.messages is None:
        raise InvalidRequest(f'remote backend "{backend.name}" speaks Anthropic\'s Messages API, which answers chats only (no text or fill-in-the-middle completion)')
    if r.tools is not None and r.tools.offered:
        raise InvalidRequest(f'remote backend "{backend.name}": tools are not passed to Anthropic backends yet')
    system = "\n\n".join(str(m.get("content") or "") for m in r.messages if m.get("role") == "system")
    turns = [{"role": m["role"], "content": str(m.get("content") or "")} for m in r.messages if m.get("role") in ("user", "assistant")]
    body: dict[str, Any] = {"model": model, "messages": turns, "max_tokens": r.max_tokens or DEFAULT_MAX_TOKENS, "stream": True}
    if system:
        body["system"] = system
    for key in ("temperature", "top_p", "top_k"):
        if key in r.sampling:
            body[key] = r.sampling[key]
    if r.stop:
        body["stop_sequences"] = list(r.stop)
    return "/v1/messages", body


async def anthropic_events(chunks: AsyncIterator[dict[str, Any]], backend_name: str, started_ns: int, count: Callable[[Any], int]) -> AsyncIterator[Event]:
    """Text deltas as they stream, then one Finish with the usage Messages reports."""
    usage: dict[str, int] = {}
    reason: str | None = None
    first_ns: int | None = None

    def note(reported: Any) -> None:
        """Usage comes in message_start and again, final, in message_delta; the later wins."""
        for key, value in (reported or {}).items():
            if count(value):
                usage[key] = count(value)

    async for event in chunks:
        kind = event.get("type")
        if kind == "message_start":
            note((event.get("message") or {}).get("usage"))
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str) and delta["text"]:
                first_ns = first_ns or time.perf_counter_ns()
                yield Delta(delta["text"], "")
        elif kind == "message_delta":
            reason = (event.get("delta") or {}).get("stop_reason") or reason
            note(event.get("usage"))
        elif kind == "error":
            raise RemoteUnavailable(f'remote backend "{backend_name}" failed mid-answer: {(event.get("error") or {}).get("message", "unknown error")}')
        elif kind == "message_stop":
            break
    if reason is None:
        raise RemoteUnavailable(f'remote backend "{backend_name}" ended the answer without finishing it')
    end_ns = time.perf_counter_ns()
    first_ns = first_ns or end_ns
    cached = usage.get("cache_read_input_tokens", 0)  # Anthropic counts cache reads apart from input_tokens
    stats = Stats(prompt_tokens=usage.get("input_tokens", 0) + cached, cached_tokens=cached, completion_tokens=usage.get("output_tokens", 0),
                  prompt_eval_duration_ns=first_ns - started_ns,
                  eval_duration_ns=end_ns - first_ns, total_duration_ns=end_ns - started_ns, done_reason="length" if reason == "max_tokens" else "stop")
    yield Finish("length" if reason == "max_tokens" else "stop", stats, ())
