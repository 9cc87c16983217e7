"""The registry of named models: the built-in models.toml, with the user's own merged over it.

Names are Ollama-style `family:tag`; a name without a tag means `:latest`.
"""

from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fireside.engine.errors import InvalidRequest, ModelNotFound
from fireside.models.modelfile import parameters_from_json

log = logging.getLogger("fireside.models")


@dataclass(frozen=True)
class Backend:
    """A remote OpenAI-compatible server (a cloud provider, or a vLLM / llama-server /
    Fireside fleet with several base URLs). Its key is read from the environment variable
    named by `api_key_env`, never from the file itself."""

    name: str
    base_urls: tuple[str, ...]
    api_key_env: str | None = None
    timeout: float = 600.0
    api: str = "openai"  # or "anthropic": the Messages API (chat only)

    @classmethod
    def from_table(cls, name: str, table: dict[str, Any]) -> Backend:
        urls = table.get("base_urls", [table["base_url"]] if "base_url" in table else [])
        if isinstance(urls, str) or not urls or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls):
            raise InvalidRequest(f'models.toml: backend "{name}" needs base_url or base_urls (http:// or https:// URLs)')
        api = table.get("api", "openai")
        if api not in ("openai", "anthropic"):
            raise InvalidRequest(f'models.toml: backend "{name}": api must be "openai" or "anthropic"; got {api!r}')
        return cls(
            name=name,
            base_urls=tuple(u.rstrip("/") for u in urls),
            api_key_env=table.get("api_key_env"),
            timeout=float(table.get("timeout", 600.0)),
            api=api,
        )


@dataclass(frozen=True)
class ModelEntry:
    """A named model: local weights (`source`) or a model served by a remote `backend`
    (under its own name there, `remote_name`)."""

    name: str
    source: str = ""
    description: str = ""
    sha256: str | None = None
    size: int | None = None
    roles: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    template: str | None = None
    backend: str | None = None
    remote_name: str | None = None
    prices: tuple[float, float] | None = None  # US dollars per million input and output tokens (remote models)

    @classmethod
    def from_table(cls, name: str, table: dict[str, Any]) -> ModelEntry:
        if "source" not in table and "backend" not in table:
            raise InvalidRequest(f'models.toml: model "{name}" has neither a source nor a backend')
        try:
            params = parameters_from_json(table.get("parameters", {}))
        except InvalidRequest as e:
            raise InvalidRequest(f'models.toml: model "{name}": {e.message}') from None
        return cls(
            name=name,
            source=str(table.get("source", "")),
            description=str(table.get("description", "")),
            sha256=table.get("sha256"),
            size=table.get("size"),
            roles=tuple(table.get("roles", ())),
            parameters=params,
            template=table.get("template"),
            backend=table.get("backend"),
            remote_name=table.get("remote_name"),
            prices=_prices(name, table.get("prices")),
        )


def _prices(name: str, table: Any) -> tuple[float, float] | None:
    if table is None:
        return None
    if not isinstance(table, dict) or set(table) - {"input", "output"} or not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in table.values()):
        raise InvalidRequest(f'models.toml: model "{name}": prices must be {{ input = USD, output = USD }} per million tokens')
    return float(table.get("input", 0.0)), float(table.get("output", 0.0))


# Ollama-style names: namespace/family:tag. No "..", no backslashes, no leading slash, so
# a name can never become a path outside the store.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*(:[A-Za-z0-9][A-Za-z0-9._\-]*)?")


def normalize_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidRequest("model name is empty")
    if len(name) > 200 or not _NAME.fullmatch(name) or ".." in name:
        raise InvalidRequest(f"invalid model name {name[:80]!r}: use letters, digits, '.', '-', '_', '/' and one ':tag'")
    return name if ":" in name else f"{name}:latest"


@dataclass(frozen=True)
class Registry:
    models: dict[str, ModelEntry]
    roles: dict[str, tuple[str, ...]]
    backends: dict[str, Backend] = field(default_factory=dict)

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
        backends: dict[str, Backend] = {}
        for table in tables:
            for name, backend in table.get("backends", {}).items():
                backends[name] = Backend.from_table(name, backend)
            for name, entry in table.get("models", {}).items():
                key = normalize_name(name)
                models[key] = ModelEntry.from_table(key, entry)
            for role, names in table.get("roles", {}).items():
                roles[role] = tuple(normalize_name(n) for n in ([names] if isinstance(names, str) else names))
        for entry in models.values():
            if entry.backend is not None and entry.backend not in backends:
                raise InvalidRequest(f'models.toml: model "{entry.name}" names unknown backend "{entry.backend}"')
        return cls(models, roles, backends)

    def get(self, name: str) -> ModelEntry:
        key = normalize_name(name)
        if key not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise ModelNotFound(f'model "{name}" not found, try pulling it first (known models: {known})')
        return self.models[key]


class RegistryFile:
    """The registry as the daemon sees it: re-read when the user's models.toml changes,
    so an edit or a pull shows up without a restart, at no cost per request otherwise."""

    def __init__(self, user_file: Path) -> None:
        self._file = user_file
        self._stamp: tuple[int, int] | None = None
        self._registry: Registry | None = None

    def current(self) -> Registry:
        try:
            stat = self._file.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = (0, 0)
        if self._registry is None or stamp != self._stamp:
            try:
                self._registry = Registry.load(self._file)
            except (InvalidRequest, ValueError, TypeError) as e:
                if self._registry is None:
                    raise
                log.warning("keeping the models from before: %s has an error: %s", self._file.name, e)
            self._stamp = stamp
        return self._registry
