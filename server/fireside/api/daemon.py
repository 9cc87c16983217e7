"""The daemon's one server object: configuration, the model registry, the pool of
local models, remote backends and telemetry. Handlers reach it as `request.app[DAEMON]`."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import replace

from aiohttp import web

from fireside.api.answers import AnswerRequest, AnswerStream, LocalAnswer
from fireside.api.remote import RemoteRouter
from fireside.config import DaemonSettings, Paths, parse_duration
from fireside.engine import Embeddings
from fireside.engine.errors import EgressBlocked, InvalidRequest
from fireside.engine.pool import ModelPool
from fireside.engine.worker import WorkerSpec
from fireside.models.fetch import HubSettings
from fireside.models.library import InstalledModel, Library
from fireside.models.registry import Backend, ModelEntry, Registry, RegistryFile, normalize_name
from fireside.models.specs import planned_spec
from fireside.models.store import ModelStore
from fireside.telemetry import RequestRecord, Telemetry

log = logging.getLogger("fireside.daemon")


class Daemon:
    def __init__(self, settings: DaemonSettings, paths: Paths) -> None:
        self.settings = settings
        self.paths = paths
        self._registry = RegistryFile(paths.user_models_toml)
        self.library = Library(ModelStore(paths.models_dir), HubSettings.from_env())
        self.pool = ModelPool(self._spec, settings.max_loaded_models, settings.max_queue)
        self.remote = RemoteRouter()
        self.telemetry = Telemetry(lambda: self.pool.queue_depth, lambda: len(self.pool.residents))

    def registry(self) -> Registry:
        return self._registry.current()

    def remote_entry(self, name: str) -> ModelEntry | None:
        """The models.toml entry of `name` if a remote backend serves it."""
        entry = self.registry().models.get(normalize_name(name))
        return entry if entry is not None and entry.backend is not None else None

    def _backend(self, entry: ModelEntry) -> Backend:
        """The backend to send a request for `entry` to, unless nothing may leave the machine."""
        if self.settings.offline:
            raise EgressBlocked(f"{entry.name} is served by the remote backend {entry.backend!r}, and FIRESIDE_OFFLINE is set: nothing leaves this machine")
        return self.registry().backends[entry.backend or ""]

    async def usable_models(self) -> dict[str, str | None]:
        """Every model a request may name, with its backend (None: local): installed ones,
        those models.toml declares with a source on this machine, and remote ones."""
        registry = self.registry()
        stored = await asyncio.to_thread(self.library.store.models)
        usable: dict[str, str | None] = {m.name: None for m in stored}
        for entry in registry.models.values():
            if entry.backend is not None or self.library.installs_offline(entry):
                usable.setdefault(entry.name, entry.backend)
        return usable

    async def installed(self, name: str) -> InstalledModel:
        """A local model by name; one that models.toml declares with a source on this
        machine is installed on first use."""
        return await self.library.installed(name, self.registry())

    def keep_alive(self, model: InstalledModel, requested: float | None) -> float:
        """The request's keep-alive, else the model's own parameter, else the daemon's."""
        if requested is not None:
            return requested
        if "keep_alive" in model.parameters:
            return parse_duration(model.parameters["keep_alive"])
        return self.settings.keep_alive

    def answer(self, request: AnswerRequest) -> AbstractAsyncContextManager[AnswerStream]:
        """Where every generation goes: the local pool, or the model's remote backend."""
        entry = self.remote_entry(request.model)
        if entry is not None:
            return self.remote.answer(self._backend(entry), entry, request)
        return LocalAnswer(self.pool, lambda: self.installed(request.model), lambda m: self.keep_alive(m, request.keep_alive), request)

    async def embed(self, model: str, texts: list[str], truncate: bool, keep_alive: float | None, dimensions: int | None = None) -> Embeddings:
        """Embeddings from the model, local or remote; `dimensions`, if given, must be the model's."""
        entry = self.remote_entry(model)
        if entry is not None:
            result = await self.remote.embed(self._backend(entry), entry, texts)
        else:
            local = await self.installed(model)
            async with self.pool.use(local.name, self.keep_alive(local, keep_alive)) as lease:
                result = await lease.engine.embed(texts, truncate)
                result = replace(result, load_duration_ns=result.load_duration_ns or lease.load_duration_ns)
        if dimensions is not None and result.vectors and dimensions != len(result.vectors[0]):
            raise InvalidRequest(f"this model's embeddings have {len(result.vectors[0])} dimensions, not {dimensions}", param="dimensions")
        return result

    async def _spec(self, name: str) -> WorkerSpec:
        s = self.settings
        model = await self.installed(name)
        spec, plan = await asyncio.to_thread(planned_spec, model, {"num_parallel": s.num_parallel or None, "num_thread": s.num_thread or None, "num_ctx": s.num_ctx or None})
        log.info("loading %s: %s", name, plan.reason)
        return spec

    async def close(self) -> None:
        await self.library.close()
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
