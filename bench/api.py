"""What HTTP costs: the daemon against the engine it wraps, and against llama.cpp's own server.

Prints, all measured in this run on the same model and thread count:
1. p50 latency of a 16-token greedy completion through `POST /v1/completions` vs calling
   `ModelEngine.generate` in-process (goal: at most 1.05x + 2 ms);
2. time to the first streamed token, HTTP (SSE) vs in-process;
3. aggregate tokens/s of 8 concurrent HTTP clients vs llama.cpp's `llama-server` with 8
   slots (goal: >= 0.9x). llama-server is built from the llama.cpp sources inside the
   llama-cpp-python sdist, outside this repository; pass its path with --llama-server
   (the comparison is skipped, and says so, without one).

    python bench/api.py --llama-server ~/.cache/fireside-bench/build/bin/llama-server
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from fireside.engine import GREEDY, GenerateRequest, ModelEngine
from fireside.models.specs import worker_spec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.daemon_process import free_port, running_daemon  # noqa: E402

MODEL = "smollm2:135m"
THREADS = 2
PARALLEL = 8
CTX = 2048
PROMPT = "def fibonacci(n):\n    "
TOPICS = ["a lighthouse", "a compiler", "the sea", "a library", "winter", "a robot", "bread", "a train"]


async def engine_once(engine: ModelEngine) -> tuple[float, float]:
    """(total, first piece) seconds of one 16-token greedy completion, in-process."""
    start = time.perf_counter()
    stream = await engine.generate(GenerateRequest(prompt=PROMPT, sampling=GREEDY, max_tokens=16))
    first = None
    async for _piece in stream:
        first = first or time.perf_counter()
    return time.perf_counter() - start, (first or time.perf_counter()) - start


async def http_once(s: aiohttp.ClientSession, url: str) -> tuple[float, float]:
    """(total of a plain request, first token of a streamed one) seconds, over HTTP."""
    body = {"model": MODEL, "prompt": PROMPT, "max_tokens": 16, "temperature": 0}
    start = time.perf_counter()
    async with s.post(url + "/v1/completions", json=body) as r:
        assert r.status == 200, await r.text()
        await r.read()
    total = time.perf_counter() - start
    start = time.perf_counter()
    first = None
    async with s.post(url + "/v1/completions", json={**body, "stream": True}) as r:
        async for line in r.content:
            if first is None and line.startswith(b"data: {") and b'"text":""' not in line:
                first = time.perf_counter()
    return total, (first or time.perf_counter()) - start


async def latencies(engine: ModelEngine, url: str, runs: int) -> dict[str, list[float]]:
    """Engine and HTTP requests taken in turns, so both see the same machine."""
    out: dict[str, list[float]] = {"engine": [], "engine_first": [], "http": [], "http_first": []}
    async with aiohttp.ClientSession() as s:
        for i in range(runs + 3):
            e_total, e_first = await engine_once(engine)
            h_total, h_first = await http_once(s, url)
            if i >= 3:  # warm-up
                for key, value in (("engine", e_total), ("engine_first", e_first), ("http", h_total), ("http_first", h_first)):
                    out[key].append(value)
    return out


async def aggregate(url: str, path: str, tokens: int, extra: dict[str, object]) -> float:
    """Tokens/s of 8 concurrent clients, each asking for `tokens` tokens."""

    async def one(s: aiohttp.ClientSession, topic: str) -> int:
        body = {"model": MODEL, "prompt": f"Write a long story about {topic}.\n", "max_tokens": tokens, "temperature": 0, **extra}
        async with s.post(url + path, json=body) as r:
            payload = await r.json()
            assert r.status == 200, payload
            return int(payload["usage"]["completion_tokens"])

    async with aiohttp.ClientSession() as s:
        await one(s, "warming up")
        start = time.perf_counter()
        counts = await asyncio.gather(*(one(s, topic) for topic in TOPICS))
        return sum(counts) / (time.perf_counter() - start)


def start_llama_server(binary: str, model: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [binary, "-m", str(model), "-np", str(PARALLEL), "-c", str(CTX * PARALLEL), "-t", str(THREADS), "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    import urllib.request

    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if json.loads(r.read()).get("status") == "ok":
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("llama-server did not start")


def p50(values: list[float]) -> float:
    return statistics.median(values) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--llama-server", default=None)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    spec = worker_spec(MODEL, num_ctx=CTX, num_parallel=PARALLEL, num_thread=THREADS)

    engine = ModelEngine(spec)
    with tempfile.TemporaryDirectory() as config, running_daemon(Path(config), env={"FIRESIDE_NUM_PARALLEL": str(PARALLEL), "FIRESIDE_NUM_THREAD": str(THREADS), "FIRESIDE_CONTEXT_LENGTH": str(CTX)}) as daemon:
        try:
            t = await latencies(engine, daemon.url, args.runs)
        finally:
            await engine.unload()
        h_total, e_total, h_first, e_first = t["http"], t["engine"], t["http_first"], t["engine_first"]
        print(f"model {MODEL}, {THREADS} threads, greedy; {args.runs} runs each; cpu count {os.cpu_count()}")
        print(f"1. 16-token completion p50: HTTP {p50(h_total):.1f} ms vs engine {p50(e_total):.1f} ms = {p50(h_total) / p50(e_total):.3f}x "
              f"(+{p50(h_total) - p50(e_total):.1f} ms; goal <= 1.05x + 2 ms: {'met' if p50(h_total) <= 1.05 * p50(e_total) + 2 else 'NOT met'})")
        print(f"2. time to first token p50: HTTP stream {p50(h_first):.1f} ms vs engine {p50(e_first):.1f} ms = {p50(h_first) / p50(e_first):.3f}x")
        if not args.llama_server:
            ours = await aggregate(daemon.url, "/v1/completions", args.tokens, {})
            print(f"3. 8 concurrent clients: Fireside {ours:.1f} tok/s; llama-server comparison skipped (pass --llama-server PATH)")
            return
        # Both servers stay up (an idle one costs nothing) and take turns, so a burst of
        # load on this machine falls on both alike; the medians are compared.
        port = free_port()
        server = start_llama_server(args.llama_server, spec.path, port)
        ours_runs, theirs_runs = [], []
        try:
            for _ in range(args.rounds):
                ours_runs.append(await aggregate(daemon.url, "/v1/completions", args.tokens, {}))
                theirs_runs.append(await aggregate(f"http://127.0.0.1:{port}", "/v1/completions", args.tokens, {}))
        finally:
            server.kill()
            server.wait()
    ours, theirs = statistics.median(ours_runs), statistics.median(theirs_runs)
    ratio = ours / theirs
    print(f"3. 8 concurrent clients, {args.tokens} tokens each, median of {args.rounds} alternating rounds: "
          f"Fireside {ours:.1f} tok/s vs llama-server {theirs:.1f} tok/s = {ratio:.2f}x (goal >= 0.9x: {'met' if ratio >= 0.9 else 'NOT met'}); "
          f"rounds: Fireside {', '.join(f'{x:.0f}' for x in ours_runs)}; llama-server {', '.join(f'{x:.0f}' for x in theirs_runs)}")

if __name__ == "__main__":
    asyncio.run(main())
