"""The content-addressed model store.

    <root>/blobs/sha256-<hex>          weights, templates, parameters... named by their digest
    <root>/manifests/<name>/<tag>.json one manifest per model, listing its layers
    <root>/partials/<key>.partial      downloads that can be resumed
    <root>/index.sqlite                what `list` shows, reference counts, cached GGUF facts
    <root>/lock                        held (flock) while anything above changes

Two names that share weights share one blob. Every file is written whole or not at all
(temporary file, fsync, rename, fsync of the directory), so a `kill -9` at any point
leaves at worst an orphaned temporary file or a resumable partial, never a truncated blob
or manifest. The manifests are the truth; the index is a cache of them, brought up to
date from their stamps (mtime, size) whenever it is read, so it can never disagree with
them for long. Blobs no manifest references stay until `prune` is asked for.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fireside.engine.errors import InvalidRequest, ModelNotFound
from fireside.models.download import DigestMismatch
from fireside.models.gguf_facts import GgufFacts
from fireside.models.manifest import Layer, Manifest, blob_name, digest_of, parse_digest
from fireside.models.registry import normalize_name

log = logging.getLogger("fireside.models")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS models (name TEXT PRIMARY KEY, manifest BLOB NOT NULL, modified REAL NOT NULL, stamp TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS layers (name TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (name, digest));
CREATE TABLE IF NOT EXISTS blobs (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, facts TEXT);
CREATE VIEW IF NOT EXISTS refs AS SELECT digest, COUNT(*) AS refs FROM layers GROUP BY digest;
"""
_FICLONE = 0x40049409  # linux/fs.h: share a file's extents (btrfs, xfs) instead of copying them


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{time.monotonic_ns()}")


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data`, whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_beside(path)
    try:
        with temp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


@dataclass(frozen=True)
class StoredModel:
    name: str
    manifest: Manifest
    modified: float


@dataclass(frozen=True)
class Pruned:
    blobs: int
    partials: int
    bytes: int


class BlobWriter:
    """A blob being written: bytes are hashed as they arrive and become a blob only when
    `commit` finds the digest it was told to expect (if any)."""

    def __init__(self, store: ModelStore, media_type: str, expected: str | None) -> None:
        self._store = store
        self._media_type = media_type
        self._expected = expected
        self._hash = hashlib.sha256()
        self.size = 0
        self.path = _temp_beside(store.root / "blobs" / "incoming")
        self._file: BinaryIO = self.path.open("wb")
        fcntl.flock(self._file, fcntl.LOCK_EX)  # so that `prune` leaves it alone

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self._file.write(data)
        self.size += len(data)

    def commit(self) -> Layer:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        digest = "sha256:" + self._hash.hexdigest()
        if self._expected is not None and digest != self._expected:
            raise DigestMismatch(f"sha256 mismatch: expected {self._expected}, got {digest}; nothing was stored")
        self._store.adopt(self.path, digest)
        return Layer(self._media_type, digest, self.size)

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("blobs", "manifests", "partials"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        with self._index() as db:
            db.executescript(_SCHEMA)

    # Paths.

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / blob_name(parse_digest(digest))

    def has_blob(self, digest: str, size: int | None = None) -> bool:
        try:
            found = self.blob_path(digest).stat().st_size
        except FileNotFoundError:
            return False
        return size is None or found == size

    def partial_path(self, key: str) -> Path:
        """Where a download of the blob `key` (a digest, or a hash of its URL) resumes from."""
        return self.root / "partials" / f"{blob_name(parse_digest(key))}.partial"

    def _manifest_path(self, name: str) -> Path:
        family, _, tag = normalize_name(name).rpartition(":")
        return self.root / "manifests" / family / f"{tag}.json"

    # Blobs.

    @contextmanager
    def writer(self, media_type: str, expected: str | None = None) -> Iterator[BlobWriter]:
        """Write a blob piece by piece; it is stored only by `commit()`, else discarded."""
        w = BlobWriter(self, media_type, parse_digest(expected) if expected else None)
        try:
            yield w
        finally:
            w.discard()

    def add_bytes(self, media_type: str, data: bytes) -> Layer:
        """A small layer (template, parameters...) stored from memory."""
        digest = digest_of(data)
        if not self.has_blob(digest, len(data)):
            temp = _temp_beside(self.root / "blobs" / "incoming")
            atomic_write(temp, data)
            self.adopt(temp, digest)
        return Layer(media_type, digest, len(data))

    def adopt(self, temp: Path, digest: str) -> None:
        """Make a complete, verified temporary file (in this store's filesystem) the blob
        `digest`; if the blob already exists the temporary file is dropped."""
        target = self.blob_path(digest)
        size = temp.stat().st_size
        with self._locked():
            if target.exists():
                temp.unlink()
            else:
                os.replace(temp, target)
                _fsync_dir(target.parent)
            with self._index() as db:
                db.execute("INSERT OR IGNORE INTO blobs (digest, size) VALUES (?, ?)", (digest, size))

    def import_file(self, path: Path, media_type: str, expected: str | None = None) -> Layer:
        """Bring a local file into the store: hard-linked (or reflinked) when it is on the
        same filesystem, copied otherwise, never duplicated when the blob is already here."""
        try:
            before = path.stat()
        except OSError as e:
            raise ModelNotFound(f"{path}: {e.strerror}") from None
        digest = _hash_file(path)
        if expected is not None and digest != parse_digest(expected):
            raise DigestMismatch(f"{path}: sha256 is {digest}, expected {expected}; nothing was stored")
        if not self.has_blob(digest, before.st_size):
            temp = _temp_beside(self.root / "blobs" / "incoming")
            try:
                _link_or_copy(path, temp)
                after = temp.stat()
                if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) and _hash_file(temp) != digest:
                    raise InvalidRequest(f"{path} changed while it was being imported; try again")
                self.adopt(temp, digest)
            finally:
                temp.unlink(missing_ok=True)
        return Layer(media_type, digest, before.st_size)

    def read_text(self, layer: Layer | None) -> str | None:
        return None if layer is None else self.blob_path(layer.digest).read_text("utf-8")

    def read_json(self, layer: Layer | None) -> object:
        return None if layer is None else json.loads(self.blob_path(layer.digest).read_bytes())

    def facts(self, digest: str) -> GgufFacts:
        """What the weights' GGUF header says, read once and then served from the index."""
        with self._index() as db:
            row = db.execute("SELECT facts FROM blobs WHERE digest = ?", (digest,)).fetchone()
        if row and row[0] and (cached := GgufFacts.from_json(row[0])) is not None:
            return cached
        facts = GgufFacts.read(self.blob_path(digest), digest[:19])
        with self._index() as db:
            db.execute(
                "INSERT INTO blobs (digest, size, facts) VALUES (?, ?, ?) ON CONFLICT(digest) DO UPDATE SET facts = excluded.facts",
                (digest, self.blob_path(digest).stat().st_size, facts.to_json()),
            )
        return facts

    # Manifests.

    def get(self, name: str) -> Manifest:
        path = self._manifest_path(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ModelNotFound(f'model "{name}" not found, try pulling it first') from None
        return Manifest.parse(data, path.relative_to(self.root))

    def modified(self, name: str) -> float:
        """When `name` was last pulled, created or copied (its manifest's time)."""
        try:
            return self._manifest_path(name).stat().st_mtime
        except FileNotFoundError:
            raise ModelNotFound(f'model "{name}" not found, try pulling it first') from None

    def put(self, name: str, manifest: Manifest) -> None:
        """Name `manifest`; every layer must already be in the store, whole."""
        for layer in manifest.layers:
            if not self.has_blob(layer.digest, layer.size):
                raise InvalidRequest(f"layer {layer.digest} ({layer.media_type}) is not in the store")
        with self._locked():
            atomic_write(self._manifest_path(name), manifest.to_bytes())
            with self._index() as db:
                self._sync(db)

    def remove(self, name: str) -> Manifest:
        manifest = self.get(name)
        with self._locked():
            self._manifest_path(name).unlink(missing_ok=True)
            _fsync_dir(self._manifest_path(name).parent)
            with self._index() as db:
                self._sync(db)
        return manifest

    def copy(self, source: str, destination: str) -> None:
        self.put(destination, self.get(source))

    def models(self) -> list[StoredModel]:
        """Every named model, from the index (brought up to date with the manifests)."""
        with self._locked(), self._index() as db:
            self._sync(db)
            rows = db.execute("SELECT name, manifest, modified FROM models ORDER BY name").fetchall()
        return [StoredModel(name, Manifest.parse(data, name), modified) for name, data, modified in rows]

    def references(self) -> dict[str, int]:
        """How many models use each blob."""
        with self._locked(), self._index() as db:
            self._sync(db)
            return dict(db.execute("SELECT digest, refs FROM refs").fetchall())

    def prune(self) -> Pruned:
        """Delete blobs no manifest references, and partial or temporary files no running
        download holds. Only ever on request: a start-up never deletes anything."""
        blobs = partials = freed = 0
        with self._locked(), self._index() as db:
            self._sync(db)
            used = {blob_name(digest) for (digest,) in db.execute("SELECT DISTINCT digest FROM layers")}
            for path in (self.root / "blobs").iterdir():
                temporary = path.name.startswith(".")
                if path.name in used or (temporary and _held(path)):
                    continue
                freed += path.stat().st_size
                path.unlink()
                if not temporary:
                    blobs += 1
                    db.execute("DELETE FROM blobs WHERE digest = ?", (path.name.replace("-", ":", 1),))
            for path in (self.root / "partials").iterdir():
                if not _held(path):
                    freed += path.stat().st_size
                    path.unlink()
                    partials += 1
        return Pruned(blobs, partials, freed)

    # The index and the lock.

    @contextmanager
    def _index(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.root / "index.sqlite", timeout=30)) as db, db:
            yield db

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.root / "lock").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _sync(self, db: sqlite3.Connection) -> None:
        """Bring the index up to date with the manifests on disk (a stat per manifest)."""
        on_disk: dict[str, tuple[Path, os.stat_result]] = {}
        base = self.root / "manifests"
        for path in base.rglob("*.json"):
            if path.name.startswith("."):
                continue
            family = path.parent.relative_to(base).as_posix()
            on_disk[f"{family}:{path.stem}"] = (path, path.stat())
        indexed = dict(db.execute("SELECT name, stamp FROM models").fetchall())
        for name in indexed.keys() - on_disk.keys():
            db.execute("DELETE FROM models WHERE name = ?", (name,))
            db.execute("DELETE FROM layers WHERE name = ?", (name,))
        for name, (path, stat) in on_disk.items():
            stamp = f"{stat.st_mtime_ns}:{stat.st_size}"
            if indexed.get(name) == stamp:
                continue
            db.execute("DELETE FROM layers WHERE name = ?", (name,))
            db.execute("DELETE FROM models WHERE name = ?", (name,))
            try:
                data = path.read_bytes()
                manifest = Manifest.parse(data, path.relative_to(self.root))
            except (OSError, InvalidRequest) as e:
                log.warning("skipping a manifest that cannot be read: %s", e)
                continue
            db.execute("INSERT INTO models VALUES (?, ?, ?, ?)", (name, data, stat.st_mtime, stamp))
            db.executemany("INSERT OR IGNORE INTO layers VALUES (?, ?)", [(name, d) for d in manifest.digests])


def _hash_file(path: Path) -> str:
    with path.open("rb") as f:
        return "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
        return
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
    with source.open("rb") as src, target.open("wb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
        except OSError:
            shutil.copyfileobj(src, dst, 1 << 20)
        dst.flush()
        os.fsync(dst.fileno())


def _held(path: Path) -> bool:
    """Whether a running download holds `path` (it keeps an exclusive flock on it)."""
    try:
        with path.open("rb") as f:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(f, fcntl.LOCK_UN)
            return False
    except BlockingIOError:
        return True
    except FileNotFoundError:
        return True
