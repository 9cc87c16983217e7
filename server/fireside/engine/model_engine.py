"""The engine's public face: one `ModelEngine` per model, used from an asyncio loop.

A request enters at `ModelEngine.generate`, is validated here, crosses the pipe to the
model's worker process (engine.worker), is scheduled with other requests
(engine.scheduler) and streams back as a `GenerationStream` of text pieces.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import TracebackType

from fireside.engine.errors import EngineError, error_from_code
from fireside.engine.process import WorkerProcess
from fireside.engine.protocol import (
    Accepted,
    Cancel,
    Chunk,
    Embed,
    Embedded,
    Failed,
    Finished,
    GenerateRequest,
    ModelInfo,
    Render,
    Rendered,
    Stats,
    Submit,
)
from fireside.engine.worker import WorkerSpec


class GenerationStream:
    """The text of one generation as it is produced. `stats` is set once it ends.

    `cancel()` stops generation within one decode step; iteration then ends with
    `stats.done_reason == "cancel"`. Leaving an `async with` block cancels too.
    """

    def __init__(self, worker: WorkerProcess, request_id: int, route: asyncio.Queue[object], load_ns: int) -> None:
        self._worker = worker
        self._id = request_id
        self._route = route
        self._load_ns = load_ns
        self._done = False
        self._cancelled = False
        self.stats: Stats | None = None

    def __aiter__(self) -> GenerationStream:
        return self

    async def __anext__(self) -> str:
        while not self._done:
            message = await self._route.get()
            if isinstance(message, Chunk):
                return message.text
            self._end()
            if isinstance(message, Finished):
                self.stats = replace(message.stats, load_duration_ns=self._load_ns)
            elif isinstance(message, Failed):
                raise error_from_code(message.code, message.message)
        raise StopAsyncIteration

    async def text(self) -> str:
        return "".join([piece async for piece in self])

    def cancel(self) -> None:
        if self._done or self._cancelled:
            return
        self._cancelled = True
        try:
            self._worker.send(Cancel(self._id))
        except EngineError:
            self._end()

    def _end(self) -> None:
        self._done = True
        self._worker.close_route(self._id)

    async def __aenter__(self) -> GenerationStream:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if not self._done:
            self.cancel()
            self._end()


@dataclass(frozen=True)
class Embeddings:
    vectors: list[list[float]]
    prompt_tokens: int
    load_duration_ns: int


class ModelEngine:
    """One model: starts its worker on first use and again after a crash."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self._worker: WorkerProcess | None = None
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)

    @property
    def loaded(self) -> bool:
        return self._worker is not None and self._worker.alive

    @property
    def pid(self) -> int | None:
        return self._worker.pid if self.loaded and self._worker else None

    @property
    def info(self) -> ModelInfo | None:
        return self._worker.info if self.loaded and self._worker else None

    async def load(self) -> tuple[WorkerProcess, int]:
        """The running worker, and the load time if this call had to start it (else 0)."""
        async with self._lock:
            if self._worker is not None and self._worker.alive:
                return self._worker, 0
            worker = WorkerProcess(self.spec)
            try:
                info = await worker.start()
            except BaseException:
                await worker.stop()
                raise
            self._worker = worker
            return worker, info.load_duration_ns

    async def generate(self, request: GenerateRequest) -> GenerationStream:
        """Start a generation. Returns once the worker has accepted it, so a bad request
        (too long, no FIM tokens, invalid grammar) raises here, before any text streams."""
        request.validate()
        worker, load_ns = await self.load()
        request_id = next(self._ids)
        route = worker.open_route(request_id)
        try:
            worker.send(Submit(request_id, request))
            answer = await route.get()
        except BaseException:
            # Cancelled while the worker was busy (a long prefill reads no messages):
            # the request waits in its inbox, so withdraw it, or it runs for nobody.
            worker.close_route(request_id)
            with contextlib.suppress(EngineError):
                worker.send(Cancel(request_id))
            raise
        if isinstance(answer, Failed):
            worker.close_route(request_id)
            raise error_from_code(answer.code, answer.message)
        assert isinstance(answer, Accepted)
        return GenerationStream(worker, request_id, route, load_ns)

    async def embed(self, texts: list[str], truncate: bool = False) -> Embeddings:
        message, load_ns = await self._ask(lambda request_id: Embed(request_id, tuple(texts), truncate))
        assert isinstance(message, Embedded)
        return Embeddings([list(v) for v in message.vectors], message.prompt_tokens, load_ns)

    async def render(self, request: GenerateRequest) -> Rendered:
        """The prompt tokens and text a request would be evaluated with."""
        request.validate()
        message, _ = await self._ask(lambda request_id: Render(request_id, request))
        assert isinstance(message, Rendered)
        return message

    async def _ask(self, make: Callable[[int], object]) -> tuple[object, int]:
        """Send a one-answer message to the worker; return the answer and any load time."""
        worker, load_ns = await self.load()
        request_id = next(self._ids)
        route = worker.open_route(request_id)
        try:
            worker.send(make(request_id))
            message = await route.get()
        finally:
            worker.close_route(request_id)
        if isinstance(message, Failed):
            raise error_from_code(message.code, message.message)
        return message, load_ns

    async def unload(self) -> None:
        """End the worker process, returning all its memory."""
        async with self._lock:
            if self._worker is not None:
                await self._worker.stop()
                self._worker = None
