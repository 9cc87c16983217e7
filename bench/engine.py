"""Engine benchmark: ratios against baselines measured in the same run, same model and threads.

    python bench/engine.py [--model smollm2:135m] [--threads 2] [--tokens 128]

1. single-stream decode tokens/s vs llama-cpp-python's high-level `Llama` (goal >= 1.0x)
2. aggregate tokens/s of 8 concurrent streams vs 1 stream (goal >= 1.6x)
3. latency of a one-character edit at the end of a 1,500-token prompt, 16 tokens generated,
   vs the same request cold (goal <= 0.15x)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from fireside.engine import GREEDY, GenerateRequest, ModelEngine, Stats, WorkerSpec
from fireside.models.specs import worker_spec

STORY_PROMPTS = [
    "Once upon a time, in a small village,",
    "Write a long story about a dragon who",
    "The history of the Roman Empire begins",
    "Dear diary, today I went to the market and",
    "In the year 2150, humanity finally",
    "The detective looked at the evidence and",
    "Chapter one: the storm arrived at night and",
    "My grandmother always told me that",
]


async def timed_stream(engine: ModelEngine, prompt: str, max_tokens: int) -> tuple[Stats, float, float]:
    """(the request's stats, seconds from request to end, seconds from first to last piece)."""
    start = time.perf_counter()
    first = last = 0.0
    stream = await engine.generate(GenerateRequest(prompt=prompt, sampling=GREEDY, max_tokens=max_tokens))
    async for _ in stream:
        last = time.perf_counter()
        first = first or last
    assert stream.stats is not None
    return stream.stats, last - start, last - first


def llama_reference_rate(spec: WorkerSpec, prompt: str, max_tokens: int, threads: int) -> float:
    """Decode tokens/s of the high-level Llama class, timed like the engine: first to last token."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(spec.path), n_ctx=2048, n_threads=threads, flash_attn=True, verbose=False)
    try:
        rates = []
        for _ in range(3):
            first = last = 0.0
            n = 0
            for _chunk in llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, stream=True):
                last = time.perf_counter()
                first = first or last
                n += 1
            rates.append((n - 1) / (last - first))
        return statistics.median(rates)
    finally:
        llm.close()


async def single_stream_rate(spec: WorkerSpec, prompt: str, max_tokens: int) -> float:
    engine = ModelEngine(spec)
    try:
        await timed_stream(engine, "warm up", 4)
        rates = []
        for _ in range(3):
            await engine.unload()  # no cached prefix: the same work as the reference
            stats, _, decode = await timed_stream(engine, prompt, max_tokens)
            rates.append((stats.completion_tokens - 1) / decode)
        return statistics.median(rates)
    finally:
        await engine.unload()


async def aggregate_rate(spec: WorkerSpec, streams: int, max_tokens: int) -> float:
    engine = ModelEngine(spec)
    try:
        await timed_stream(engine, "warm up", 4)
        start = time.perf_counter()
        results = await asyncio.gather(*(timed_stream(engine, STORY_PROMPTS[i % 8], max_tokens) for i in range(streams)))
        return sum(stats.completion_tokens for stats, _, _ in results) / (time.perf_counter() - start)
    finally:
        await engine.unload()


async def edit_latency(spec: WorkerSpec) -> tuple[float, float, int, int]:
    """(warm seconds, cold seconds, prompt tokens, cached tokens of the warm request)."""
    body = "".join(f"def helper_{i}(x):\n    return x * {i} + {i % 7}\n\n" for i in range(75))
    engine = ModelEngine(spec)
    try:
        tokens = (await engine.render(GenerateRequest(prompt=body))).tokens
        # Cut the text to about 1,500 tokens, ending mid-line so the edit is one character.
        while len(tokens) > 1500:
            body = body[: int(len(body) * 1500 / len(tokens))]
            tokens = (await engine.render(GenerateRequest(prompt=body))).tokens
        edited = body[:-1] + ("7" if body[-1] != "7" else "8")
        await timed_stream(engine, body, 16)  # the user's previous request
        warm = []
        cached = 0
        for variant in (edited, body, edited):
            stats, seconds, _ = await timed_stream(engine, variant, 16)
            warm.append(seconds)
            cached = stats.cached_tokens
        cold = []
        for _ in range(2):
            await engine.unload()
            await timed_stream(engine, "warm up", 1)
            _, seconds, _ = await timed_stream(engine, edited, 16)
            cold.append(seconds)
        return statistics.median(warm), statistics.median(cold), len(tokens), cached
    finally:
        await engine.unload()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2:135m")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    one = worker_spec(args.model, num_parallel=1, num_ctx=2048, num_thread=args.threads)
    eight = worker_spec(args.model, num_parallel=8, num_ctx=2048, num_thread=args.threads)
    print(f"model {args.model}, {args.threads} threads, {args.tokens} tokens per stream, greedy\n")

    ref = llama_reference_rate(one, STORY_PROMPTS[0], args.tokens, args.threads)
    ours = await single_stream_rate(one, STORY_PROMPTS[0], args.tokens)
    print(f"1. single stream: engine {ours:.1f} tok/s, llama-cpp-python Llama {ref:.1f} tok/s -> {ours / ref:.2f}x (goal >= 1.0x)")

    solo = await aggregate_rate(eight, 1, args.tokens)
    many = await aggregate_rate(eight, 8, args.tokens)
    print(f"2. aggregate: 8 streams {many:.1f} tok/s, 1 stream {solo:.1f} tok/s -> {many / solo:.2f}x (goal >= 1.6x)")

    warm, cold, n_prompt, cached = await edit_latency(eight)
    print(
        f"3. one-character edit at the end of a {n_prompt}-token prompt, 16 tokens: "
        f"{warm * 1000:.0f} ms with {cached} cached tokens, cold {cold * 1000:.0f} ms -> {warm / cold:.3f}x (goal <= 0.15x)"
    )


if __name__ == "__main__":
    asyncio.run(main())
