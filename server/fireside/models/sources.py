"""Resolving a model's `source` to a GGUF file on this machine.

`pypi:PKG[+PKG...]/MEMBER` reads files out of installed distributions (MEMBER may be a glob
matched in each package, in order); several parts are concatenated once into the cache and
verified against the registry's sha256. Downloading sources arrive with the model store.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import tempfile
from importlib import metadata
from pathlib import Path

from fireside.engine.errors import ModelLoadError, ModelUnavailable
from fireside.models.registry import ModelEntry

GGUF_MAGIC = b"GGUF"


def resolve(entry: ModelEntry, cache_dir: Path) -> Path:
    """A local GGUF file for `entry`, checked to at least look like one."""
    if entry.source.startswith("pypi:"):
        path = _resolve_pypi(entry, cache_dir)
    else:
        path = Path(entry.source).expanduser()
        if not path.is_file():
            raise ModelUnavailable(f'model "{entry.name}": no file at {path}')
    check_gguf_header(path)
    return path


def check_gguf_header(path: Path) -> None:
    """Reject what is plainly not a GGUF before a worker is started for it."""
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise ModelLoadError(f"cannot read {path}: {e}") from e
    if magic != GGUF_MAGIC:
        raise ModelLoadError(f"{path} is not a GGUF file (it starts with {magic!r}, not {GGUF_MAGIC!r})")


def _pypi_parts(entry: ModelEntry) -> list[Path]:
    spec = entry.source.removeprefix("pypi:")
    packages, _, member = spec.partition("/")
    if not packages or not member:
        raise ModelLoadError(f'model "{entry.name}": source {entry.source!r} is not pypi:PKG[+PKG...]/MEMBER')
    parts: list[Path] = []
    for package in packages.split("+"):
        try:
            dist = metadata.distribution(package)
        except metadata.PackageNotFoundError:
            raise ModelUnavailable(
                f'model "{entry.name}" comes from the package {package}, which is not installed '
                f"(pip install {' '.join(packages.split('+'))})"
            ) from None
        matches = sorted(str(f) for f in dist.files or () if fnmatch.fnmatch(str(f), member))
        if len(matches) != 1:
            raise ModelUnavailable(f'model "{entry.name}": {package} has {len(matches)} files matching {member!r}, not 1')
        parts.append(Path(str(dist.locate_file(matches[0]))))
    return parts


def _resolve_pypi(entry: ModelEntry, cache_dir: Path) -> Path:
    parts = _pypi_parts(entry)
    if len(parts) == 1:
        return parts[0]
    key = entry.sha256 or hashlib.sha256("\n".join(map(str, parts)).encode()).hexdigest()
    target = cache_dir / "assembled" / f"{key}.gguf"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while block := f.read(1 << 20):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if entry.sha256 and digest.hexdigest() != entry.sha256:
            raise ModelLoadError(f'model "{entry.name}": assembled file has sha256 {digest.hexdigest()}, expected {entry.sha256}')
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
