"""The daemon's model scheduler: which local models are resident, for how long, and
how many requests may wait for them.

A model loads on first use and stays loaded for its keep-alive after its last request
(0 unloads it as soon as it is idle, forever never). At most `max_loaded_models` are
resident; loading another evicts the least recently used idle one, or waits until one
is idle. Requests beyond a model's parallel sequences wait inside its worker; beyond
`max_queue` such waiting requests in all, new ones are refused with `Busy`.

A request's own `num_ctx` and sampling never reload a model: the engine narrows the
context per request, and every request has its own sampler.

Lock order: `ModelPool._lock` (membership: loading and evicting) is taken before a
`ModelEngine`'s own lock (its worker's start and stop), never the other way round. The
fast path, a request for a resident model, takes neither until the worker is running.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fireside.config import FOREVER
from fireside.engine.errors import Busy
from fireside.engine.model_engine import ModelEngine
from fireside.engine.worker import WorkerSpec


@dataclass
class Resident:
    """A model the pool holds: its engine, its requests in flight and its expiry."""

    name: str
    engine: ModelEngine
    keep_alive: float
    active: int = 0
    last_used: float = field(default_factory=time.monotonic)
    timer: asyncio.TimerHandle | None = None

    @property
    def parallel(self) -> int:
        return self.engine.spec.settings.num_parallel

    @property
    def waiting(self) -> int:
        return max(0, self.active - self.parallel)

    def until(self) -> float | None:
        """Wall-clock time the model unloads if no request comes (None: never)."""
        if self.keep_alive == FOREVER:
            return None
        idle_from = time.time() if self.active else time.time() - (time.monotonic() - self.last_used)
        return idle_from + self.keep_alive


@dataclass(frozen=True)
class Lease:
    """One request's hold on a resident model; `load_duration_ns` is non-zero for the
    request that had to start the worker."""

    engine: ModelEngine
    load_duration_ns: int


class ModelPool:
    def __init__(
        self,
        make_spec: Callable[[str], Awaitable[WorkerSpec]],
        max_loaded_models: int,
        max_queue: int,
    ) -> None:
        self._make_spec = make_spec
        self._max_loaded = max_loaded_models
        self._max_queue = max_queue
        self._models: dict[str, Resident] = {}
        self._lock = asyncio.Lock()
        self._changed = asyncio.Condition(self._lock)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def residents(self) -> list[Resident]:
        return [r for r in self._models.values() if r.engine.loaded]

    @property
    def queue_depth(self) -> int:
        return sum(r.waiting for r in self._models.values())

    @asynccontextmanager
    async def use(self, name: str, keep_alive: float) -> AsyncIterator[Lease]:
        """Hold `name` (a normalized registry name) loaded for the duration of a request."""
        resident = await self._acquire(name, keep_alive)
        try:
            _, load_ns = await resident.engine.load()
            yield Lease(resident.engine, load_ns)
        finally:
            self._release(resident)

    async def unload(self, name: str) -> bool:
        """Unload a model now if it is idle, else as soon as its requests finish."""
        resident = self._models.get(name)
        if resident is None:
            return False
        resident.keep_alive = 0.0
        if resident.active == 0:
            await self._expire(name, resident)
        return True

    async def close(self) -> None:
        """End every worker (daemon shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        async with self._lock:
            for resident in self._models.values():
                if resident.timer:
                    resident.timer.cancel()
            await asyncio.gather(*(r.engine.unload() for r in self._models.values()), return_exceptions=True)
            self._models.clear()

    async def _acquire(self, name: str, keep_alive: float) -> Resident:
        resident = self._models.get(name)
        if resident is not None and resident.active >= resident.parallel and self.queue_depth >= self._max_queue:
            raise Busy(f"server busy: {self.queue_depth} requests are already waiting; retry shortly")
        if resident is None:
            spec = await self._make_spec(name)  # may install the model: outside the lock
            async with self._lock:
                resident = self._models.get(name)
                if resident is None:
                    resident = await self._admit(spec, keep_alive)
        resident.active += 1
        resident.keep_alive = keep_alive
        if resident.timer:
            resident.timer.cancel()
            resident.timer = None
        return resident

    async def _admit(self, spec: WorkerSpec, keep_alive: float) -> Resident:
        """Make room for a new model (holding the pool lock) and register it; if another
        request registered it while this one waited for room, join that one."""
        name = spec.name
        while len(self._models) >= self._max_loaded:
            if (joined := self._models.get(name)) is not None:
                return joined
            idle = [r for r in self._models.values() if r.active == 0]
            if idle:
                victim = min(idle, key=lambda r: r.last_used)
                await self._drop(victim)
            else:
                await self._changed.wait()
        if (joined := self._models.get(name)) is not None:
            return joined
        resident = Resident(name, ModelEngine(spec), keep_alive)
        self._models[name] = resident
        return resident

    def _release(self, resident: Resident) -> None:
        resident.active -= 1
        resident.last_used = time.monotonic()
        if resident.active > 0:
            return
        if resident.keep_alive <= 0 or not resident.engine.loaded:
            self._spawn(self._expire(resident.name, resident))
        elif resident.keep_alive != FOREVER:
            loop = asyncio.get_running_loop()
            resident.timer = loop.call_later(resident.keep_alive, lambda: self._spawn(self._expire(resident.name, resident)))
        self._spawn(self._notify())

    async def _expire(self, name: str, resident: Resident) -> None:
        async with self._lock:
            if self._models.get(name) is resident and resident.active == 0:
                await self._drop(resident)
                self._changed.notify_all()

    async def _drop(self, resident: Resident) -> None:
        if resident.timer:
            resident.timer.cancel()
        del self._models[resident.name]
        await resident.engine.unload()

    async def _notify(self) -> None:
        async with self._lock:
            self._changed.notify_all()

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
