"""Remote OpenAI-compatible backends: a model declared in models.toml with `backend = NAME`
is answered by that backend's servers (a cloud API, or a vLLM / llama-server / Fireside
fleet); no other model ever leaves this machine.

Answers stream through as the backend sends them. Among a fleet's base URLs the healthy
one with the fewest requests in flight is used; one that cannot be reached, or fails (5xx)
before answering, is set aside and probed in the background until it answers again.
Logs name backends and URLs, never prompt text or keys.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Literal

import aiohttp
from yarl import URL

from fireside.api.answers import AnswerRequest, Delta, Event, Finish, FinishReason
from fireside.api.remote_anthropic import anthropic_events, anthropic_headers, anthropic_request
from fireside.api.tools import ToolCall, ToolPolicy, new_call_id
from fireside.engine import Embeddings, Stats
from fireside.engine.errors import Busy, EngineError, InvalidRequest, ModelNotFound, RemoteUnavailable
from fireside.models.registry import Backend, ModelEntry

log = logging.getLogger("fireside.remote")

CONNECT_TIMEOUT = 10.0  # seconds; a server that takes longer is treated as down
PROBE_INTERVAL = 2.0
PROBE_TIMEOUT = 5.0
# Below the 5 s idle timeout of common servers (uvicorn: vLLM), so a pooled connection is
# rarely reused just as the server closes it (which would look like a dead server).
KEEPALIVE = 4.0


class _Endpoint:
    """One base URL: requests in flight on it, its health, and the probe that restores it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.in_flight = 0
        self.healthy = True
        self.probe: asyncio.Task[None] | None = None


class RemoteRouter:
    """The daemon's connections to remote backends: one HTTP session (made on first use,
    inside the running loop) and the health of every base URL."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._endpoints: dict[str, _Endpoint] = {}

    def answer(self, backend: Backend, entry: ModelEntry, request: AnswerRequest) -> RemoteAnswer:
        return RemoteAnswer(self, backend, entry, request)

    async def embed(self, backend: Backend, entry: ModelEntry, texts: list[str]) -> Embeddings:
        if backend.api == "anthropic":
            raise InvalidRequest(f'remote backend "{backend.name}" speaks Anthropic\'s Messages API, which has no embeddings')
        async with self.post(backend, "/v1/embeddings", {"model": remote_name(entry), "input": texts}) as response:
            try:
                body = await response.json(content_type=None)
                data = sorted(body["data"], key=lambda d: d["index"])
                return Embeddings([[float(x) for x in d["embedding"]] for d in data], _count((body.get("usage") or {}).get("prompt_tokens")), 0)
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError, AttributeError) as e:
                raise RemoteUnavailable(f'remote backend "{backend.name}" sent embeddings this daemon cannot read') from e

    @asynccontextmanager
    async def post(self, backend: Backend, path: str, payload: dict[str, Any]) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST to the backend's best server, failing over to the next one that cannot be
        reached or fails before answering. The server counts this request as in flight
        until the caller leaves the context."""
        key = _api_key(backend)
        if backend.api_key_env and key is None:
            raise RemoteUnavailable(f'remote backend "{backend.name}" needs an API key in the environment variable {backend.api_key_env}, which is not set')
        session = self._client()
        for endpoint in self._candidates(backend):
            endpoint.in_flight += 1
            try:
                response = await self._attempt(session, backend, endpoint, path, payload, key)
                if response is None:
                    continue
                try:
                    yield response
                finally:
                    _let_go(response)
                return
            finally:
                endpoint.in_flight -= 1
        raise RemoteUnavailable(f'remote backend "{backend.name}" is unavailable: none of its {len(backend.base_urls)} server(s) answered')

    async def close(self) -> None:
        probes = [e.probe for e in self._endpoints.values() if e.probe is not None]
        for probe in probes:
            probe.cancel()
        await asyncio.gather(*probes, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No connection limit: answers are long-lived streams, and a pool cap would queue them silently.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE))
        return self._session

    def _candidates(self, backend: Backend) -> list[_Endpoint]:
        """Healthy servers, least busy first; if none is healthy, all of them (one may be
        back before its probe has noticed)."""
        endpoints = [self._endpoints.setdefault(url, _Endpoint(url)) for url in backend.base_urls]
        healthy = sorted((e for e in endpoints if e.healthy), key=lambda e: e.in_flight)
        return healthy or endpoints

    async def _attempt(
        self, session: aiohttp.ClientSession, backend: Backend, endpoint: _Endpoint, path: str, payload: dict[str, Any], key: str | None
    ) -> aiohttp.ClientResponse | None:
        """The server's response, or None (and the server set aside) when it cannot answer;
        raises when the backend rejects the request itself (4xx), which no other server would take."""
        try:
            response = await session.post(endpoint.url + path, json=payload, headers=_auth(backend, key), timeout=_timeout(backend))
        except (aiohttp.ClientError, TimeoutError) as e:
            self._set_aside(backend, endpoint, f"{type(e).__name__}: {e}")
            return None
        if response.status >= 500:
            response.close()
            self._set_aside(backend, endpoint, f"HTTP {response.status}")
            return None
        if response.status >= 400:
            message, param = await _error_detail(response)
            response.close()
            raise _rejection(backend, response.status, message.replace(key, "<key>") if key else message, param)
        endpoint.healthy = True
        return response

    def _set_aside(self, backend: Backend, endpoint: _Endpoint, why: str) -> None:
        if endpoint.healthy:
            log.warning('remote backend "%s": %s failed (%s); set aside until it answers again', backend.name, _shown(endpoint.url), why)
        endpoint.healthy = False
        if endpoint.probe is None or endpoint.probe.done():
            endpoint.probe = asyncio.create_task(self._probe(backend, endpoint))

    async def _probe(self, backend: Backend, endpoint: _Endpoint) -> None:
        """Ask a set-aside server for its models every few seconds until it answers."""
        while not endpoint.healthy:
            await asyncio.sleep(PROBE_INTERVAL)
            if await self._responds(backend, endpoint):
                endpoint.healthy = True
                log.info('remote backend "%s": %s answers again', backend.name, _shown(endpoint.url))

    async def _responds(self, backend: Backend, endpoint: _Endpoint) -> bool:
        try:
            async with self._client().get(endpoint.url + "/v1/models", headers=_auth(backend, _api_key(backend)), timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT)) as r:
                return r.status < 500
        except (aiohttp.ClientError, TimeoutError):
            return False


class RemoteAnswer:
    """An answer from a remote backend. Use as `async with`: entering sends the request, so
    an unreachable backend or a rejected request fails before anything streams."""

    backend: Literal["local", "remote"] = "remote"

    def __init__(self, router: RemoteRouter, backend: Backend, entry: ModelEntry, request: AnswerRequest) -> None:
        self._router = router
        self._backend = backend
        if backend.api == "anthropic":
            self._path, self._payload = anthropic_request(backend, remote_name(entry), request)
        else:
            self._path, self._payload = openai_request(entry, request)
        self._think = request.think
        self._exit = AsyncExitStack()
        self._response: aiohttp.ClientResponse | None = None
        self._started_ns = 0

    async def __aenter__(self) -> RemoteAnswer:
        self._started_ns = time.perf_counter_ns()
        self._response = await self._exit.enter_async_context(self._router.post(self._backend, self._path, self._payload))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._exit.aclose()

    async def events(self) -> AsyncIterator[Event]:
        assert self._response is not None, "enter the answer first"
        name = self._backend.name
        if self._backend.api == "anthropic":
            async for event in anthropic_events(_chunks(self._response, name), name, self._started_ns, _count):
                yield event
            return
        calls = _CallParts(name)
        usage: dict[str, Any] = {}
        reason: str | None = None
        first_ns: int | None = None
        pieces = 0
        async for chunk in _chunks(self._response, name):
            usage = chunk["usage"] if isinstance(chunk.get("usage"), dict) else usage
            choice = _first_choice(chunk)
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            content = _text(delta.get("content")) or _text(choice.get("text"))
            reasoning = _text(delta.get("reasoning")) or _text(delta.get("reasoning_content"))
            calls.feed(delta.get("tool_calls"))
            reason = choice.get("finish_reason") or reason
            if content or reasoning or delta.get("tool_calls"):
                first_ns = first_ns or time.perf_counter_ns()
                pieces += 1
            shown = reasoning if self._think else ""
            if content or shown:
                yield Delta(content, shown)
        if reason is None:
            raise RemoteUnavailable(f'remote backend "{name}" ended the answer without finishing it')
        tool_calls = calls.finish()
        end_ns = time.perf_counter_ns()
        first_ns = first_ns or end_ns
        details = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), dict) else {}
        stats = Stats(
            prompt_tokens=_count(usage.get("prompt_tokens")),
            cached_tokens=_count(details.get("cached_tokens")),
            completion_tokens=_count(usage.get("completion_tokens"), default=pieces),  # without usage: about one token a piece
            prompt_eval_duration_ns=first_ns - self._started_ns,
            eval_duration_ns=end_ns - first_ns,
            total_duration_ns=end_ns - self._started_ns,
            done_reason="length" if reason == "length" else "stop",
        )
        yield Finish(_finish_reason(reason, tool_calls), stats, tool_calls)


class _CallParts:
    """Tool calls as they stream in, by index: id and name once, arguments in pieces of JSON."""

    def __init__(self, backend_name: str) -> None:
        self._backend_name = backend_name
        self._calls: dict[int, dict[str, str]] = {}

    def feed(self, deltas: Any) -> None:
        for d in deltas if isinstance(deltas, list) else ():
            if not isinstance(d, dict):
                continue
            index = d.get("index")
            call = self._calls.setdefault(index if isinstance(index, int) else len(self._calls), {"id": "", "name": "", "arguments": ""})
            function = d.get("function") if isinstance(d.get("function"), dict) else {}
            call["id"] = call["id"] or _text(d.get("id"))
            call["name"] = call["name"] or _text(function.get("name"))
            arguments = function.get("arguments")
            call["arguments"] += arguments if isinstance(arguments, str) else json.dumps(arguments) if isinstance(arguments, dict) else ""

    def finish(self) -> tuple[ToolCall, ...]:
        calls = []
        for _, call in sorted(self._calls.items()):
            try:
                arguments = json.loads(call["arguments"] or "{}")
            except json.JSONDecodeError:
                arguments = None
            if not isinstance(arguments, dict) or not call["name"]:
                raise RemoteUnavailable(f'remote backend "{self._backend_name}" sent a tool call without a name or a JSON object of arguments')
            calls.append(ToolCall(call["id"] or new_call_id(), call["name"], arguments))
        return tuple(calls)


def remote_name(entry: ModelEntry) -> str:
    """The model's name at its backend: `remote_name`, else the name it is declared under
    (less the `:latest` the registry gives untagged names)."""
    return entry.remote_name or entry.name.removesuffix(":latest")


_OPENAI_SAMPLING = frozenset({"temperature", "top_p", "presence_penalty", "frequency_penalty", "seed"})


def openai_request(entry: ModelEntry, r: AnswerRequest) -> tuple[str, dict[str, Any]]:
    """(path, body) of the OpenAI request that asks the backend for this answer."""
    body: dict[str, Any] = {
        "model": remote_name(entry),
        "stream": True,
        "stream_options": {"include_usage": True},
        # Only what the request set: the backend's own defaults stand for the rest.
        **{k: v for k, v in r.sampling.items() if k in _OPENAI_SAMPLING},
    }
    if r.max_tokens is not None:
        body["max_tokens"] = r.max_tokens
    if r.stop:
        body["stop"] = list(r.stop)
    if r.json_schema is not None:
        body["response_format"] = _response_format(r.json_schema)
    if r.messages is not None:
        body["messages"] = [_wire_message(m) for m in r.messages]
        if r.tools is not None and r.tools.offered:
            body["tools"] = [f.as_tool() for f in r.tools.offered]
            body["tool_choice"] = _tool_choice(r.tools)
        return "/v1/chat/completions", body
    if r.fim is not None:
        return "/v1/completions", {**body, "prompt": r.fim.prefix, "suffix": r.fim.suffix}
    return "/v1/completions", {**body, "prompt": r.prompt}


def _response_format(schema: dict[str, Any]) -> dict[str, Any]:
    if schema == {"type": "object"}:  # what json_object (and Ollama's "json") became
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}


def _tool_choice(policy: ToolPolicy) -> Any:
    if policy.mode == "named":
        return {"type": "function", "function": {"name": policy.name}}
    return policy.mode


def _wire_message(message: dict[str, Any]) -> dict[str, Any]:
    """A message as OpenAI servers take it: earlier tool calls' arguments as JSON strings
    (Ollama and Anthropic clients give objects)."""
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return message
    return {**message, "tool_calls": [_wire_call(c) for c in calls]}


def _wire_call(call: Any) -> Any:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or isinstance(function.get("arguments"), str):
        return call
    return {"type": "function", **call, "function": {**function, "arguments": json.dumps(function.get("arguments") or {})}}


async def _chunks(response: aiohttp.ClientResponse, backend_name: str) -> AsyncIterator[dict[str, Any]]:
    """The JSON chunks of a streamed completion up to `[DONE]`. An error the backend sends
    mid-stream, or a dropped connection, becomes RemoteUnavailable."""
    try:
        async for data in _sse_data(response.content):
            if data == "[DONE]":
                return
            try:
                chunk = json.loads(data)
            except json.JSONDecodeError:
                raise RemoteUnavailable(f'remote backend "{backend_name}" streamed something that is not JSON') from None
            if isinstance(chunk, dict) and "error" in chunk:
                raise RemoteUnavailable(f'remote backend "{backend_name}" failed mid-answer: {_detail(chunk, "")[0]}')
            if isinstance(chunk, dict):
                yield chunk
    except (aiohttp.ClientError, TimeoutError) as e:
        raise RemoteUnavailable(f'remote backend "{backend_name}" dropped the connection mid-answer ({type(e).__name__})') from e


async def _sse_data(content: aiohttp.StreamReader) -> AsyncIterator[str]:
    """The `data:` payloads of a Server-Sent Events body, each as soon as it is complete."""
    buffer = b""
    data: list[str] = []
    async for block in content.iter_any():
        *lines, buffer = (buffer + block).split(b"\n")
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
            if not line and data:
                yield "\n".join(data)
                data = []
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
    if data:
        yield "\n".join(data)


async def _error_detail(response: aiohttp.ClientResponse) -> tuple[str, str | None]:
    """(message, param) from an error response, whatever shape the backend gives it."""
    try:
        text = await response.text(errors="replace")
    except (aiohttp.ClientError, TimeoutError):
        return response.reason or f"HTTP {response.status}", None
    try:
        return _detail(json.loads(text), text)
    except json.JSONDecodeError:
        return text.strip()[:500] or response.reason or f"HTTP {response.status}", None


def _detail(body: Any, text: str) -> tuple[str, str | None]:
    """OpenAI's {"error": {"message", "param"}}, Ollama's {"error": "..."}, vLLM's
    {"message"} or FastAPI's {"detail"}."""
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        param = error.get("param")
        return str(error.get("message") or error.get("detail") or text.strip()[:500]), param if isinstance(param, str) else None
    return str(error)[:500], None


def _rejection(backend: Backend, status: int, message: str, param: str | None) -> EngineError:
    """The backend's refusal as this daemon's error, with a status a client understands."""
    said = f'remote backend "{backend.name}": {message}'
    if status in (400, 413, 422):
        return InvalidRequest(said, param)
    if status == 404:
        return ModelNotFound(said)
    if status == 429:
        return Busy(said)
    return RemoteUnavailable(f'remote backend "{backend.name}" refused the request (HTTP {status}): {message}')


def _finish_reason(reason: str, calls: tuple[ToolCall, ...]) -> FinishReason:
    if calls:
        return "tool_calls"
    return "length" if reason == "length" else "stop"


def _first_choice(chunk: dict[str, Any]) -> dict[str, Any]:
    choices = chunk.get("choices")
    return choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _count(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def _api_key(backend: Backend) -> str | None:
    """The key, read from the environment when it is needed (never from models.toml)."""
    if backend.api_key_env is None:
        return None
    return os.environ.get(backend.api_key_env) or None


def _auth(backend: Backend, key: str | None) -> dict[str, str]:
    if backend.api == "anthropic":
        return anthropic_headers(key)
    return {"Authorization": f"Bearer {key}"} if key else {}


def _timeout(backend: Backend) -> aiohttp.ClientTimeout:
    """Connecting gives up soon, to fail over; after that the backend may take `timeout`
    seconds before each piece of the answer, however long the whole answer runs."""
    return aiohttp.ClientTimeout(total=None, sock_connect=min(CONNECT_TIMEOUT, backend.timeout), sock_read=backend.timeout)


def _let_go(response: aiohttp.ClientResponse) -> None:
    """Back to the pool if the body was read to the end; else hang up, so the backend
    stops generating an answer nobody will read."""
    if response.content.at_eof():
        response.release()
    else:
        response.close()


def _shown(url: str) -> str:
    """A URL fit for the log: without any user:password in it."""
    return str(URL(url).with_user(None))
