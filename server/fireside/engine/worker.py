"""The model worker: a process that owns one loaded model and runs its scheduler.

A crash, abort or out-of-memory inside llama.cpp ends this process only; the parent
(engine.process) sees the pipe close and fails the requests that were in flight.

Threads: a reader thread moves messages from the pipe into a queue, so a parent's
large prompt never waits for a decode step; the main thread owns every llama.cpp call.
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from fireside.engine.errors import EngineError
from fireside.engine.protocol import (
    LOAD_REQUEST_ID,
    Cancel,
    Embed,
    Embedded,
    Failed,
    Loaded,
    ModelInfo,
    Render,
    Shutdown,
    Submit,
)
from fireside.engine.settings import LoadSettings


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs to load its model; pickled into the new process."""

    name: str
    path: Path
    settings: LoadSettings
    template: str | None = None
    adapters: tuple[Path, ...] = ()  # LoRA GGUFs applied at full strength


def _read_pipe(conn: Connection, inbox: queue.Queue[object]) -> None:
    try:
        while True:
            inbox.put(conn.recv())
    except (EOFError, OSError):
        inbox.put(Shutdown())  # the parent is gone: nobody is left to answer


def worker_main(conn: Connection) -> None:
    """Serve one model over `conn`; the first message is its WorkerSpec."""
    spec = conn.recv()
    assert isinstance(spec, WorkerSpec)
    import llama_cpp as ll

    from fireside.engine.embedder import Embedder
    from fireside.engine.llama_model import LlamaLog, LlamaModel
    from fireside.engine.prompt import PromptBuilder
    from fireside.engine.scheduler import Scheduler

    log = LlamaLog(verbose=bool(os.environ.get("FIRESIDE_DEBUG")))
    ll.llama_backend_init()
    try:
        model = LlamaModel(spec.path, spec.settings, log, spec.adapters)
        prompts = PromptBuilder(model, spec.template)
    except EngineError as e:
        conn.send(Failed(LOAD_REQUEST_ID, e.code, e.message))
        return
    fim = prompts.fim_tokens
    conn.send(
        Loaded(
            ModelInfo(
                name=spec.name,
                n_ctx_train=model.n_ctx_train,
                n_ctx_per_seq=model.n_ctx_seq,
                n_parallel=model.n_parallel,
                n_embd=model.n_embd,
                n_vocab=model.n_vocab,
                has_fim=fim is not None,
                has_fim_repo=fim is not None and fim.has_repo_context,
                chat_template=prompts.template_source,
                load_duration_ns=model.load_duration_ns,
                allocations=tuple(model.allocations.items()),
            )
        )
    )
    inbox: queue.Queue[object] = queue.Queue()
    threading.Thread(target=_read_pipe, args=(conn, inbox), daemon=True, name="pipe-reader").start()
    # Messages of one loop turn go out as one list: one pickle and one wake-up of the
    # parent per decode step instead of one per stream, which matters when the parent
    # and llama.cpp's threads share two cores.
    outbox: list[object] = []
    scheduler = Scheduler(model, prompts, outbox.append)
    embedder = Embedder(model)
    try:
        while True:
            # Block only when idle; while generating, look at the inbox between steps
            # so a cancel takes effect within one decode step.
            messages = [] if scheduler.busy else [inbox.get()]
            while True:
                try:
                    messages.append(inbox.get_nowait())
                except queue.Empty:
                    break
            for msg in messages:
                if isinstance(msg, Shutdown):
                    return
                if isinstance(msg, Submit):
                    scheduler.submit(msg.request_id, msg.request)
                elif isinstance(msg, Render):
                    scheduler.render(msg.request_id, msg.request)
                elif isinstance(msg, Cancel):
                    scheduler.cancel(msg.request_id)
                elif isinstance(msg, Embed):
                    try:
                        vectors, n = embedder.embed(msg.texts, msg.truncate)
                        outbox.append(Embedded(msg.request_id, tuple(vectors), n))
                    except EngineError as e:
                        outbox.append(Failed(msg.request_id, e.code, e.message))
            try:
                scheduler.step()
            except EngineError as e:
                scheduler.fail_all(e)
            except Exception as e:  # a bug must not leave requests hanging
                scheduler.fail_all(EngineError(f"internal error in the model worker: {e!r}"))
            if outbox:
                conn.send(list(outbox))
                outbox.clear()
    except (BrokenPipeError, ConnectionResetError):
        return
    finally:
        scheduler.close()
        embedder.close()
        model.close()

