"""KV prefix reuse, cancellation and worker crashes, on real worker processes."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from fireside.engine import GREEDY, GenerateRequest, ModelEngine
from fireside.engine.errors import WorkerCrashed

# About 1,100 tokens of varied text for SmolLM2's tokenizer.
LONG_PREFIX = "".join(f"def helper_{i}(x):\n    return x * {i} + {i * i}\n\n" for i in range(80))
OTHER_PREFIX = "".join(f"class Shape{i}:\n    sides = {i}\n\n" for i in range(90))


async def test_shared_prefix_is_reused(engine: ModelEngine) -> None:
    first = await engine.generate(GenerateRequest(prompt=LONG_PREFIX + "# first", sampling=GREEDY, max_tokens=4))
    await first.text()
    assert first.stats is not None and first.stats.prompt_tokens > 1000
    second = await engine.generate(GenerateRequest(prompt=LONG_PREFIX + "# second one", sampling=GREEDY, max_tokens=4))
    await second.text()
    assert second.stats is not None
    assert second.stats.cached_tokens >= 990
    assert second.stats.cached_tokens < second.stats.prompt_tokens


async def test_prefix_is_shared_with_a_running_sequence(engine: ModelEngine) -> None:
    """A request arriving while another generates shares that sequence's cells (seq_cp)."""
    prompt = LONG_PREFIX + "def running():"
    running = await engine.generate(GenerateRequest(prompt=prompt, sampling=GREEDY, max_tokens=64))
    async with running:
        await running.__anext__()  # its prompt is now in the cache
        other = await engine.generate(GenerateRequest(prompt=LONG_PREFIX + "def other():", sampling=GREEDY, max_tokens=4))
        await other.text()
    assert other.stats is not None and other.stats.cached_tokens >= 990


async def test_reused_prefix_gives_the_same_text_as_cold(engine: ModelEngine, smollm2_spec) -> None:
    prompt = LONG_PREFIX + "def helper_80(x):"
    warm = await engine.generate(GenerateRequest(prompt=prompt, sampling=GREEDY, max_tokens=16))
    warm_text = await warm.text()
    assert warm.stats is not None and warm.stats.cached_tokens >= 990
    cold_engine = ModelEngine(smollm2_spec)
    try:
        cold = await cold_engine.generate(GenerateRequest(prompt=prompt, sampling=GREEDY, max_tokens=16))
        assert await cold.text() == warm_text
        assert cold.stats is not None and cold.stats.cached_tokens == 0
    finally:
        await cold_engine.unload()


async def test_cancel_stops_within_one_step_and_frees_the_sequence(single_slot_engine: ModelEngine) -> None:
    stream = await single_slot_engine.generate(GenerateRequest(prompt="Once upon a time,", sampling=GREEDY, max_tokens=1000))
    received = 0
    async for _ in stream:
        received += 1
        if received == 3:
            stream.cancel()
    assert stream.stats is not None and stream.stats.done_reason == "cancel"
    # One step may be in flight when the cancel arrives, and one token in the pipe.
    assert stream.stats.completion_tokens <= 3 + 2
    # The engine has one sequence: the next request can only run if it was freed.
    after = await single_slot_engine.generate(GenerateRequest(prompt="Hello", sampling=GREEDY, max_tokens=3))
    assert await after.text()
    assert after.stats is not None and after.stats.done_reason == "length"


async def test_a_request_cancelled_before_the_worker_took_it_never_runs(single_slot_engine: ModelEngine) -> None:
    """While the worker is inside a long prefill it reads no messages, so a request sent
    then is not yet acknowledged. Cancelled in that window (a client hanging up at the
    next keystroke), it must be withdrawn, not evaluated later for nobody."""
    busy = await single_slot_engine.generate(GenerateRequest(prompt=LONG_PREFIX, sampling=GREEDY, max_tokens=1))
    withdrawn = asyncio.create_task(single_slot_engine.generate(GenerateRequest(prompt=OTHER_PREFIX, sampling=GREEDY, max_tokens=1)))
    await asyncio.sleep(0.05)
    assert not withdrawn.done(), "the worker answered between prefill steps; the window was missed"
    withdrawn.cancel()
    await busy.text()
    # One sequence: had the withdrawn request run, its prompt would be the cached one now.
    after = await single_slot_engine.generate(GenerateRequest(prompt=OTHER_PREFIX + "# after", sampling=GREEDY, max_tokens=1))
    await after.text()
    assert after.stats is not None and after.stats.cached_tokens < 100


async def test_leaving_a_stream_early_cancels_it(single_slot_engine: ModelEngine) -> None:
    async with await single_slot_engine.generate(
        GenerateRequest(prompt="Once upon a time,", sampling=GREEDY, max_tokens=1000)
    ) as stream:
        await stream.__anext__()
    after = await single_slot_engine.generate(GenerateRequest(prompt="Hi", sampling=GREEDY, max_tokens=2))
    await after.text()
    assert after.stats is not None and after.stats.completion_tokens == 2


async def test_killed_worker_fails_the_request_and_the_next_one_succeeds(single_slot_engine: ModelEngine) -> None:
    stream = await single_slot_engine.generate(GenerateRequest(prompt="Once upon a time,", sampling=GREEDY, max_tokens=1000))
    await stream.__anext__()
    pid = single_slot_engine.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(WorkerCrashed, match="SIGKILL"):
        async for _ in stream:
            pass
    after = await single_slot_engine.generate(GenerateRequest(prompt="Hello", sampling=GREEDY, max_tokens=3))
    assert await after.text()
    assert single_slot_engine.pid not in (None, pid)


async def test_unload_ends_the_worker_process(single_slot_engine: ModelEngine) -> None:
    stream = await single_slot_engine.generate(GenerateRequest(prompt="Hi", sampling=GREEDY, max_tokens=1))
    await stream.text()
    pid = single_slot_engine.pid
    assert pid is not None
    await single_slot_engine.unload()
    assert not single_slot_engine.loaded
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
