"""Bad input gets an error naming the problem and never takes the caller down."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fireside.engine import GREEDY, GenerateRequest, ModelEngine, SamplingOptions, WorkerSpec
from fireside.engine.errors import ContextOverflow, InvalidRequest, ModelLoadError, ModelNotFound
from fireside.models.fetch import HubSettings
from fireside.models.library import Library
from fireside.models.registry import Registry
from fireside.models.specs import worker_spec
from fireside.models.store import ModelStore


def test_unknown_model_is_named() -> None:
    with pytest.raises(ModelNotFound, match='model "no-such-model:7b" not found, try pulling it first'):
        worker_spec("no-such-model:7b")


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (GenerateRequest(prompt=""), "prompt is empty"),
        (GenerateRequest(), "exactly one of"),
        (GenerateRequest(prompt="x", max_tokens=-5), "max_tokens"),
        (GenerateRequest(prompt="x", max_tokens=10**12), "max_tokens"),
        (GenerateRequest(prompt="x", sampling=SamplingOptions(temperature=-1)), "temperature"),
        (GenerateRequest(prompt="x", sampling=SamplingOptions(top_p=3)), "top_p"),
        (GenerateRequest(prompt="x", num_ctx=0), "num_ctx"),
        (GenerateRequest(prompt="x", stop=("",)), "stop"),
        (GenerateRequest(messages=()), "messages is empty"),
    ],
)
async def test_invalid_requests_are_rejected(engine: ModelEngine, request_: GenerateRequest, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        await engine.generate(request_)


async def test_prompt_longer_than_the_context(engine: ModelEngine) -> None:
    long_prompt = "lorem ipsum " * 3000
    with pytest.raises(ContextOverflow, match="context holds 2048"):
        await (await engine.generate(GenerateRequest(prompt=long_prompt, max_tokens=8))).text()
    stream = await engine.generate(GenerateRequest(prompt=long_prompt, sampling=GREEDY, max_tokens=8, truncate=True))
    await stream.text()
    assert stream.stats is not None
    assert stream.stats.truncated_tokens > 0
    assert stream.stats.prompt_tokens + 8 <= 2048


async def test_chat_message_without_role(engine: ModelEngine) -> None:
    with pytest.raises(InvalidRequest, match="role"):
        await (await engine.generate(GenerateRequest(messages=({"content": "hi"},)))).text()


def _engine_for(path: Path, spec: WorkerSpec) -> ModelEngine:
    return ModelEngine(replace(spec, path=path, name="broken:test"))


async def test_random_bytes_are_not_a_gguf(tmp_path: Path, smollm2_spec: WorkerSpec) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(bytes(range(256)) * 64)
    store = ModelStore(tmp_path / "models")
    with pytest.raises(InvalidRequest, match="not a GGUF file"):
        await Library(store, HubSettings()).pull(str(junk), Registry.load(), lambda _: None)
    assert list((store.root / "blobs").iterdir()) == []
    # Even past the header check, the worker reports it instead of taking the caller down.
    with pytest.raises(ModelLoadError, match="junk.gguf"):
        await _engine_for(junk, smollm2_spec).generate(GenerateRequest(prompt="hi"))


async def test_truncated_gguf_fails_to_load_clearly(tmp_path: Path, smollm2_spec: WorkerSpec, engine: ModelEngine) -> None:
    cut = tmp_path / "cut.gguf"
    with smollm2_spec.path.open("rb") as f:
        cut.write_bytes(f.read(20 * 1024 * 1024))
    broken = _engine_for(cut, smollm2_spec)
    with pytest.raises(ModelLoadError, match="could not load"):
        await broken.generate(GenerateRequest(prompt="hi"))
    assert not broken.loaded
    # The healthy engine next to it is untouched.
    stream = await engine.generate(GenerateRequest(prompt="Hi", sampling=GREEDY, max_tokens=2))
    assert await stream.text()
