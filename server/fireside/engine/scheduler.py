"""Continuous batching inside a worker: every step is one `llama_decode` over all sequences.

Each step feeds the last sampled token of every generating request and fills the rest of
the batch with prompt chunks of newly admitted requests (oldest first), so a long prompt
never stops running generations for more than one step; steps are sized to last about
half a second (step_budget), so a cancel never waits behind a whole long prompt. Requests wait in a FIFO queue
until a sequence slot is free; admission reuses the longest cached prefix (prefix_reuse).

Called only from the worker's main thread; it emits protocol messages through `emit`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from fireside.engine.batch import Batch
from fireside.engine.errors import EngineError
from fireside.engine.grammar import json_schema_grammar
from fireside.engine.llama_model import LlamaModel
from fireside.engine.prefix_reuse import SlotView, plan_reuse
from fireside.engine.prompt import PromptBuilder
from fireside.engine.protocol import Accepted, Chunk, DoneReason, Failed, Finished, GenerateRequest, Rendered, Stats
from fireside.engine.sampler import Sampler
from fireside.engine.step_budget import StepBudget
from fireside.engine.text_stream import TextStream

Emit = Callable[[object], None]


@dataclass
class Job:
    """A request inside the worker: its tokens, its sampler and how far it has got."""

    request_id: int
    prompt: list[int]
    truncated: int
    ctx_limit: int
    max_tokens: int
    sampler: Sampler
    text: TextStream
    submitted_ns: int
    admitted_ns: int = 0
    first_token_ns: int = 0
    n_fed: int = 0  # prompt tokens in the KV cache, reused or evaluated
    cached_tokens: int = 0
    generated: int = 0
    next_token: int | None = None  # sampled, to be fed in the next step

    @property
    def prefilling(self) -> bool:
        return self.n_fed < len(self.prompt)


@dataclass
class Slot:
    """A llama.cpp sequence id and the tokens its KV cells hold (position i holds cached[i])."""

    seq_id: int
    cached: list[int] = field(default_factory=list)
    job: Job | None = None
    last_used: float = 0.0


@dataclass
class _Fed:
    slot: Slot
    tokens: list[int]
    is_prompt: bool


class Scheduler:
    def __init__(self, model: LlamaModel, prompts: PromptBuilder, emit: Emit) -> None:
        self._model = model
        self._prompts = prompts
        self._emit = emit
        self._slots = [Slot(seq_id) for seq_id in range(model.n_parallel)]
        self._queue: deque[Job] = deque()
        self._batch = Batch(model.n_batch)
        self._budget = StepBudget(model.n_batch)

    @property
    def busy(self) -> bool:
        return bool(self._queue) or any(s.job for s in self._slots)

    def submit(self, request_id: int, request: GenerateRequest) -> None:
        """Tokenize and queue a request; a bad one is answered with Failed at once."""
        submitted = time.perf_counter_ns()
        ctx_limit = self._ctx_limit(request)
        try:
            prompt = self._prompts.build(request, ctx_limit)
            grammar = request.grammar
            if request.json_schema is not None:
                grammar = json_schema_grammar(request.json_schema)
            sampler = Sampler(self._model, request.sampling, grammar, ctx_limit)
        except EngineError as e:
            self._emit(Failed(request_id, e.code, e.message))
            return
        self._emit(Accepted(request_id))
        self._queue.append(
            Job(
                request_id=request_id,
                prompt=prompt.tokens,
                truncated=prompt.truncated,
                ctx_limit=ctx_limit,
                max_tokens=request.max_tokens or ctx_limit,
                sampler=sampler,
                text=TextStream(request.stop),
                submitted_ns=submitted,
            )
        )

    def render(self, request_id: int, request: GenerateRequest) -> None:
        """Answer with the prompt `submit` would evaluate for this request."""
        try:
            prompt = self._prompts.build(request, self._ctx_limit(request))
        except EngineError as e:
            self._emit(Failed(request_id, e.code, e.message))
            return
        text = b"".join(self._model.token_bytes(t) for t in prompt.tokens).decode("utf-8", errors="replace")
        self._emit(Rendered(request_id, tuple(prompt.tokens), text, prompt.truncated))

    def _ctx_limit(self, request: GenerateRequest) -> int:
        """A request may narrow the loaded per-sequence context, never widen it."""
        return min(request.num_ctx or self._model.n_ctx_seq, self._model.n_ctx_seq)

    def cancel(self, request_id: int) -> None:
        for job in self._queue:
            if job.request_id == request_id:
                self._queue.remove(job)
                job.sampler.close()
                self._emit(Finished(request_id, self._stats(job, "cancel")))
                return
        for slot in self._slots:
            if slot.job and slot.job.request_id == request_id:
                self._finish(slot, "cancel")
                return

    def fail_all(self, error: EngineError) -> None:
        """After an unexpected failure: answer every request and forget the KV cache."""
        for slot in self._slots:
            if slot.job:
                slot.job.sampler.close()
                self._emit(Failed(slot.job.request_id, error.code, error.message))
                slot.job = None
            self._model.seq_remove(slot.seq_id)
            slot.cached.clear()
        while self._queue:
            job = self._queue.popleft()
            job.sampler.close()
            self._emit(Failed(job.request_id, error.code, error.message))

    def step(self) -> None:
        """Admit what fits, then run one decode over all active sequences and sample."""
        self._admit()
        active = [s for s in self._slots if s.job]
        if not active:
            return
        batch = self._batch
        batch.clear()
        fed: list[_Fed] = []
        outputs: list[tuple[Slot, int]] = []
        for slot in active:
            job = slot.job
            assert job is not None
            if job.next_token is not None:
                outputs.append((slot, batch.add(job.next_token, len(slot.cached), slot.seq_id, True)))
                fed.append(_Fed(slot, [job.next_token], is_prompt=False))
        room = min(batch.room, self._budget.prompt_room())
        for slot in sorted((s for s in active if s.job and s.job.prefilling), key=lambda s: s.job.admitted_ns):
            if room == 0:
                break
            job = slot.job
            chunk = job.prompt[job.n_fed : job.n_fed + room]
            room -= len(chunk)
            for k, token in enumerate(chunk):
                last = job.n_fed + k == len(job.prompt) - 1
                index = batch.add(token, len(slot.cached) + k, slot.seq_id, last)
                if last:
                    outputs.append((slot, index))
            fed.append(_Fed(slot, chunk, is_prompt=True))

        started = time.perf_counter()
        status = batch.decode(self._model.ctx)
        self._budget.observe(len(batch), time.perf_counter() - started)
        if status != 0:
            self._fail_fed(fed, EngineError(f"llama_decode failed with status {status}"))
            return
        for f in fed:
            f.slot.cached.extend(f.tokens)
            if f.is_prompt and f.slot.job:
                f.slot.job.n_fed += len(f.tokens)
        for slot, index in outputs:
            job = slot.job
            assert job is not None
            job.next_token = None
            self._accept(slot, job.sampler.sample(self._model.ctx, index))

    def _admit(self) -> None:
        while self._queue:
            views = [SlotView(s.seq_id, s.cached, s.job is not None, s.last_used) for s in self._slots]
            plan = plan_reuse(self._queue[0].prompt, views)
            if plan is None:
                return
            job = self._queue.popleft()
            slot = self._slots[plan.target]
            n = plan.n_reuse
            if plan.source is not None:
                self._model.seq_remove(slot.seq_id)
                self._model.seq_copy(plan.source, slot.seq_id, 0, n)
                slot.cached = self._slots[plan.source].cached[:n]
            elif not self._model.seq_remove(slot.seq_id, n, -1):
                # Some memory types cannot drop a tail; start the sequence over.
                self._model.seq_remove(slot.seq_id)
                n = 0
            del slot.cached[n:]
            job.n_fed = job.cached_tokens = n
            job.admitted_ns = time.perf_counter_ns()
            slot.job = job

    def _accept(self, slot: Slot, token: int) -> None:
        job = slot.job
        assert job is not None
        if not job.first_token_ns:
            job.first_token_ns = time.perf_counter_ns()
        if self._model.is_eog(token):
            self._finish(slot, "stop")
            return
        job.generated += 1
        text = job.text.push(self._model.piece(token))
        if text:
            self._emit(Chunk(job.request_id, text))
        if job.text.stopped:
            self._finish(slot, "stop")
        elif job.generated >= job.max_tokens or len(job.prompt) + job.generated >= job.ctx_limit:
            self._finish(slot, "length")
        else:
            job.next_token = token

    def _finish(self, slot: Slot, reason: DoneReason) -> None:
        job = slot.job
        assert job is not None
        if reason != "cancel":
            tail = job.text.flush()
            if tail:
                self._emit(Chunk(job.request_id, tail))
        job.sampler.close()
        slot.job = None
        slot.last_used = time.monotonic()
        self._emit(Finished(job.request_id, self._stats(job, reason)))

    def _fail_fed(self, fed: list[_Fed], error: EngineError) -> None:
        """A failed decode leaves its sequences' cells in doubt: drop them and fail their jobs."""
        for f in fed:
            self._model.seq_remove(f.slot.seq_id)
            f.slot.cached.clear()
            if f.slot.job:
                f.slot.job.sampler.close()
                self._emit(Failed(f.slot.job.request_id, error.code, error.message))
                f.slot.job = None

    @staticmethod
    def _stats(job: Job, reason: DoneReason) -> Stats:
        now = time.perf_counter_ns()
        first = job.first_token_ns or now
        return Stats(
            prompt_tokens=len(job.prompt),
            cached_tokens=job.cached_tokens,
            completion_tokens=job.generated,
            truncated_tokens=job.truncated,
            prompt_eval_duration_ns=first - job.admitted_ns if job.admitted_ns else 0,
            eval_duration_ns=now - first,
            total_duration_ns=now - job.submitted_ns,
            done_reason=reason,
        )

    def close(self) -> None:
        self._batch.free()
