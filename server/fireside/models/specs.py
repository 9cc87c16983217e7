"""From a model's name to what a worker needs to load it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fireside.config import Paths
from fireside.engine.settings import LoadSettings
from fireside.engine.worker import WorkerSpec
from fireside.models.registry import Registry
from fireside.models.sources import resolve


def worker_spec(name: str, paths: Paths | None = None, **settings: Any) -> WorkerSpec:
    """The WorkerSpec for a registered model; `settings` override its load parameters."""
    paths = paths or Paths.from_env()
    entry = Registry.load(paths.user_models_toml).get(name)
    load: LoadSettings = replace(entry.settings, **settings) if settings else entry.settings
    load.validate()
    return WorkerSpec(name=entry.name, path=resolve(entry, paths.cache_dir), settings=load, template=entry.template)
