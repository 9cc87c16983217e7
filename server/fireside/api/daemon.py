"""The daemon's one server object: configuration, the model registry, the pool of
local models, remote backends and telemetry. Handlers reach it as `request.app[DAEMON]`."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import replace

from aiohttp import web

from fireside.api.answers import AnswerRequest, AnswerStream, LocalAnswer
from fireside.api.remote import RemoteRouter
from fireside.config import DaemonSettings, Paths, parse_duration
from fireside.engine import Embeddings
from fireside.engine.errors import InvalidRequest
from fireside.engine.pool import ModelPool
from fireside.engine.worker import WorkerSpec
from fireside.models.registry import ModelEntry, Registry, RegistryFile
from fireside.models.specs import worker_spec
from fireside.telemetry import RequestRecord, Telemetry


class Daemon:
    def __init__(self, settings: DaemonSettings, paths: Paths) -> None:
        self.settings = settings
        self.paths = paths
        self._registry = RegistryFile(paths.user_models_toml)
        self.pool = ModelPool(self._spec, settings.max_loaded_models, settings.max_queue)
        self.remote = RemoteRouter()
        self.telemetry = Telemetry(lambda: self.pool.queue_depth, lambda: len(self.pool.residents))

    def registry(self) -> Registry:
        return self._registry.current()

    def model(self, name: str) -> ModelEntry:
        return self.registry().get(name)

    def keep_alive(self, entry: ModelEntry, requested: float | None) -> float:
        """The request's keep-alive, else the model's own (models.toml), else the daemon's."""
        if requested is not None:
            return requested
        if entry.keep_alive is not None:
            return parse_duration(entry.keep_alive)
        return self.settings.keep_alive

    def answer(self, request: AnswerRequest) -> AbstractAsyncContextManager[AnswerStream]:
        """Where every generation goes: the local pool, or the model's remote backend."""
        registry = self.registry()
        entry = registry.get(request.model)
        if entry.backend is not None:
            return self.remote.answer(registry.backends[entry.backend], entry, request)
        return LocalAnswer(self.pool, entry.name, self.keep_alive(entry, request.keep_alive), request)

    async def embed(self, model: str, texts: list[str], truncate: bool, keep_alive: float | None, dimensions: int | None = None) -> Embeddings:
        """Embeddings from the model, local or remote; `dimensions`, if given, must be the model's."""
        registry = self.registry()
        entry = registry.get(model)
        if entry.backend is not None:
            result = await self.remote.embed(registry.backends[entry.backend], entry, texts)
        else:
            async with self.pool.use(entry.name, self.keep_alive(entry, keep_alive)) as lease:
                result = await lease.engine.embed(texts, truncate)
                result = replace(result, load_duration_ns=result.load_duration_ns or lease.load_duration_ns)
        if dimensions is not None and result.vectors and dimensions != len(result.vectors[0]):
            raise InvalidRequest(f"this model's embeddings have {len(result.vectors[0])} dimensions, not {dimensions}", param="dimensions")
        return result

    def _spec(self, name: str) -> WorkerSpec:
        s = self.settings
        overrides = {"num_parallel": s.num_parallel, "num_thread": s.num_thread, "num_ctx": s.num_ctx}
        return worker_spec(name, self.paths, **{k: v for k, v in overrides.items() if v})

    async def close(self) -> None:
        await self.remote.close()
        await self.pool.close()


DAEMON = web.AppKey("daemon", Daemon)
_RECORD = "fireside.record"


def start_record(request: web.Request) -> RequestRecord:
    record = RequestRecord(request.method, request.path)
    request[_RECORD] = record
    return record


def record_for(request: web.Request, model: str) -> RequestRecord:
    """The request's log record, now naming its model."""
    record: RequestRecord = request[_RECORD]
    record.model = model
    return record
