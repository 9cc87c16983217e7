"""A throwaway copy of the workspace with a draft applied: checks run there, never on
the user's files. Real copies, not links, since a check may write to what it checks."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

# Not copied: version control, environments, caches and build output (large, and a check
# that needs them finds them on its own, as ruff and pytest do).
_SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "venv", "env", "__pycache__", ".mypy_cache",
                        ".pytest_cache", ".ruff_cache", ".tox", ".nox", "dist", "build", "target", ".idea", ".vscode"})
_MAX_FILE = 2 * 1024 * 1024
_MAX_TOTAL = 256 * 1024 * 1024


class WorkspaceTooLarge(Exception):
    pass


@asynccontextmanager
async def shadow_workspace(root: Path, changed: Mapping[str, str]) -> AsyncIterator[Path]:
    """Yield a temporary copy of `root` where each path of `changed` (relative) holds
    its new text; the copy is removed afterwards. Copying runs off the event loop."""
    tmp = await asyncio.to_thread(tempfile.mkdtemp, prefix="fireside-check-")
    try:
        shadow = Path(tmp) / root.name
        await asyncio.to_thread(_make, root, shadow, changed)
        yield shadow
    finally:
        await asyncio.to_thread(shutil.rmtree, tmp, True)


def _make(root: Path, shadow: Path, changed: Mapping[str, str]) -> None:
    _copy_tree(root, shadow)
    for relative, text in changed.items():
        target = (shadow / relative).resolve()
        if not target.is_relative_to(shadow.resolve()):
            raise ValueError(f"{relative} is outside the workspace")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        target.write_text(text, encoding="utf-8")


def _copy_tree(source: Path, target: Path) -> None:
    total = 0
    for directory, dirs, files in os.walk(source):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.endswith(".egg-info")]
        here = Path(directory)
        out = target / here.relative_to(source)
        out.mkdir(parents=True, exist_ok=True)
        for name in files:
            path = here / name
            if path.is_symlink() or not path.is_file():
                continue
            size = path.stat().st_size
            if size > _MAX_FILE:
                continue
            total += size
            if total > _MAX_TOTAL:
                raise WorkspaceTooLarge(f"the workspace holds more than {_MAX_TOTAL >> 20} MiB of source")
            shutil.copy2(path, out / name)
