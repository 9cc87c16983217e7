"""The one protocol every handler speaks: an `AnswerRequest` in, a stream of `Delta`s
and one `Finish` out.

OpenAI, Ollama, Anthropic and Responses handlers translate their wire format into an
`AnswerRequest` and the events back into their own; none of them knows whether the model
runs here (`LocalAnswer`, over the engine) or on a remote backend (`api.remote`).
Tool calls and reasoning are recovered here, once, for every protocol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, Protocol

from fireside.api.reasoning import ThinkSplitter
from fireside.api.tools import CallDetector, ToolCall, ToolPolicy, chat_messages, parse_calls
from fireside.engine import FimInput, GenerateRequest, GenerationStream, SamplingOptions, Stats
from fireside.engine.pool import ModelPool
from fireside.models.library import InstalledModel

FinishReason = Literal["stop", "length", "tool_calls", "cancel"]
_SAMPLING_NAMES = tuple(f.name for f in fields(SamplingOptions))


@dataclass(frozen=True)
class AnswerRequest:
    """A generation as the daemon understands it, whatever protocol it came in by.

    Exactly one of `messages` (chat, OpenAI-shaped), `prompt` (raw text) or `fim`.
    `keep_alive` is seconds (inf = forever); None takes the model's or daemon's default.
    What the request leaves unset (sampling, limit, stop) comes from the model's parameters.
    """

    model: str
    messages: tuple[dict[str, Any], ...] | None = None
    prompt: str | None = None
    fim: FimInput | None = None
    sampling: Mapping[str, float | int] = field(default_factory=dict)  # what the request set
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    json_schema: dict[str, Any] | None = None
    tools: ToolPolicy | None = None
    num_ctx: int | None = None
    truncate: bool = False
    keep_alive: float | None = None
    think: bool = True


@dataclass(frozen=True)
class Delta:
    content: str = ""
    reasoning: str = ""


@dataclass(frozen=True)
class Finish:
    reason: FinishReason
    stats: Stats
    tool_calls: tuple[ToolCall, ...] = ()


Event = Delta | Finish


class AnswerStream(Protocol):
    backend: Literal["local", "remote"]

    def events(self) -> AsyncIterator[Event]: ...


def _finish_reason(stats: Stats, calls: list[ToolCall]) -> FinishReason:
    if calls:
        return "tool_calls"
    return "length" if stats.done_reason == "length" else "cancel" if stats.done_reason == "cancel" else "stop"


class LocalAnswer:
    """An answer from a model in this daemon's pool. Use as `async with`: entering loads
    the model and starts generation, so a bad request fails before anything streams."""

    backend: Literal["local", "remote"] = "local"

    def __init__(
        self,
        pool: ModelPool,
        find: Callable[[], Awaitable[InstalledModel]],
        keep_alive: Callable[[InstalledModel], float],
        request: AnswerRequest,
    ) -> None:
        self._pool = pool
        self._find = find
        self._keep_alive = keep_alive
        self._request = request
        self._exit = AsyncExitStack()
        self._stream: GenerationStream | None = None
        self._load_ns = 0

    async def __aenter__(self) -> LocalAnswer:
        model = await self._find()
        async with AsyncExitStack() as stack:
            lease = await stack.enter_async_context(self._pool.use(model.name, self._keep_alive(model)))
            self._load_ns = lease.load_duration_ns
            knows_tools = bool(lease.engine.info and lease.engine.info.chat_template and "tools" in lease.engine.info.chat_template)
            self._stream = await stack.enter_async_context(await lease.engine.generate(self._engine_request(model, knows_tools)))
            self._exit = stack.pop_all()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._exit.aclose()

    def _engine_request(self, model: InstalledModel, template_knows_tools: bool) -> GenerateRequest:
        """The request for the engine, with what it leaves unset taken from the model's
        Modelfile: sampling, token limit, stop strings, system prompt and messages."""
        r = self._request
        params = model.parameters
        sampling = SamplingOptions(**{k: params[k] for k in _SAMPLING_NAMES if k in params}, **r.sampling)  # type: ignore[arg-type]
        sampling.validate()
        policy = r.tools
        json_schema = policy.call_schema() if policy is not None and policy.forced else r.json_schema
        messages = None
        tools = None
        if r.messages is not None:
            given = list(r.messages)
            preset = [{"role": m.role, "content": m.content} for m in model.messages]
            if model.system and not any(m.get("role") == "system" for m in given):
                preset.insert(0, {"role": "system", "content": model.system})
            messages = tuple(chat_messages(preset + given, policy, template_knows_tools))
            if policy is not None and policy.offered and template_knows_tools:
                tools = tuple(f.as_tool() for f in policy.offered)
        limit = params.get("num_predict")
        return GenerateRequest(
            prompt=r.prompt,
            messages=messages,
            tools=tools,
            fim=r.fim,
            sampling=sampling,
            max_tokens=r.max_tokens or (limit if isinstance(limit, int) and limit > 0 else None),
            stop=r.stop or tuple(params.get("stop", ())),
            json_schema=json_schema,
            num_ctx=r.num_ctx,
            truncate=r.truncate,
        )

    async def events(self) -> AsyncIterator[Event]:
        assert self._stream is not None, "enter the answer first"
        policy = self._request.tools
        thinking = ThinkSplitter() if self._request.messages is not None else None
        calls = CallDetector(policy)
        answer_text: list[str] = []
        async for piece in self._stream:
            content, reasoning = thinking.feed(piece) if thinking else (piece, "")
            answer_text.append(content)
            shown = calls.feed(content)
            if shown or reasoning:
                yield Delta(shown, reasoning if self._request.think else "")
        content, reasoning = thinking.finish() if thinking else ("", "")
        answer_text.append(content)
        shown = calls.feed(content)
        # Only an answer held back from the start can be a call: streamed prose stays prose.
        tool_calls = parse_calls(calls.held, policy) if policy is not None and calls.held else []
        leftover = shown + ("" if tool_calls else calls.held)
        if leftover or (reasoning and self._request.think):
            yield Delta(leftover, reasoning if self._request.think else "")
        stats = self._stream.stats or Stats()
        # As Ollama reports it: the total includes loading the model for this request.
        stats = replace(stats, load_duration_ns=self._load_ns, total_duration_ns=stats.total_duration_ns + self._load_ns)
        yield Finish(_finish_reason(stats, tool_calls), stats, tuple(tool_calls))
