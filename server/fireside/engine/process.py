"""The parent's side of a model worker: spawning it, routing its messages, noticing its death.

Messages arrive on the event loop through `add_reader` on the pipe; each request has a
route (an asyncio.Queue) that receives its Chunk/Finished/Failed/Embedded messages.
When the pipe closes unexpectedly every open route gets a WorkerCrashed failure.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
from multiprocessing.connection import Connection

from fireside.engine.errors import ModelLoadError, WorkerCrashed, error_from_code
from fireside.engine.protocol import LOAD_REQUEST_ID, Failed, Finished, Loaded, ModelInfo, Shutdown
from fireside.engine.worker import WorkerSpec

log = logging.getLogger(__name__)


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"was killed by {name}"
    return f"exited with status {exitcode}"


class WorkerProcess:
    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self._conn: Connection | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._routes: dict[int, asyncio.Queue[object]] = {}
        self._loaded: asyncio.Future[ModelInfo] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self.alive = False
        self.info: ModelInfo | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def start(self) -> ModelInfo:
        """Start the process and wait until its model is loaded (or failed to load).

        A fresh interpreter (`python -m fireside.engine.run_worker`), not fork or
        multiprocessing's spawn: nothing of the parent's loop, threads or main module
        is copied or re-imported. The spec is the first message on the socket.
        """
        self._loop = asyncio.get_running_loop()
        self._loaded = self._loop.create_future()
        parent, child = socket.socketpair()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "fireside.engine.run_worker", str(child.fileno())],
                pass_fds=[child.fileno()],
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_source_root(), os.environ.get("PYTHONPATH")]))},
            )
        finally:
            child.close()
        self._conn = Connection(parent.detach())
        self._conn.send(self.spec)
        self.alive = True
        self._loop.add_reader(self._conn.fileno(), self._on_readable)
        self.info = await self._loaded
        return self.info

    def open_route(self, request_id: int) -> asyncio.Queue[object]:
        route: asyncio.Queue[object] = asyncio.Queue()
        self._routes[request_id] = route
        return route

    def close_route(self, request_id: int) -> None:
        self._routes.pop(request_id, None)

    def send(self, message: object) -> None:
        if not self.alive or self._conn is None:
            raise WorkerCrashed(f"the model worker for {self.spec.name} is not running")
        try:
            self._conn.send(message)
        except OSError as e:
            raise WorkerCrashed(f"the model worker for {self.spec.name} is gone: {e}") from e

    async def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to exit; kill it if it does not within `timeout` seconds."""
        self._stopping = True
        if self.alive and self._conn is not None:
            try:
                self._conn.send(Shutdown())
            except OSError:
                pass
        if self._process is not None:
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(None, self._process.wait, timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                await loop.run_in_executor(None, self._process.wait)
        self._close_pipe()

    def _on_readable(self) -> None:
        assert self._conn is not None
        try:
            while self._conn.poll():
                received = self._conn.recv()
                for message in received if isinstance(received, list) else (received,):
                    self._dispatch(message)
        except (EOFError, OSError):
            self._on_exit()

    def _dispatch(self, message: object) -> None:
        if isinstance(message, Loaded):
            if self._loaded and not self._loaded.done():
                self._loaded.set_result(message.info)
        elif isinstance(message, Failed) and message.request_id == LOAD_REQUEST_ID:
            if self._loaded and not self._loaded.done():
                self._loaded.set_exception(error_from_code(message.code, message.message))
        else:
            route = self._routes.get(getattr(message, "request_id", LOAD_REQUEST_ID))
            if route is not None:
                route.put_nowait(message)
            elif isinstance(message, Finished) and message.stats.done_reason == "cancel":
                # Its reader left (a client hung up): say how far the model got.
                log.info("generation %d cancelled after %d tokens", message.request_id, message.stats.completion_tokens)

    def _on_exit(self) -> None:
        self._close_pipe()
        assert self._process is not None
        try:
            exitcode: int | None = self._process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            exitcode = None
        how = _describe_exit(exitcode)
        if self._loaded and not self._loaded.done():
            self._loaded.set_exception(ModelLoadError(f"the worker for {self.spec.name} {how} while loading the model"))
        if self._stopping:
            return
        error = WorkerCrashed(
            f"the model worker for {self.spec.name} {how}; the request was lost and the next one starts a new worker"
        )
        for request_id, route in self._routes.items():
            route.put_nowait(Failed(request_id, error.code, error.message))
        self._routes.clear()

    def _close_pipe(self) -> None:
        if not self.alive or self._conn is None:
            return
        self.alive = False
        if self._loop is not None:
            self._loop.remove_reader(self._conn.fileno())
        self._conn.close()


def _source_root() -> str:
    """The directory holding the `fireside` package, so the worker imports this same copy."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
