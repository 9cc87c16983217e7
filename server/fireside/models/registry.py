"""The registry of named models: the built-in models.toml, with the user's own merged over it.

Names are Ollama-style `family:tag`; a name without a tag means `:latest`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fireside.engine.errors import InvalidRequest, ModelNotFound
from fireside.engine.settings import LoadSettings

LOAD_PARAMETERS = {"num_ctx", "num_parallel", "num_batch", "num_thread", "num_gpu"}
OTHER_PARAMETERS = {"keep_alive"}


@dataclass(frozen=True)
class ModelEntry:
    name: str
    source: str
    description: str = ""
    sha256: str | None = None
    size: int | None = None
    roles: tuple[str, ...] = ()
    settings: LoadSettings = field(default_factory=LoadSettings)
    keep_alive: str = "5m"
    template: str | None = None

    @classmethod
    def from_table(cls, name: str, table: dict[str, Any]) -> ModelEntry:
        if "source" not in table:
            raise InvalidRequest(f'models.toml: model "{name}" has no source')
        params = dict(table.get("parameters", {}))
        unknown = set(params) - LOAD_PARAMETERS - OTHER_PARAMETERS
        if unknown:
            valid = ", ".join(sorted(LOAD_PARAMETERS | OTHER_PARAMETERS))
            raise InvalidRequest(f'models.toml: model "{name}" has unknown parameters {sorted(unknown)}; valid: {valid}')
        return cls(
            name=name,
            source=str(table["source"]),
            description=str(table.get("description", "")),
            sha256=table.get("sha256"),
            size=table.get("size"),
            roles=tuple(table.get("roles", ())),
            settings=LoadSettings.from_parameters({k: v for k, v in params.items() if k in LOAD_PARAMETERS}),
            keep_alive=str(params.get("keep_alive", "5m")),
            template=table.get("template"),
        )


def normalize_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidRequest("model name is empty")
    return name if ":" in name else f"{name}:latest"


@dataclass(frozen=True)
class Registry:
    models: dict[str, ModelEntry]
    roles: dict[str, tuple[str, ...]]

    @classmethod
    def load(cls, user_file: Path | None = None) -> Registry:
        """The built-in registry, with `user_file` (if it exists) merged over it."""
        tables = [tomllib.loads(resources.files("fireside").joinpath("data/models.toml").read_text("utf-8"))]
        if user_file is not None and user_file.exists():
            try:
                tables.append(tomllib.loads(user_file.read_text("utf-8")))
            except tomllib.TOMLDecodeError as e:
                raise InvalidRequest(f"{user_file}: {e}") from e
        models: dict[str, ModelEntry] = {}
        roles: dict[str, tuple[str, ...]] = {}
        for table in tables:
            for name, entry in table.get("models", {}).items():
                key = normalize_name(name)
                models[key] = ModelEntry.from_table(key, entry)
            for role, names in table.get("roles", {}).items():
                roles[role] = tuple(normalize_name(n) for n in ([names] if isinstance(names, str) else names))
        return cls(models, roles)

    def get(self, name: str) -> ModelEntry:
        key = normalize_name(name)
        if key not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise ModelNotFound(f'model "{name}" not found, try pulling it first (known models: {known})')
        return self.models[key]
