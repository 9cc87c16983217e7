"""The source files of a workspace worth indexing: what git would track, in languages
completion understands.

`.gitignore` files are honoured at every level, with git's precedence (a nested file's
rules override its parents', and the last matching rule wins, `!` included). Dependency,
build and cache directories, and hidden ones (`.git`, `.venv`), are skipped even where no
`.gitignore` says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pathspec

from fireside.context.languages import language_for

SKIPPED_DIRS = frozenset({"node_modules", "venv", "__pycache__", "build", "dist", "target", "vendor", "site-packages"})


@dataclass(frozen=True)
class _Ignore:
    base: Path  # the directory of the .gitignore
    spec: pathspec.GitIgnoreSpec


def source_files(root: Path) -> Iterator[Path]:
    """Supported source files under `root`, in a stable (sorted, depth-first) order."""
    ignores: list[_Ignore] = []
    for directory, dirs, names in os.walk(root):
        here = Path(directory)
        ignores = [i for i in ignores if i.base == here or i.base in here.parents]
        if ".gitignore" in names:
            try:
                lines = (here / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
                ignores.append(_Ignore(here, pathspec.GitIgnoreSpec.from_lines(lines)))
            except OSError:
                pass
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".") and not _ignored(here / d, True, ignores))
        for name in sorted(names):
            path = here / name
            if language_for(name) is not None and not _ignored(path, False, ignores):
                yield path


def _ignored(path: Path, is_dir: bool, ignores: list[_Ignore]) -> bool:
    """Whether git would ignore `path`: the nearest .gitignore with a matching rule decides."""
    for ignore in reversed(ignores):
        relative = path.relative_to(ignore.base).as_posix() + ("/" if is_dir else "")
        result = ignore.spec.check_file(relative)
        if result.include is not None:
            return result.include
    return False
