"""Ollama's model-management API: what is installed (`tags`), loaded (`ps`) and inside a
model (`show`); `pull`, `create`, `copy`, `delete` and the blob uploads `create` uses.

Long operations (pull, create) stream Ollama's progress statuses as NDJSON unless
`stream` is false; an error after the stream began is a last `{"error": ...}` line.
File paths on this machine never appear in an answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from fireside.api import options as opt
from fireside.api.daemon import DAEMON, Daemon
from fireside.api.errors import HttpError
from fireside.api.ollama import FOREVER_SECONDS, timestamp
from fireside.api.remote import remote_name
from fireside.api.streams import EventStream
from fireside.engine.errors import InvalidRequest
from fireside.engine.pool import Resident
from fireside.models.download import DigestMismatch
from fireside.models.fetch import Progress, ProgressFn
from fireside.models.gguf_facts import GgufFacts
from fireside.models.library import CreateRequest, InstalledModel
from fireside.models.manifest import parse_digest
from fireside.models.memory_plan import split_allocations
from fireside.models.modelfile import Message
from fireside.models.registry import ModelEntry, normalize_name
from fireside.models.store import StoredModel

_REMOTE_DETAILS = {"parent_model": "", "format": "", "family": "", "families": [], "parameter_size": "", "quantization_level": ""}


def _name(body: dict[str, Any], key: str = "model") -> str:
    name = opt.text(body, key) or (opt.text(body, "name") if key == "model" else None)
    if not name:
        raise InvalidRequest(f"{key} is required", param=key)
    return name


async def _progress(request: web.Request, body: dict[str, Any], work: Callable[[ProgressFn], Awaitable[object]]) -> web.StreamResponse:
    """Run `work`, streaming each Progress it reports as an NDJSON line (or, with
    `stream` false, answering once it is done). Progress may come from worker threads."""
    if not opt.flag(body, "stream", True):
        await work(lambda _: None)
        return web.json_response({"status": "success"})
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Progress | None] = asyncio.Queue()
    task = asyncio.ensure_future(work(lambda p: loop.call_soon_threadsafe(queue.put_nowait, p)))
    task.add_done_callback(lambda _: queue.put_nowait(None))
    stream = EventStream(request, "ndjson")
    try:
        while (item := await queue.get()) is not None:
            await stream.send({k: v for k, v in vars(item).items() if v is not None})
        task.result()
    except asyncio.CancelledError:
        task.cancel()
        raise
    except Exception as e:  # noqa: BLE001 - reported in-band, as Ollama does
        await stream.send(HttpError.of(e).ollama())
    return await stream.close()


async def pull(request: web.Request) -> web.StreamResponse:
    body = await opt.json_body(request)
    target = _name(body)
    daemon = request.app[DAEMON]
    return await _progress(request, body, lambda progress: daemon.library.pull(target, daemon.registry(), progress))


def _create_request(body: dict[str, Any]) -> CreateRequest:
    """/api/create's fields: `from` a model, or `files` naming one uploaded GGUF blob."""
    base, files = opt.text(body, "from"), body.get("files") or {}
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise InvalidRequest("files must map file names to sha256 digests", param="files")
    if bool(base) == bool(files) or len(files) > 1:
        raise InvalidRequest("give either `from` (a model) or `files` (one uploaded GGUF file)", param="from")
    if body.get("quantize"):
        raise InvalidRequest("quantize is not supported: pull a quantized GGUF instead", param="quantize")
    adapters = body.get("adapters") or {}
    if not isinstance(adapters, dict):
        raise InvalidRequest("adapters must map file names to sha256 digests", param="adapters")
    messages = body.get("messages")
    if messages is not None and (not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages)):
        raise InvalidRequest("messages must be a list of {role, content}", param="messages")
    parameters = body.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidRequest("parameters must be an object", param="parameters")
    license_ = body.get("license")
    return CreateRequest(
        base=base or parse_digest(next(iter(files.values()))),
        adapters=tuple(parse_digest(d) for d in adapters.values()),
        template=opt.text(body, "template"),
        system=opt.text(body, "system"),
        parameters=parameters,
        messages=None if messages is None else tuple(Message(str(m.get("role")), str(m.get("content", ""))) for m in messages),
        license="\n".join(license_) if isinstance(license_, list) else opt.text(body, "license"),
    )


async def create(request: web.Request) -> web.StreamResponse:
    body = await opt.json_body(request)
    name = _name(body)
    spec = _create_request(body)
    daemon = request.app[DAEMON]

    async def work(progress: ProgressFn) -> None:
        progress(Progress(f"using {'existing layer ' + spec.base if spec.base.startswith('sha256') else 'model ' + spec.base}"))
        await daemon.library.create(name, spec, daemon.registry())
        progress(Progress("writing manifest"))
        progress(Progress("success"))

    return await _progress(request, body, work)


async def copy(request: web.Request) -> web.Response:
    body = await opt.json_body(request)
    source, destination = _name(body, "source"), _name(body, "destination")
    await asyncio.to_thread(request.app[DAEMON].library.store.copy, source, destination)
    return web.Response()


async def delete(request: web.Request) -> web.Response:
    body = await opt.json_body(request)
    name = _name(body)
    daemon = request.app[DAEMON]
    await asyncio.to_thread(daemon.library.store.remove, name)
    await daemon.pool.unload(normalize_name(name))
    return web.Response()


async def blob_exists(request: web.Request) -> web.Response:
    store = request.app[DAEMON].library.store
    found = await asyncio.to_thread(store.has_blob, parse_digest(request.match_info["digest"]))
    return web.Response(status=200 if found else 404)


async def blob_upload(request: web.Request) -> web.Response:
    """Store an uploaded file under the digest the client claims, if its bytes agree."""
    digest = parse_digest(request.match_info["digest"])
    store = request.app[DAEMON].library.store
    if await asyncio.to_thread(store.has_blob, digest):
        return web.Response(status=201)
    with store.writer("", digest) as blob:
        async for chunk in request.content.iter_chunked(1 << 20):
            await asyncio.to_thread(blob.write, chunk)
        try:
            await asyncio.to_thread(blob.commit)
        except DigestMismatch as e:
            raise InvalidRequest(f"the uploaded bytes do not match the digest: {e.message}", param="digest") from None
    return web.Response(status=201)


def _card(name: str, size: int, digest: str, modified: float, details: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "model": name, "modified_at": timestamp(modified), "size": size, "digest": digest.removeprefix("sha256:"), "details": details}


def _installed_cards(daemon: Daemon) -> list[dict[str, Any]]:
    """Blocking: every stored model, described from the index (no file is read)."""
    cards = []
    for stored in daemon.library.store.models():
        facts = daemon.library.store.facts(stored.manifest.weights.digest)
        cards.append(_card(stored.name, stored.manifest.size, stored.manifest.digest, stored.modified, facts.details()))
    return cards


def _remote_card(entry: ModelEntry, modified: float) -> dict[str, Any]:
    return {**_card(entry.name, 0, "", modified, _REMOTE_DETAILS), "remote_model": remote_name(entry)}


async def tags(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    models = await asyncio.to_thread(_installed_cards, daemon)
    remote = [e for e in daemon.registry().models.values() if e.backend is not None]
    stamp = daemon.paths.user_models_toml.stat().st_mtime if remote else 0.0
    return web.json_response({"models": models + [_remote_card(e, stamp) for e in remote]})


def _resident(resident: Resident, model: StoredModel | None, details: dict[str, Any]) -> dict[str, Any]:
    until = resident.until()
    info = resident.engine.info
    cpu, gpu = split_allocations(info.allocations) if info else (0, 0)
    return {
        "name": resident.name,
        "model": resident.name,
        "size": (cpu + gpu) or (model.manifest.size if model else 0),
        "digest": model.manifest.digest.removeprefix("sha256:") if model else "",
        "details": details,
        "expires_at": timestamp(time.time() + FOREVER_SECONDS if until is None else until),
        "size_vram": gpu,
        "context_length": info.n_ctx_per_seq if info else resident.engine.spec.settings.num_ctx,
    }


def _loaded(daemon: Daemon) -> list[dict[str, Any]]:
    stored = {m.name: m for m in daemon.library.store.models()}
    models = []
    for resident in daemon.pool.residents:
        model = stored.get(resident.name)
        details = daemon.library.store.facts(model.manifest.weights.digest).details() if model else _REMOTE_DETAILS
        models.append(_resident(resident, model, details))
    return models


async def ps(request: web.Request) -> web.Response:
    return web.json_response({"models": await asyncio.to_thread(_loaded, request.app[DAEMON])})


def _parameter_lines(parameters: dict[str, Any] | Any) -> str:
    """Ollama's `parameters` text: one `name value` line each, `stop` once per string."""
    return "\n".join(f"{k} {v}" for k, values in sorted(parameters.items()) for v in (values if isinstance(values, list) else [values]))


def _capabilities(model: InstalledModel) -> list[str]:
    facts = model.facts
    template = model.template or facts.chat_template
    found = ["completion"]
    found += ["chat"] if template else []
    found += ["tools"] if "tools" in template else []
    found += ["insert"] if facts.has_fim else []
    found += ["embedding"] if facts.is_embedding else []
    return found


async def _model_info(model: InstalledModel, verbose: bool) -> dict[str, Any]:
    """The GGUF metadata; `verbose` adds the vocabulary, which only the file itself has."""
    if not verbose:
        return model.facts.model_info()
    facts = await asyncio.to_thread(GgufFacts.read, model.weights, model.name)
    return facts.model_info(verbose=True)


async def show(request: web.Request) -> web.Response:
    body = await opt.json_body(request)
    name = _name(body)
    daemon = request.app[DAEMON]
    entry = daemon.remote_entry(name)
    if entry is not None:
        return web.json_response(
            {"modelfile": f"FROM {entry.name}\n", "parameters": "", "template": "", "details": _REMOTE_DETAILS, "model_info": {}, "capabilities": ["completion", "chat", "tools"], "remote_model": remote_name(entry),
             **({"prices": {"input": entry.prices[0], "output": entry.prices[1], "per": "1M tokens", "currency": "USD"}} if entry.prices else {})}
        )
    model = await daemon.installed(name)
    modelfile = model.modelfile()
    modified = await asyncio.to_thread(daemon.library.store.modified, model.name)
    return web.json_response(
        {
            "modelfile": modelfile.render(),
            "parameters": _parameter_lines(model.parameters),
            "template": model.template or model.facts.chat_template,
            "system": model.system or "",
            "license": model.license or model.facts.license,
            "messages": [{"role": m.role, "content": m.content} for m in model.messages],
            "details": model.facts.details(),
            "model_info": await _model_info(model, opt.flag(body, "verbose", False)),
            "capabilities": _capabilities(model),
            "modified_at": timestamp(modified),
        }
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/tags", tags)
    router.add_get("/api/ps", ps)
    router.add_post("/api/show", show)
    router.add_post("/api/pull", pull)
    router.add_post("/api/create", create)
    router.add_post("/api/copy", copy)
    router.add_delete("/api/delete", delete)
    router.add_head("/api/blobs/{digest}", blob_exists)
    router.add_post("/api/blobs/{digest}", blob_upload)
