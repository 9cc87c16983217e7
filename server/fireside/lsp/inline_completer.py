"""Inline completion, from a document snapshot to the text shown at the cursor.

The path of one request: the suggestion cache (typing through a shown or prefetched
suggestion needs no model); else the debounce; else a generation: context chosen within
the budget (`fireside.context`, on a worker thread), a FIM prompt through `/api/infill`
for models with FIM tokens or a prefix-only one through `/api/generate`, streamed and
stopped as soon as the suggestion is complete, then cleaned (`postprocess`).

One generation runs per document. A newer keystroke or request cancels the older
generation, which closes its connection to the daemon, and the daemon stops it within a
token. A request for exactly the spot a running generation (such as a prefetch) works
on joins it instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

from fireside.context.prompt import CompletionContext, Document, Sources, build_context
from fireside.context.syntax import Shape
from fireside.lsp.daemon_client import DaemonClient, ModelFacts
from fireside.lsp.postprocess import Surroundings, clean_completion
from fireside.lsp.settings import Settings
from fireside.lsp.status import StatusReporter
from fireside.lsp.suggestion_cache import SuggestionCache
from fireside.lsp.token_estimate import TokenEstimate
from fireside.lsp.typed_word import word_before
from fireside.lsp.typing_pace import TypingPace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """A document as it was when the request came: generation works on this, never on
    the live document, which keeps changing under it."""

    uri: str
    path: str
    language_id: str | None
    text: str
    offset: int  # code points

    @property
    def before(self) -> str:
        return self.text[: self.offset]

    @property
    def after(self) -> str:
        return self.text[self.offset :]


@dataclass
class CompletionStats:
    """Where suggestions came from, for `fireside/stats` (and the latency benchmark)."""

    requests: int = 0
    from_cache: int = 0  # typed through a suggestion already shown
    from_prefetch: int = 0  # computed ahead, before the user got there
    generated: int = 0  # the model was asked
    superseded: int = 0  # a newer keystroke came first
    shown: int = 0  # textDocument/didShowCompletion
    accepted_chars: int = 0  # textDocument/didPartiallyAcceptCompletion


@dataclass
class _Generation:
    snapshot: Snapshot
    task: asyncio.Task[str]
    prefetch: bool
    waiters: int = 0

    def serves(self, before: str, after: str) -> bool:
        return self.snapshot.before == before and self.snapshot.after == after

    def still_useful(self, text: str) -> bool:
        """After an edit: whether the document is at, or typing towards, this spot."""
        s = self.snapshot
        if text == s.text:
            return True
        if not self.prefetch or not text.endswith(s.after):
            return False
        return s.before.startswith(text[: len(text) - len(s.after)])


@dataclass
class _DocumentState:
    pace: TypingPace = field(default_factory=TypingPace)
    generation: _Generation | None = None
    latest: int = 0  # the number of the newest request; older ones give up


class InlineCompleter:
    def __init__(self, daemon: DaemonClient, status: StatusReporter, sources: Callable[[], Sources]) -> None:
        self.daemon = daemon
        self.status = status
        self.sources = sources
        self.cache = SuggestionCache()
        self.tokens = TokenEstimate()
        self.stats = CompletionStats()
        self.answer_time: float | None = None  # seconds a generation usually takes (smoothed), for the debounce
        self._documents: dict[str, _DocumentState] = {}
        self._background: set[asyncio.Task[Any]] = set()

    def _state(self, uri: str) -> _DocumentState:
        return self._documents.setdefault(uri, _DocumentState())

    def document_changed(self, uri: str, text: str) -> None:
        """A keystroke: it sets the typing pace, and the running generation is cancelled
        unless the new text is where it works (or, for a prefetch, on the way there)."""
        state = self._state(uri)
        state.pace.keystroke(time.monotonic())
        generation = state.generation
        if generation is not None and not generation.still_useful(text):
            generation.task.cancel()

    def document_closed(self, uri: str) -> None:
        state = self._documents.pop(uri, None)
        if state is not None and state.generation is not None:
            state.generation.task.cancel()
        self.cache.forget(uri)

    async def complete(self, snap: Snapshot, settings: Settings, invoked: bool) -> str | None:
        """The suggestion for the cursor ("" when the model has nothing good), or None
        when a newer request superseded this one."""
        options = settings.completion
        self.stats.requests += 1
        if options.cache and (hit := self.cache.get(snap.uri, snap.before, snap.after)) is not None:
            log.debug("completion from cache at offset %d", snap.offset)
            self.stats.from_prefetch += hit.prefetched
            self.stats.from_cache += not hit.prefetched
            return hit.text
        state = self._state(snap.uri)
        state.latest += 1
        number = state.latest
        if not invoked:
            await asyncio.sleep(state.pace.delay(options.debounce_ms / 1000, options.adaptive_debounce, self.answer_time))
            if state.latest != number:
                self.stats.superseded += 1
                return None
        generation = state.generation
        if generation is not None and not generation.task.done() and generation.serves(snap.before, snap.after):
            self.stats.from_prefetch += generation.prefetch
        else:
            if generation is not None:
                generation.task.cancel()
            generation = self._start(snap, settings, prefetch=False)
            self.stats.generated += 1
        generation.waiters += 1
        try:
            text = await asyncio.shield(generation.task)
        except asyncio.CancelledError:
            generation.waiters -= 1
            if generation.waiters == 0 and not generation.prefetch:
                generation.task.cancel()  # nobody wants it any more: stop the model
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this request itself was cancelled ($/cancelRequest)
            self.stats.superseded += 1
            return None  # superseded by a newer keystroke
        generation.waiters -= 1
        if text and options.prefetch:
            ahead = Snapshot(snap.uri, snap.path, snap.language_id, snap.before + text + snap.after, snap.offset + len(text))
            if state.generation is None:  # no newer request took the document meanwhile
                self._start(ahead, settings, prefetch=True)
        return text

    def _start(self, snap: Snapshot, settings: Settings, prefetch: bool) -> _Generation:
        state = self._state(snap.uri)
        task = asyncio.create_task(self._generate(snap, settings))
        generation = _Generation(snap, task, prefetch)
        state.generation = generation
        self._background.add(task)
        started = time.monotonic()

        def finished(done: asyncio.Task[str]) -> None:
            self._background.discard(done)
            if state.generation is generation:
                state.generation = None
            if done.cancelled() or done.exception() is not None:
                return
            took = time.monotonic() - started
            self.answer_time = took if self.answer_time is None else 0.7 * self.answer_time + 0.3 * took
            if done.result() and settings.completion.cache:
                self.cache.put(snap.uri, snap.before, snap.after, done.result(), prefetch)

        task.add_done_callback(finished)
        return generation

    async def _generate(self, snap: Snapshot, settings: Settings) -> str:
        with self.status.busy():
            facts = await self.daemon.model(settings.models.completion)
            options = settings.completion
            budget = max(64, min(options.context_tokens, facts.context_length - options.max_tokens))
            document = Document(snap.path, snap.text, snap.offset, snap.language_id)
            context = await asyncio.to_thread(build_context, document, self.sources(), budget, self.tokens.count)
            around = Surroundings(snap.before, snap.after, context.shape is Shape.BLOCK, context.language.name if context.language else None)
            # Token healing: a prompt that ends inside a token is one the model rarely saw
            # in training. So the partial token leaves the prompt and must come back first;
            # if the model writes something else, ask again with the prompt as typed.
            partial = _partial_token(snap, around)
            if partial and context.prefix.endswith(partial):
                healed = await self._write(replace(context, prefix=context.prefix[: -len(partial)]), partial, around, facts, snap, settings)
                if healed is not None:
                    return healed
            return await self._write(context, "", around, facts, snap, settings) or ""

    async def _write(self, context: CompletionContext, partial: str, around: Surroundings, facts: ModelFacts, snap: Snapshot, settings: Settings) -> str | None:
        """The model's suggestion after `partial` (which it must write first), cleaned; None
        when it wrote something else."""
        path, body = self._request(facts, context, around, snap, settings)
        written = ""
        async with aclosing(self.daemon.stream(path, body)) as items:
            async for item in items:
                if item.get("done"):
                    self._calibrate(context, item)
                    break
                if not written:
                    log.debug("completion: the model is writing")
                written += item.get("content") or item.get("response") or ""
                if not (written.startswith(partial) or partial.startswith(written)):
                    log.debug("completion: model wrote %r, not what the prompt left off, %r", written, partial)
                    return None
                raw = written[len(partial) :]
                if "\n" in raw and _complete(raw, around):
                    break  # leaving the stream stops the model
        if not written.startswith(partial):
            return None
        shown = clean_completion(written[len(partial) :], around)
        log.debug("completion: model wrote %r, showing %r", written, shown)
        return shown

    def _request(self, facts: ModelFacts, context: CompletionContext, around: Surroundings, snap: Snapshot, settings: Settings) -> tuple[str, dict[str, Any]]:
        """The daemon request: FIM through `/api/infill`, or a prefix-only raw prompt
        (other files as comments above it) for models without FIM tokens."""
        options: dict[str, Any] = {"num_predict": settings.completion.max_tokens, "temperature": 0}
        if context.shape is Shape.LINE and around.line_before.strip():
            options["stop"] = ["\n"]  # mid-line: the rest of this line only
        if facts.fim:
            extra = [{"filename": s.path, "text": s.text} for s in context.snippets]
            return "/api/infill", {"model": facts.name, "prefix": context.prefix, "suffix": context.suffix, "extra": extra, "filename": snap.path, "options": options}
        comment = context.language.comment if context.language else "#"
        others = "".join(f"{comment} {s.path}\n{s.text}\n\n" for s in context.snippets)
        return "/api/generate", {"model": facts.name, "prompt": others + context.prefix, "raw": True, "options": options}

    def _calibrate(self, context: CompletionContext, final: dict[str, Any]) -> None:
        tokens = final.get("prompt_tokens") or final.get("prompt_eval_count") or 0
        chars = len(context.prefix) + len(context.suffix) + sum(len(s.text) + len(s.path) for s in context.snippets)
        self.tokens.observe(chars, tokens)
        log.debug("completion: %d prompt tokens, %d cached", tokens, final.get("cached_tokens", 0))

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)


def _partial_token(snap: Snapshot, around: Surroundings) -> str:
    """What the prompt's last token would split: the typed part of a word ("return mess",
    where "message" is one token), or on a blank line the line break and indentation
    (tokenizers join them with what follows: the model, at a bare "\n", skips the hole
    and writes the next line)."""
    word = word_before(snap.text, snap.offset)
    if word:
        return word
    line = around.line_before
    return "\n" + line if not line.strip() and "\n" in snap.before else ""


def _complete(raw: str, around: Surroundings) -> bool:
    """Whether the suggestion is finished before the model is: a single line has ended,
    or cleaning would cut the block at a line already written (its scope ended)."""
    if not around.multiline:
        return "\n" in raw.lstrip("\n")
    written = raw[: raw.rfind("\n")]
    return len(clean_completion(written, around).rstrip()) < len(written.rstrip())
