"""Streaming bodies: Server-Sent Events for OpenAI and Anthropic, NDJSON for Ollama.

Headers go out only when the first event is ready, so a request that fails before
generating answers with a plain error status; an error after that is sent in-band,
as each protocol's clients expect it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiohttp import web

from fireside.api.answers import AnswerStream, Event, Finish
from fireside.api.errors import HttpError
from fireside.telemetry import RequestRecord


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class EventStream:
    """One streamed response. `send` writes one event; `close` ends the body."""

    def __init__(self, request: web.Request, kind: str) -> None:
        assert kind in ("sse", "ndjson")
        self._request = request
        self._kind = kind
        self._response: web.StreamResponse | None = None

    @property
    def started(self) -> bool:
        return self._response is not None

    @property
    def response(self) -> web.StreamResponse:
        assert self._response is not None
        return self._response

    async def _start(self) -> web.StreamResponse:
        if self._response is None:
            content_type = "text/event-stream" if self._kind == "sse" else "application/x-ndjson"
            response = web.StreamResponse(headers={"Content-Type": content_type, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
            await response.prepare(self._request)
            self._response = response
        return self._response

    async def send(self, data: Any, event: str | None = None) -> None:
        response = await self._start()
        if self._kind == "ndjson":
            await response.write((dumps(data) + "\n").encode())
        else:
            head = f"event: {event}\n" if event else ""
            await response.write(f"{head}data: {data if isinstance(data, str) else dumps(data)}\n\n".encode())

    async def close(self) -> web.StreamResponse:
        response = await self._start()
        await response.write_eof()
        return response


Frames = list[tuple[Any, str | None]]  # (data, SSE event name)


def ndjson_error(error: HttpError) -> Frames:
    """Ollama's in-band error: a last NDJSON line `{"error": "..."}`."""
    return [(error.ollama(), None)]


async def stream_answer(
    request: web.Request,
    kind: str,
    answer: AbstractAsyncContextManager[AnswerStream],
    record: RequestRecord,
    on_event: Callable[[Event], Frames],
    on_error: Callable[[HttpError], Frames],
) -> web.StreamResponse:
    """Stream one answer in a protocol's framing. Errors before the first frame raise
    (and become a proper status); later ones are sent in-band; a client that hangs up
    cancels the generation (leaving `answer` frees its sequence)."""
    out = EventStream(request, kind)
    try:
        async with answer as source:
            record.backend = source.backend
            async for event in source.events():
                if isinstance(event, Finish):
                    record.count(event.stats)
                else:
                    record.first_token()
                for data, name in on_event(event):
                    await out.send(data, name)
    except ConnectionError:
        if not out.started:
            raise
        record.status = 499  # the client hung up (nginx's code): nobody to finish the body for
        return out.response
    except Exception as e:
        if not out.started:
            raise
        error = HttpError.of(e)
        record.status = error.status
        try:
            for data, name in on_error(error):
                await out.send(data, name)
        except ConnectionError:
            return out.response
    try:
        return await out.close()
    except ConnectionError:
        return out.response


async def collect_answer(answer: AbstractAsyncContextManager[AnswerStream], record: RequestRecord) -> tuple[str, str, Finish]:
    """A whole answer: (content, reasoning, finish)."""
    content: list[str] = []
    reasoning: list[str] = []
    async with answer as source:
        record.backend = source.backend
        async for event in source.events():
            if isinstance(event, Finish):
                record.count(event.stats)
                return "".join(content), "".join(reasoning), event
            content.append(event.content)
            reasoning.append(event.reasoning)
    raise RuntimeError("answer ended without finishing")
