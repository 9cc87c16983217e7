"""Completion latency as a typist feels it: Fireside's language server against llama.cpp's server.

A typing trace replays part of a real source file, character by character, in real time:
the region is taken out of the file (the rest of the file, hundreds of lines, stays as
context) and typed back with a seeded human rhythm (about 140 ms between keys, longer
pauses before each new line and now and then mid-line; a new line comes with its
indentation, as editors auto-indent). The simulated user accepts a suggestion (Tab) when
it is what they were about to type (all of it, or its leading whole lines) and they see
it in time to press Tab before their next key; that is when caching and prefetch pay off.

All systems replay the same region and rhythm, one after the other, on the same GGUF
(Qwen2.5-Coder-0.5B, 2 threads):

F = `fireside lsp` over stdio (pygls' client) against `fireside serve`, with its default
    settings (adaptive debounce from 120 ms, suggestion cache, prefetch), driven as VS Code
    drives it: didChange and `textDocument/inlineCompletion` on every keystroke,
    `$/cancelRequest` for the previous request when the user typed on.
P = llama.cpp's `llama-server` (`/infill`, `cache_prompt`, one slot) driven as llama.vim
    drives it: 120 ms debounce, the previous request dropped on every keystroke, the same
    prompts (Fireside's context builder, same budget, same stop at a line's end
    mid-line), the answer shown as the server returns it. On a slow machine llama-server
    cannot keep up with this: it notices a dropped connection only when it polls (once a
    second) and evaluates every queued prompt until then. So also:
Q = the same server and prompts, driven as a careful client would: one request in flight;
    keystrokes meanwhile wait for it, and only the newest is sent when it returns.

Per system: keystrokes, the share whose suggestion was shown before the next keystroke,
p50/p95 latency from keystroke to answer over the requests answered, the same over the
pauses (a gap of 600 ms or more before the next key: when users look for a suggestion;
a pause without an answer counts as its full length), characters accepted, and the
share of prompt tokens reused from the KV cache. For Fireside also its own counters
(`fireside/stats`: from cache, from prefetch, generated, superseded).

Reproduce (about 10 minutes on 2 cores; the first run also builds llama-server):

    .venv/bin/python bench/completion_latency.py
    .venv/bin/python bench/completion_latency.py --lines 8          # quick look
    .venv/bin/python bench/completion_latency.py --budget 256       # what 2 cores can keep up with
    .venv/bin/python bench/completion_latency.py --file F --at 'def name(' --lines 40
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))
import llama_server  # noqa: E402
from completion_quality import MODEL, THREADS, model_path, token_counter  # noqa: E402

from tests.daemon_process import running_daemon  # noqa: E402
from tests.lsp_session import lsp_session  # noqa: E402

DEBOUNCE_S = 0.120  # Fireside's default debounceMs, and the peer client's fixed one
MAX_TOKENS = 64  # Fireside's default maxTokens
PAUSE_S = 0.6  # a gap this long before the next key is a pause
REACTION_S = 0.25  # from a suggestion appearing to pressing Tab
CTX = 4096


# --- the trace --------------------------------------------------------------------------


@dataclass(frozen=True)
class Trace:
    """A document with a region left out, the region to type, and the gap before each of
    its characters (seconds)."""

    path: str  # relative, in the workspace
    head: str  # before the region
    region: str
    tail: str  # after the region
    gaps: tuple[float, ...]


def make_trace(file: Path, at: str, lines: int, seed: int) -> Trace:
    text = file.read_text(encoding="utf-8")
    rows = text.splitlines(keepends=True)
    start = next((i for i, row in enumerate(rows) if at in row), None)
    if start is None:
        raise SystemExit(f"{file}: no line contains {at!r}")
    head, region, tail = "".join(rows[:start]), "".join(rows[start : start + lines]), "".join(rows[start + lines :])
    rng = random.Random(seed)
    gaps = []
    for i, char in enumerate(region):
        gap = rng.lognormvariate(0, 0.35) * 0.14  # median 140 ms between keys
        if i > 0 and region[i - 1] == "\n":
            gap += rng.uniform(0.6, 2.0)  # a new line: thinking
        elif rng.random() < 0.04:
            gap += rng.uniform(0.5, 1.5)  # a pause mid-line
        gaps.append(gap)
    return Trace(file.name, head, region, tail, tuple(gaps))


def next_keystroke(region: str, typed: int) -> str:
    """The next keystroke's text: one character, or a line break with the next line's
    indentation (editors auto-indent)."""
    if region[typed] != "\n":
        return region[typed]
    rest = region[typed + 1 :]
    return "\n" + rest[: len(rest) - len(rest.lstrip(" \t"))]


def accepted_part(suggestion: str, intended: str) -> str:
    """What a user accepts of a suggestion: all of it, or its leading whole lines, when
    that is what they were about to type; "" otherwise."""
    candidate = suggestion.rstrip()
    while candidate:
        if intended.startswith(candidate) and len(candidate.strip()) >= 2:
            return candidate
        cut = candidate.rfind("\n")
        candidate = candidate[:cut].rstrip() if cut > 0 else ""
    return ""


# --- one replay -------------------------------------------------------------------------


@dataclass
class Keystroke:
    sent: float  # when the change was made (monotonic)
    gap: float  # until the user's next action
    accepted: bool  # this change was an accepted suggestion
    answered: float | None = None  # when the answer came, if before the next action
    suggestion: str = ""


@dataclass
class Replay:
    keystrokes: list[Keystroke] = field(default_factory=list)
    accepted_chars: int = 0
    cached_tokens: float = 0.0
    prompt_tokens: float = 0.0
    requests: int = 0  # generations that completed (for mean cached tokens)
    extra: dict[str, Any] = field(default_factory=dict)


# A system under test: `change(text_inserted, offset_after)` makes the edit and starts a
# request for the new cursor; it returns (the answer, which resolves to the suggestion,
# and a cancel callable).
Change = Callable[[str, int], tuple[Awaitable[str], Callable[[], None]]]


async def replay(trace: Trace, change: Change) -> Replay:
    """Type the region in real time against one system; accept correct suggestions."""
    out = Replay()
    typed = 0
    pending: tuple[asyncio.Future[str], Callable[[], None]] | None = None
    last: Keystroke | None = None
    while typed < len(trace.region):
        gap = trace.gaps[typed]
        deadline = (last.sent if last else time.monotonic()) + gap
        text, accepted = next_keystroke(trace.region, typed), False
        if pending is not None and last is not None:
            answer, cancel = pending
            try:
                suggestion = await asyncio.wait_for(asyncio.shield(answer), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                cancel()
            else:
                last.answered, last.suggestion = time.monotonic(), suggestion
                take = accepted_part(suggestion, trace.region[typed:])
                if take and last.answered + REACTION_S <= deadline:  # seen in time to press Tab
                    deadline = last.answered + REACTION_S
                    text, accepted = take, True
                    out.accepted_chars += len(take)
            answer.cancel()
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        typed += len(text)
        last = Keystroke(time.monotonic(), 0.0, accepted)
        if out.keystrokes:
            out.keystrokes[-1].gap = last.sent - out.keystrokes[-1].sent
        out.keystrokes.append(last)
        answer, cancel = change(text, len(trace.head) + typed)
        pending = (asyncio.ensure_future(answer), cancel)
    if pending is not None and last is not None:  # the last keystroke: wait for its answer
        try:
            last.suggestion = await asyncio.wait_for(pending[0], 10)
            last.answered = time.monotonic()
        except TimeoutError:
            pending[1]()
        last.gap = 10.0
    return out


# --- F: Fireside's language server --------------------------------------------------------


def fireside_settings(port: int, budget: int) -> dict[str, Any]:
    return {"daemon": {"host": f"127.0.0.1:{port}", "start": False}, "models": {"completion": MODEL}, "completion": {"contextTokens": budget}}


async def replay_fireside(trace: Trace, workspace: Path, daemon_url: str, daemon_port: int, budget: int) -> Replay:
    from lsprotocol import types

    async with lsp_session(workspace, fireside_settings(daemon_port, budget), log_level="warning") as lsp:
        uri = lsp.open(trace.path, trace.head + trace.tail)
        await lsp.inline(uri, types.Position(0, 0))  # the model is loaded before the clock starts
        version = 1
        document = trace.head + trace.tail
        position = _position(document, len(trace.head))

        def change(text: str, offset: int) -> tuple[Awaitable[str], Callable[[], None]]:
            nonlocal version, document, position
            version += 1
            lsp.insert(uri, version, position, text)
            document = document[: offset - len(text)] + text + document[offset - len(text) :]
            position = _position(document, offset)
            msg_id, answer = lsp.request_inline(uri, position, invoked=False)
            return _suggestion(answer, position), lambda: lsp.cancel(msg_id)

        before, counted = await _metrics(daemon_url), await lsp.stats()
        result = await replay(trace, change)
        after = await _metrics(daemon_url)
        result.extra = {k: v - counted[k] for k, v in (await lsp.stats()).items()}
    result.prompt_tokens = after["prompt"] - before["prompt"]
    result.cached_tokens = after["cached"] - before["cached"]
    result.requests = int(after["requests"] - before["requests"])
    return result


def _position(text: str, offset: int) -> Any:
    from lsprotocol import types

    line = text.count("\n", 0, offset)
    column = offset - (text.rfind("\n", 0, offset) + 1)
    return types.Position(line=line, character=len(text[offset - column : offset].encode("utf-16-le")) // 2)


async def _suggestion(answer: Awaitable[Any], at: Any) -> str:
    """The text an item adds at the cursor (its insert_text less the typed word it replaces).
    Shielded: pygls resolves its own future when the (cancelled) request's answer comes."""
    future = asyncio.ensure_future(answer)
    future.add_done_callback(lambda f: f.cancelled() or f.exception())
    result = await asyncio.shield(future)
    if result is None or not result.items:
        return ""
    item = result.items[0]
    text = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
    typed = at.character - item.range.start.character if item.range else 0
    return text[typed:]


async def _metrics(daemon_url: str) -> dict[str, float]:
    """Prompt and cached tokens, and completed /api/infill requests, from the daemon's /metrics."""
    async with aiohttp.ClientSession() as http, http.get(daemon_url + "/metrics") as r:
        text = await r.text()
    found = {"prompt": 0.0, "cached": 0.0, "requests": 0.0}
    for line in text.splitlines():
        if line.startswith("fireside_tokens_total{") and f'model="{MODEL}"' in line:
            for kind in ("prompt", "cached"):
                if f'kind="{kind}"' in line:
                    found[kind] += float(line.rsplit(" ", 1)[1])
        elif line.startswith('fireside_requests_total{endpoint="/api/infill",status="200"}'):
            found["requests"] += float(line.rsplit(" ", 1)[1])
    return found


# --- P: llama-server, driven as llama.vim drives it ----------------------------------------


async def replay_peer(trace: Trace, llama_url: str, count: Callable[[str], int], budget: int, drop: bool) -> Replay:
    from fireside.context.parse_cache import ParseCache
    from fireside.context.prompt import Document, Sources, build_context

    cache = ParseCache()
    document = trace.head + trace.tail
    result_tokens = {"prompt": 0, "cached": 0, "requests": 0}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:

        async def ask(text: str, offset: int) -> str:
            await asyncio.sleep(DEBOUNCE_S)
            context = build_context(Document(trace.path, text, offset, "python"), Sources(open_documents={trace.path: text}, cache=cache), budget, count)
            line_before = text[text.rfind("\n", 0, offset) + 1 : offset]
            body: dict[str, Any] = {
                "input_prefix": context.prefix,
                "input_suffix": context.suffix,
                "input_extra": [{"filename": s.path, "text": s.text} for s in context.snippets],
                "n_predict": MAX_TOKENS,
                "temperature": 0,
                "top_k": 1,
                "cache_prompt": True,
            }
            if line_before.strip():
                body["stop"] = ["\n"]
            async with http.post(llama_url + "/infill", json=body) as r:
                payload = await r.json()
            result_tokens["requests"] += 1
            result_tokens["prompt"] += payload.get("timings", {}).get("prompt_n", 0) + payload.get("tokens_cached", 0)
            result_tokens["cached"] += payload.get("tokens_cached", 0)
            content = str(payload.get("content", ""))
            return content if content.strip() else ""

        inflight: asyncio.Future[str] | None = None

        async def ask_when_free(text: str, offset: int) -> str:
            """One request in flight: wait for it, then ask for this keystroke unless the
            replay has moved on (and cancelled this waiter) meanwhile."""
            nonlocal inflight
            while inflight is not None and not inflight.done():
                await asyncio.wait({inflight})
            inflight = asyncio.ensure_future(ask(text, offset))
            return await asyncio.shield(inflight)

        def change(text: str, offset: int) -> tuple[Awaitable[str], Callable[[], None]]:
            nonlocal document
            document = document[: offset - len(text)] + text + document[offset - len(text) :]
            if drop:  # cancelling closes the connection; llama-server drops the task when it notices
                task = asyncio.ensure_future(ask(document, offset))
            else:
                task = asyncio.ensure_future(ask_when_free(document, offset))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # a dropped request's error is nobody's concern
            return task, task.cancel

        await ask(document, len(trace.head))  # loaded and warm before the clock starts
        result_tokens.update(prompt=0, cached=0, requests=0)
        result = await replay(trace, change)
    result.prompt_tokens, result.cached_tokens, result.requests = result_tokens["prompt"], result_tokens["cached"], result_tokens["requests"]
    return result


# --- the table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    keystrokes: int
    shown: float  # share of keystrokes with a suggestion shown before the next action
    p50: float  # ms, keystroke to answer, answered requests
    p95: float
    pause_p50: float  # ms, over pauses; an unanswered pause counts as its length
    pause_p95: float
    accepted_chars: int
    cached_share: float
    mean_cached: float


def summarize(r: Replay) -> Summary:
    answered = [k.answered - k.sent for k in r.keystrokes if k.answered is not None]
    pauses = [(k.answered - k.sent) if k.answered is not None else k.gap for k in r.keystrokes if k.gap >= PAUSE_S]
    shown = sum(1 for k in r.keystrokes if k.answered is not None and k.suggestion)
    return Summary(
        len(r.keystrokes),
        shown / len(r.keystrokes) if r.keystrokes else 0.0,
        _percentile(answered, 50),
        _percentile(answered, 95),
        _percentile(pauses, 50),
        _percentile(pauses, 95),
        r.accepted_chars,
        r.cached_tokens / r.prompt_tokens if r.prompt_tokens else 0.0,
        r.cached_tokens / r.requests if r.requests else 0.0,
    )


def _percentile(values: Sequence[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def print_table(trace: Trace, runs: dict[str, Replay], budget: int) -> None:
    """One column per system; the ratios are Fireside's over each peer's."""
    summaries = {name: summarize(r) for name, r in runs.items()}
    f = summaries["F"]
    print(f"\ntyped {len(trace.region)} characters ({trace.region.count(chr(10))} lines) of {trace.path} after {trace.head.count(chr(10))} lines, "
          f"before {trace.tail.count(chr(10))}; {MODEL}, {THREADS} threads, prompts of {budget} tokens at most")
    peers = [name for name in runs if name != "F"]
    rows: list[tuple[str, Callable[[Summary, Replay], float], str, bool]] = [
        ("keystrokes (typed or accepted)", lambda x, r: x.keystrokes, "{:.0f}", False),
        ("shown before the next key", lambda x, r: x.shown, "{:.0%}", False),
        ("p50 keystroke -> answer (ms)", lambda x, r: x.p50, "{:.0f}", True),
        ("p95 keystroke -> answer (ms)", lambda x, r: x.p95, "{:.0f}", True),
        (f"p50 at pauses >= {PAUSE_S * 1000:.0f} ms (ms)", lambda x, r: x.pause_p50, "{:.0f}", True),
        (f"p95 at pauses >= {PAUSE_S * 1000:.0f} ms (ms)", lambda x, r: x.pause_p95, "{:.0f}", True),
        ("characters accepted", lambda x, r: x.accepted_chars, "{:.0f}", True),
        ("prompt tokens from KV cache", lambda x, r: x.cached_share, "{:.0%}", False),
        ("mean cached tokens per generation", lambda x, r: x.mean_cached, "{:.0f}", False),
        ("generations completed", lambda x, r: r.requests, "{:.0f}", False),
    ]
    print(f"{'':<36}" + "".join(f"{name:>9}" for name in runs) + "".join(f"{'F/' + name:>9}" for name in peers))
    for label, value, fmt, ratio in rows:
        cells = "".join(f"{fmt.format(value(summaries[name], runs[name])):>9}" for name in runs)
        ratios = "".join(f"{(_ratio(value(f, runs['F']), value(summaries[p], runs[p])) if ratio else ''):>9}" for p in peers)
        print(f"{label:<36}{cells}{ratios}")
    stats = runs["F"].extra
    if stats:
        print(f"Fireside's own counters: {stats['requests']} requests, {stats['from_cache']} from cache, {stats['from_prefetch']} from prefetch, "
              f"{stats['generated']} generated, {stats['superseded']} superseded")


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


# --- main --------------------------------------------------------------------------------


async def run(args: argparse.Namespace, trace: Trace, daemon_url: str, daemon_port: int, gguf: Path) -> None:
    binary = Path(args.llama_server) if args.llama_server else llama_server.find_or_build()
    with tempfile.TemporaryDirectory(prefix="fireside-bench-latency-") as tmp:
        print("F: fireside lsp ...", flush=True)
        fireside = await replay_fireside(trace, Path(tmp) / "workspace", daemon_url, daemon_port, args.budget)
    runs = {"F": fireside}
    for name, drop in (("P", True), ("Q", False)):
        with llama_server.running(binary, gguf, ctx=CTX, parallel=1, threads=THREADS) as llama_url:
            print(f"{name}: llama-server {binary}, {'each request dropped at the next key' if drop else 'one request in flight'} ...", flush=True)
            runs[name] = await replay_peer(trace, llama_url, token_counter(gguf), args.budget, drop)
    print_table(trace, runs, args.budget)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", default=str(ROOT / "server" / "fireside" / "lsp" / "postprocess.py"), help="the source file typed from")
    parser.add_argument("--at", default="def _dedent_end(", help="the region starts at the first line containing this")
    parser.add_argument("--lines", type=int, default=16, help="lines typed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=1024, help="prompt tokens (Fireside's contextTokens; the same for the peer)")
    parser.add_argument("--llama-server", default=None, help="a llama-server binary (default: build one)")
    args = parser.parse_args()
    trace = make_trace(Path(args.file), args.at, args.lines, args.seed)
    gguf = model_path()
    print(f"model {MODEL}: {gguf}; cpu count {os.cpu_count()}; typing {len(trace.region)} characters, "
          f"{sum(trace.gaps):.0f} s at the trace's pace without accepting anything")
    env = {"FIRESIDE_NUM_THREAD": str(THREADS), "FIRESIDE_KEEP_ALIVE": "-1"}
    with tempfile.TemporaryDirectory(prefix="fireside-bench-config-") as config, running_daemon(Path(config), env=env) as daemon:
        asyncio.run(run(args, trace, daemon.url, daemon.port, gguf))


if __name__ == "__main__":
    main()
