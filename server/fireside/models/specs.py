"""From an installed model to what a worker needs to load it: its file, adapters,
template and load settings, with the GPU layers planned from the memory it will need."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from fireside.config import Paths
from fireside.engine.settings import LoadSettings
from fireside.engine.worker import WorkerSpec
from fireside.models.devices import available_ram, free_vram
from fireside.models.fetch import HubSettings
from fireside.models.library import InstalledModel, Library
from fireside.models.memory_plan import Plan, estimate, plan
from fireside.models.modelfile import LOAD_PARAMETERS
from fireside.models.registry import Registry
from fireside.models.store import ModelStore


def planned_spec(model: InstalledModel, overrides: Mapping[str, int | None]) -> tuple[WorkerSpec, Plan]:
    """The worker spec for `model` (blocking: asks NVML for free VRAM). `overrides` (the
    daemon's settings, a caller's) win over the model's parameters; `num_gpu` left unset
    is chosen by the memory plan."""
    params: dict[str, Any] = {k: v for k, v in model.parameters.items() if k in LOAD_PARAMETERS}
    params.update({k: v for k, v in overrides.items() if v is not None})
    settings = LoadSettings.from_parameters(params)
    trained = model.facts.context_length
    n_ctx = min(settings.num_ctx, trained) if trained else settings.num_ctx
    needs = estimate(model.facts, n_ctx * settings.num_parallel, settings.num_batch, n_seq=settings.num_parallel)
    chosen = plan(needs, free_vram=free_vram(), available_ram=available_ram(), num_gpu=params.get("num_gpu"), name=model.name)
    spec = WorkerSpec(
        name=model.name,
        path=model.weights,
        settings=replace(settings, num_gpu=chosen.n_gpu_layers),
        template=model.template,
        adapters=model.adapters,
    )
    return spec, chosen


def worker_spec(name: str, paths: Paths | None = None, **overrides: int) -> WorkerSpec:
    """The spec of a model by name, installing it from a local source if needed; for
    tests and benchmarks that drive the engine without a daemon."""
    paths = paths or Paths.from_env()
    registry = Registry.load(paths.user_models_toml)
    library = Library(ModelStore(paths.models_dir), HubSettings.from_env())
    model = asyncio.run(library.installed(name, registry))
    return planned_spec(model, overrides)[0]
