"""Shared fixtures: real models from models.toml, real worker processes."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio

from fireside.engine import ModelEngine, WorkerSpec
from fireside.models.specs import worker_spec
from tests.daemon_process import DaemonProcess, running_daemon

# The tests (and every daemon they start) use a model store of their own, never the user's.
_STORE = os.environ.setdefault("FIRESIDE_MODELS", tempfile.mkdtemp(prefix="fireside-test-models-"))

SMOLLM2 = "smollm2:135m"
QWEN_CODER = "qwen2.5-coder:0.5b"

# The function tool the API tests offer, in OpenAI's chat form; other protocols derive theirs.
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Get the current weather for a city", "parameters": CITY}}
ASK_WEATHER = [{"role": "user", "content": "What is the weather in Paris right now?"}]


@pytest.fixture(scope="session", autouse=True)
def _test_store() -> Iterator[None]:
    yield
    if Path(_STORE).name.startswith("fireside-test-models-"):
        shutil.rmtree(_STORE, ignore_errors=True)


@pytest.fixture(scope="session")
def smollm2_spec() -> WorkerSpec:
    # Two threads: the CI machine has two cores; results do not depend on it.
    return worker_spec(SMOLLM2, num_ctx=2048, num_parallel=8, num_thread=2)


@pytest.fixture(scope="session")
def smollm2_path(smollm2_spec: WorkerSpec) -> Path:
    return smollm2_spec.path


@pytest_asyncio.fixture(scope="session")
async def engine(smollm2_spec: WorkerSpec) -> AsyncIterator[ModelEngine]:
    """One shared SmolLM2 worker with 8 parallel sequences."""
    engine = ModelEngine(smollm2_spec)
    yield engine
    await engine.unload()


@pytest_asyncio.fixture
async def single_slot_engine(smollm2_spec: WorkerSpec) -> AsyncIterator[ModelEngine]:
    """A private worker with one sequence, for tests that kill or starve it."""
    engine = ModelEngine(replace(smollm2_spec, settings=replace(smollm2_spec.settings, num_parallel=1)))
    yield engine
    await engine.unload()


@pytest.fixture(scope="session")
def qwen_spec() -> WorkerSpec:
    # The test extra installs its wheels, so it is always there.
    return worker_spec(QWEN_CODER, num_ctx=2048, num_parallel=2, num_thread=2)


@pytest_asyncio.fixture(scope="session")
async def qwen(qwen_spec: WorkerSpec) -> AsyncIterator[ModelEngine]:
    engine = ModelEngine(qwen_spec)
    yield engine
    await engine.unload()


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """One shared daemon with the built-in models, 4 sequences per model."""
    with running_daemon(tmp_path_factory.mktemp("daemon"), env={"FIRESIDE_NUM_PARALLEL": "4"}) as d:
        yield d
