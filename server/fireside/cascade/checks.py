"""The checks a draft must pass: the syntax of what it changed, then the workspace's own
lint and test commands, run in a shadow copy with a time limit.

Commands come from `.fireside.toml` at the workspace root:

    [checks]
    lint = "ruff check {files}"
    test = "pytest -x -q {tests}"
    timeout = 120

`{files}` becomes the changed files, `{tests}` the test files that belong to them (or
nothing, so the whole suite runs). Without that file, tools found on this machine are
used for the changed files' languages (ruff for Python).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fireside.context.languages import language_for

EXCERPT = 2000  # characters of a failing check's output kept (for the cloud model and the ledger)


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    output: str = ""  # the tail of what it printed, when it failed

    def __str__(self) -> str:
        return f"{self.name} {'passed' if self.passed else 'failed'}"


@dataclass(frozen=True)
class CheckConfig:
    commands: Mapping[str, str]  # name -> command line with {files} / {tests}
    timeout: float = 120.0

    @classmethod
    def for_workspace(cls, root: Path, changed: Sequence[str]) -> CheckConfig:
        """The workspace's configured checks, else defaults for tools that are installed.
        A broken `.fireside.toml` raises ValueError naming the problem."""
        config = root / ".fireside.toml"
        if config.is_file():
            try:
                table = tomllib.loads(config.read_text(encoding="utf-8")).get("checks", {})
            except tomllib.TOMLDecodeError as e:
                raise ValueError(f".fireside.toml: {e}") from None
            commands = {k: v for k, v in table.items() if k != "timeout"}
            if not all(isinstance(v, str) for v in commands.values()):
                raise ValueError(".fireside.toml: each [checks] entry must be a command line (a string)")
            timeout = table.get("timeout", 120)
            if not isinstance(timeout, int | float) or timeout <= 0:
                raise ValueError(".fireside.toml: [checks] timeout must be a positive number of seconds")
            if commands:
                return cls(commands, float(timeout))
        return cls(_default_commands(changed))


def _default_commands(changed: Sequence[str]) -> dict[str, str]:
    languages = {lang.name for path in changed if (lang := language_for(path))}
    commands = {}
    if "python" in languages and (ruff := _tool("ruff")):
        commands["lint"] = f"{shlex.quote(ruff)} check --no-cache --quiet {{files}}"
    return commands


def _tool(name: str) -> str | None:
    """A tool on PATH, or beside this Python (the environment Fireside runs in)."""
    beside = Path(sys.executable).parent / name
    return shutil.which(name) or (str(beside) if beside.is_file() else None)


def syntax_check(path: str, text: str, start: int, end: int) -> CheckResult:
    """No error or missing nodes in the changed region (`start`..`end`, character
    offsets); errors elsewhere in the file were there before and are not the draft's."""
    language = language_for(path)
    if language is None:
        return CheckResult("syntax", True)
    tree = language.parser().parse(text.encode("utf-8"))
    lo, hi = len(text[:start].encode("utf-8")), len(text[:end].encode("utf-8"))
    problems: list[str] = []
    cursor = [tree.root_node]
    while cursor:
        node = cursor.pop()
        if node.end_byte < lo or node.start_byte > hi or not node.has_error:
            continue
        if node.is_error or node.is_missing:
            line, column = node.start_point
            problems.append(f"{path}:{line + 1}:{column + 1}: {'missing ' + node.type if node.is_missing else 'syntax error'}")
        cursor.extend(node.children)
    return CheckResult("syntax", not problems, "\n".join(sorted(problems)[:20]))


def related_tests(root: Path, changed: Sequence[str]) -> list[str]:
    """Test files that belong to the changed files by the usual layouts: the changed
    file itself if it is a test, tests/test_<name>.py, test_<name>.py beside it,
    <name>.test.js / .spec.ts beside it."""
    found: list[str] = []
    for path in changed:
        p = PurePosixPath(path)
        stem = p.stem
        if stem.startswith("test_") or stem.endswith(("_test", ".test", ".spec")):
            candidates = [p]
        else:
            candidates = [PurePosixPath("tests") / f"test_{stem}{p.suffix}", p.parent / f"test_{stem}{p.suffix}", PurePosixPath("test") / f"test_{stem}{p.suffix}",
                          p.parent / f"{stem}.test{p.suffix}", p.parent / f"{stem}.spec{p.suffix}"]
        for candidate in candidates:
            if (root / candidate).is_file() and str(candidate) not in found:
                found.append(str(candidate))
    return found


async def run_command(name: str, command: str, cwd: Path, files: Sequence[str], tests: Sequence[str], timeout: float) -> CheckResult:
    """Run one configured check in `cwd`; a missing tool is reported as such, not as a failure of the draft."""
    argv: list[str] = []
    for word in shlex.split(command):
        if word == "{files}":
            argv.extend(files)
        elif word == "{tests}":
            argv.extend(tests)
        else:
            argv.append(word.replace("{files}", " ".join(files)).replace("{tests}", " ".join(tests)))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        process = await asyncio.create_subprocess_exec(*argv, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                       stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    except FileNotFoundError:
        return CheckResult(name, True, f"skipped: {argv[0]} is not installed")
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        _kill(process)
        return CheckResult(name, False, f"{command}: no result within {timeout:.0f} s")
    except asyncio.CancelledError:
        _kill(process)
        raise
    text = output.decode("utf-8", "replace")
    return CheckResult(name, process.returncode == 0, "" if process.returncode == 0 else text[-EXCERPT:])


def _kill(process: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(process.pid, 9)
    except ProcessLookupError:
        pass
