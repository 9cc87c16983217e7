"""Definitions across the workspace, by name, from tree-sitter.

Built in the background when the session starts and updated when a file is saved, so
a prompt can show the signature of a function defined in a file that is not open.
Paths are relative to the root (as the language server names documents) where the
file is under it.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from fireside.context.definitions import Definition, definitions
from fireside.context.languages import language_for
from fireside.context.workspace_files import source_files

log = logging.getLogger(__name__)

_BINARY_PROBE = 8192  # bytes read to look for a NUL: a source file has none


class WorkspaceIndex:
    """Definitions across the workspace, by name. Built in the background; updated on save.

    Thread-safe: `build` runs in a worker thread while lookups and updates happen on the
    event loop. The maps are never changed in place: writers build new ones and swap them
    in under the lock, so a reader always sees a whole index.
    """

    def __init__(self, root: Path, *, max_files: int = 5000, max_file_bytes: int = 512_000) -> None:
        self.root = root.absolute()
        self.max_files = max_files
        self.max_file_bytes = max_file_bytes
        self._lock = threading.Lock()
        self._by_path: dict[str, tuple[Definition, ...]] = {}
        self._by_name: dict[str, tuple[Definition, ...]] = {}
        # While a build runs: the files updated (or removed: None) since it started, which
        # are newer than what the build read from disk.
        self._changed: dict[str, tuple[Definition, ...] | None] | None = None
        self._ready = False

    @property
    def ready(self) -> bool:
        return self._ready

    def build(self) -> None:
        """Index every supported file under the root (synchronous: reads and parses them all)."""
        with self._lock:
            self._changed = {}
        try:
            by_path = self._scan()
        except BaseException:
            with self._lock:
                self._changed = None
            raise
        with self._lock:
            for key, found in (self._changed or {}).items():
                if found is None:
                    by_path.pop(key, None)
                else:
                    by_path[key] = found
            self._changed = None
            by_name: dict[str, tuple[Definition, ...]] = {}
            for found in by_path.values():
                for definition in found:
                    by_name[definition.name] = (*by_name.get(definition.name, ()), definition)
            self._by_path, self._by_name = by_path, by_name
            self._ready = True
        log.info("workspace index: %d files, %d names", len(by_path), len(by_name))

    def _scan(self) -> dict[str, tuple[Definition, ...]]:
        by_path: dict[str, tuple[Definition, ...]] = {}
        for path in source_files(self.root):
            if len(by_path) >= self.max_files:
                log.warning("workspace index: stopped at %d files (max_files)", self.max_files)
                break
            text = self._read(path)
            if text is not None:
                key = str(path.relative_to(self.root))
                by_path[key] = self._parse(key, text)
        return by_path

    def update(self, path: str, text: str) -> None:
        """Re-index one file from its current text (on save, or from an open document)."""
        key = self._key(path)
        self._replace(key, self._parse(key, text) if language_for(key) is not None else None)

    def remove(self, path: str) -> None:
        self._replace(self._key(path), None)

    def lookup(self, name: str) -> list[Definition]:
        """The definitions of `name`, by path and line."""
        with self._lock:
            found = self._by_name.get(name, ())
        return sorted(found, key=lambda d: (d.path, d.start_line))

    def paths(self) -> list[str]:
        with self._lock:
            return sorted(self._by_path)

    def _replace(self, key: str, found: tuple[Definition, ...] | None) -> None:
        with self._lock:
            old = self._by_path.get(key, ())
            by_path = dict(self._by_path)
            by_name = dict(self._by_name)
            for name in {d.name for d in old} | {d.name for d in found or ()}:
                kept = tuple(d for d in by_name.get(name, ()) if d.path != key) + tuple(d for d in found or () if d.name == name)
                if kept:
                    by_name[name] = kept
                else:
                    del by_name[name]
            if found is None:
                by_path.pop(key, None)
            else:
                by_path[key] = found
            if self._changed is not None:
                self._changed[key] = found
            self._by_path, self._by_name = by_path, by_name

    def _key(self, path: str) -> str:
        """How the index names a file: relative to the root when under it."""
        candidate = Path(path)
        if candidate.is_absolute() and candidate.is_relative_to(self.root):
            return str(candidate.relative_to(self.root))
        return path

    def _read(self, path: Path) -> str | None:
        """The file's text; None for one too big, binary, not UTF-8, or gone since the walk."""
        try:
            if path.stat().st_size > self.max_file_bytes:
                return None
            data = path.read_bytes()
        except OSError:
            return None
        if b"\0" in data[:_BINARY_PROBE]:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    @staticmethod
    def _parse(path: str, text: str) -> tuple[Definition, ...]:
        language = language_for(path)
        assert language is not None
        return tuple(definitions(text, language, path))
