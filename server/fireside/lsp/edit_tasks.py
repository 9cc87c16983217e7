"""What each code action asks of a model, as an `EditTask`: which region of which file is
rewritten, and the instruction. Regions are whole lines: the enclosing function for a
fix, a docstring or tests; the selection for a refactor."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fireside.cascade.drafts import EditTask
from fireside.context.languages import language_for
from fireside.context.parse_cache import ParseCache
from fireside.context.syntax import enclosing_scopes

_FUNCTIONS = ("function", "method", "arrow", "lambda")  # node types that hold one function, by their names' parts


@dataclass(frozen=True)
class Scope:
    start: int  # character offsets of whole lines
    end: int
    name: str


def enclosing_function(path: str, text: str, offset: int, cache: ParseCache) -> Scope | None:
    """The innermost function around `offset` (else the innermost class), as whole lines."""
    language = language_for(path)
    if language is None:
        return None
    parsed = cache.parsed(text, language, path)
    scopes = enclosing_scopes(parsed, offset)
    if not scopes:
        return None
    functions = [n for n in scopes if any(part in n.type for part in _FUNCTIONS)]
    node = (functions or scopes)[-1]
    start = parsed.char_offset(node.start_byte)
    end = parsed.char_offset(node.end_byte)
    name_node = node.child_by_field_name("name")
    name = name_node.text.decode("utf-8", "replace") if name_node is not None and name_node.text else ""
    return Scope(*whole_lines(text, start, end), name)


def whole_lines(text: str, start: int, end: int) -> tuple[int, int]:
    """From the start of `start`'s line to past the line break ending `end`'s line."""
    first = text.rfind("\n", 0, start) + 1
    if end > start and text[end - 1 : end] == "\n":
        return first, end
    last = text.find("\n", end)
    return first, len(text) if last < 0 else last + 1


def fix_task(path: str, text: str, start: int, end: int, message: str, source: str | None, code: str | None, cache: ParseCache) -> EditTask:
    scope = enclosing_function(path, text, start, cache)
    lo, hi = (scope.start, scope.end) if scope else whole_lines(text, start, end)
    line = text.count("\n", 0, start) + 1
    reported = f"{source}: " if source else ""
    coded = f" [{code}]" if code else ""
    return EditTask("fix", f"Fix: {message}", path, text, lo, hi,
                    f"Fix the problem {reported}{message}{coded} (reported at line {line}) with the smallest change; keep everything else as it is.",
                    language=_fence(path))


def refactor_task(path: str, text: str, start: int, end: int, instruction: str) -> EditTask:
    lo, hi = whole_lines(text, start, end)
    return EditTask("refactor", f"Refactor: {instruction}", path, text, lo, hi, f"{instruction.strip()} Keep the behaviour the same unless told otherwise.", language=_fence(path))


def docstring_task(path: str, text: str, scope: Scope) -> EditTask:
    return EditTask("docstring", f"Add docstring to {scope.name or 'this code'}", path, text, scope.start, scope.end,
                    "Add a docstring (or doc comment, as this language does it) that says what the code is for, and brief comments where it is not "
                    "obvious. Do not change the code itself.", language=_fence(path))


def tests_task(root: Path, path: str, text: str, scope: Scope, existing: str | None) -> EditTask:
    """Tests for the function at `scope`, appended to its test file (or a new one) by the
    project's layout."""
    target = test_path(root, path)
    subject = text[scope.start : scope.end]
    module = ".".join(PurePosixPath(path).with_suffix("").parts)
    where = f"Import it from `{module}`." if PurePosixPath(path).suffix == ".py" else f"Import it from `{path}`."
    body = existing or ""
    if body and not body.endswith("\n"):
        body += "\n"
    return EditTask("tests", f"Generate tests for {scope.name or 'this code'}", target, body, len(body), len(body),
                    f"Write unit tests for `{scope.name}` from `{path}`, in the style of this project's tests. {where}"
                    + (" Add to the existing test file: write only the new tests (and any imports they need)." if body else " Write the whole test file."),
                    subject=subject, language=_fence(path))


def test_path(root: Path, path: str) -> str:
    """Where tests for `path` go: Python's tests/test_<name>.py (or beside the module when
    the project has no tests/ directory), JavaScript's and TypeScript's <name>.test.<ext>
    beside it, Go's <name>_test.go, others a tests/ file of the same extension."""
    p = PurePosixPath(path)
    if p.suffix == ".py":
        return str(PurePosixPath("tests") / f"test_{p.name}") if (root / "tests").is_dir() else str(p.parent / f"test_{p.name}")
    if p.suffix in (".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs"):
        return str(p.parent / f"{p.stem}.test{p.suffix}")
    if p.suffix == ".go":
        return str(p.parent / f"{p.stem}_test.go")
    return str(PurePosixPath("tests") / f"test_{p.name}")


def _fence(path: str) -> str:
    language = language_for(path)
    return language.name if language else ""
