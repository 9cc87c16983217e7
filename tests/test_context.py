"""Golden tests of the completion context (`fireside.context`): languages, completion
shapes, definitions and signatures, the workspace index, recent edits, and the prompt
builder's choices within a budget.

The fixture workspace (tests/fixtures/context/workspace) holds a little of each language.
Its ignore files are named `gitignore` (a real `.gitignore` there would hide the files it
ignores from this repository's git): `workspace()` copies it and renames them.
"""

from __future__ import annotations

import math
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from fireside.context.definitions import (
    definitions,
    identifier_uses,
    identifiers_near,
    import_header,
)
from fireside.context.languages import language_for
from fireside.context.parse_cache import ParseCache
from fireside.context.parsed import Parsed
from fireside.context.prompt import (
    CompletionContext,
    Document,
    Snippet,
    Sources,
    build_context,
    estimate_tokens,
    truncated_context,
)
from fireside.context.recent_edits import RecentEdits
from fireside.context.syntax import Shape, completion_shape
from fireside.context.workspace_index import WorkspaceIndex

FIXTURE = Path(__file__).parent / "fixtures" / "context" / "workspace"
CURSOR = "▮"


def at_cursor(source: str) -> tuple[str, int]:
    """The text without its cursor mark, and the cursor's offset."""
    return source.replace(CURSOR, "", 1), source.index(CURSOR)


def fixture_text(path: str) -> str:
    return (FIXTURE / path).read_text(encoding="utf-8")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """The fixture workspace with its .gitignore files in place, plus what a real one
    also holds and the index must skip: a build directory, hidden and cache directories,
    a binary file and an oversized one."""
    root = tmp_path / "workspace"
    shutil.copytree(FIXTURE, root)
    for ignore in root.rglob("gitignore"):
        ignore.rename(ignore.with_name(".gitignore"))
    (root / "build").mkdir()
    (root / "build" / "built.py").write_text("def built_helper():\n    pass\n")
    for hidden in (".venv/lib", ".git", "__pycache__"):
        (root / hidden).mkdir(parents=True)
        (root / hidden / "cached.py").write_text("def cached_helper():\n    pass\n")
    (root / "app" / "run.log").write_text("def logged():\n")
    (root / "blob.py").write_bytes(b"def binary_helper():\x00\x01\x02\n")
    (root / "huge.py").write_text("def huge_helper():\n" + "    x = 1\n" * 400)
    return root


# Languages

@pytest.mark.parametrize(
    ("language_id", "name"),
    [("python", "python"), ("javascript", "javascript"), ("javascriptreact", "javascript"), ("typescript", "typescript"),
     ("typescriptreact", "tsx"), ("go", "go"), ("rust", "rust"), ("java", "java"), ("c", "c"), ("cpp", "cpp"), ("lua", "lua")],
)
def test_language_for_takes_the_lsp_language_id_first(language_id: str, name: str) -> None:
    language = language_for("file.txt", language_id)
    assert language is not None and language.name == name


@pytest.mark.parametrize(
    ("path", "name"),
    [("a.py", "python"), ("stubs/a.pyi", "python"), ("a.js", "javascript"), ("a.jsx", "javascript"), ("a.mjs", "javascript"),
     ("a.ts", "typescript"), ("A.TSX", "tsx"), ("main.go", "go"), ("src/lib.rs", "rust"), ("Calc.java", "java"), ("a.c", "c"),
     ("a.h", "c"), ("a.cpp", "cpp"), ("a.hpp", "cpp"), ("a.cc", "cpp"), ("init.lua", "lua")],
)
def test_language_for_falls_back_to_the_extension(path: str, name: str) -> None:
    language = language_for(path, "plaintext")
    assert language is not None and language.name == name
    assert language_for(path) == language


@pytest.mark.parametrize(("path", "language_id"), [("script.rb", None), ("Makefile", None), ("notes.txt", "plaintext"), ("a.rb", "ruby")])
def test_language_for_unsupported_is_none(path: str, language_id: str | None) -> None:
    assert language_for(path, language_id) is None


def test_languages_know_their_line_comments() -> None:
    comments = {name: language_for("x", name).comment for name in ("python", "typescript", "go", "rust", "java", "c", "cpp", "lua")}  # type: ignore[union-attr]
    assert comments == {"python": "#", "typescript": "//", "go": "//", "rust": "//", "java": "//", "c": "//", "cpp": "//", "lua": "--"}


# Completion shapes

LINE, BLOCK = Shape.LINE, Shape.BLOCK


@pytest.mark.parametrize(
    ("path", "source", "shape"),
    [
        # Mid-line: code after the cursor.
        ("a.py", "x = fo▮o(1)", LINE),
        ("a.ts", "const total = add(▮a, b);", LINE),
        ("a.go", "x := f▮(y)", LINE),
        # Only what auto-pairing typed after the cursor: still the end of the line.
        ("a.py", "x = foo(▮)", LINE),
        ("a.js", "if (x) {▮}", BLOCK),
        # An empty body right after its opener.
        ("a.py", "def f():\n    ▮", BLOCK),
        ("a.py", "def f():\n    ▮\n\n\ndef g():\n    pass\n", BLOCK),
        ("a.py", "class A:\n    def m(self):\n        ▮\n", BLOCK),
        ("a.py", "if ready:  # a comment\n    ▮", BLOCK),
        ("a.js", "function f() {\n  ▮\n}\n", BLOCK),
        ("a.ts", "class A {\n  m(): void {\n    ▮\n  }\n}\n", BLOCK),
        ("a.go", "func f() {\n\t▮\n}\n", BLOCK),
        ("a.rs", "fn main() {\n    ▮\n}\n", BLOCK),
        ("Calc.java", "class Calc {\n    int sum() {\n        ▮\n    }\n}\n", BLOCK),
        ("a.c", "int main(void) {\n    ▮\n}\n", BLOCK),
        ("a.lua", "function M.run(a)\n  ▮\nend\n", BLOCK),
        # At the end of a line that opens a block.
        ("a.py", "def f():▮", BLOCK),
        ("a.py", "for item in items:▮", BLOCK),
        ("a.js", "if (x) {▮", BLOCK),
        ("a.go", "func f() {▮", BLOCK),
        ("a.rs", "impl Point {▮", BLOCK),
        ("a.cpp", "for (int i = 0; i < n; i++) {▮", BLOCK),
        ("a.lua", "if ready then▮", BLOCK),
        # After a complete statement, in a body that has code already, or in a string.
        ("a.py", "x = 1▮", LINE),
        ("a.py", "def f():\n    x = 1\n    ▮", LINE),
        ("a.py", "def f():\n    ▮\n    return 1\n", LINE),
        ("a.py", "label = 'key:▮'", LINE),
        ("a.js", "const s = \"{▮\";", LINE),
        ("a.js", "function f() {\n  ▮\n  return 1;\n}\n", LINE),
        ("a.go", "x := f()▮", LINE),
        ("a.rs", "fn main() {\n    let x = 1;▮\n}\n", LINE),
        ("a.c", "int main(void) {\n    return 0;▮\n}\n", LINE),
        ("a.lua", "local x = 1▮", LINE),
        # No grammar: the line's last characters and indentation decide.
        ("a.rb", "x = {▮", BLOCK),
        ("a.rb", "if x:\n    ▮", BLOCK),
        ("a.rb", "if x:\n    ▮\n    y\n", LINE),
        ("a.rb", "x = 1▮", LINE),
        ("a.rb", "x = fo▮o", LINE),
    ],
)
def test_completion_shape(path: str, source: str, shape: Shape) -> None:
    text, offset = at_cursor(source)
    assert completion_shape(text, offset, language_for(path)) is shape


# Definitions, signatures, imports

DEFINITIONS = {
    "app/config.py": [
        ("Config", "class", 9, 15, "", "@dataclass(frozen=True)\nclass Config:\n    host: str\n    port: int = 8080\n    def url(self) -> str:"),
        ("url", "method", 14, 15, "Config", "def url(self) -> str:"),
        ("parse_config", "function", 18, 22, "", "def parse_config(path: Path, *, strict: bool = True) -> Config:"),
    ],
    "app/main.py": [
        ("Server", "class", 10, 20, "", "class Server:\n    def __init__(self, url: str) -> None:\n    def handle(self, request: str) -> str:\n    def stats(self) -> dict[str, int]:"),
        ("__init__", "method", 11, 13, "Server", "def __init__(self, url: str) -> None:"),
        ("handle", "method", 15, 17, "Server", "def handle(self, request: str) -> str:"),
        ("stats", "method", 19, 20, "Server", "def stats(self) -> dict[str, int]:"),
        ("main", "function", 23, 27, "", "def main(argv: list[str]) -> int:"),
    ],
    "web/api.ts": [
        ("User", "interface", 2, 5, "", "export interface User {\n  id: number;\n  name: string;\n}"),
        ("fetchUser", "function", 7, 10, "", "export async function fetchUser(client: HttpClient, id: number): Promise<User>"),
        ("UserCache", "class", 12, 22, "", "export class UserCache {\n  private users = new Map<number, User>();\n  get(id: number): User | undefined\n  put(user: User): void\n}"),
        ("get", "method", 15, 17, "UserCache", "get(id: number): User | undefined"),
        ("put", "method", 19, 21, "UserCache", "put(user: User): void"),
    ],
    "web/app.ts": [
        ("cache", "variable", 3, 3, "", "const cache = new UserCache();"),
        ("greet", "function", 5, 9, "", "export async function greet(client: HttpClient, id: number): Promise<string>"),
    ],
    "server/server.go": [
        ("Server", "type", 8, 11, "", "type Server struct {\n\tAddr  string\n\tHits  int\n}"),
        ("NewServer", "function", 13, 15, "", "func NewServer(addr string) *Server"),
        ("Health", "method", 17, 20, "", "func (s *Server) Health(w http.ResponseWriter, r *http.Request)"),
    ],
    "geometry/src/lib.rs": [
        ("Point", "struct", 4, 7, "", "pub struct Point {\n    pub x: f64,\n    pub y: f64,\n}"),
        ("Point", "impl", 9, 17, "", "impl Point {\n    pub fn new(x: f64, y: f64) -> Self\n    pub fn distance(&self, other: &Point) -> f64\n}"),
        ("new", "method", 10, 12, "Point", "pub fn new(x: f64, y: f64) -> Self"),
        ("distance", "method", 14, 16, "Point", "pub fn distance(&self, other: &Point) -> f64"),
        ("centroid", "function", 19, 23, "", "pub fn centroid(points: &[Point]) -> Point"),
    ],
    "calc/Calc.java": [
        ("Calc", "class", 4, 18, "", "public class Calc {\n    private final int scale;\n    public Calc(int scale)\n    public int sum(List<Integer> values)\n}"),
        ("Calc", "constructor", 7, 9, "Calc", "public Calc(int scale)"),
        ("sum", "method", 11, 17, "Calc", "public int sum(List<Integer> values)"),
    ],
    "native/clamp.c": [
        ("range", "struct", 3, 6, "", "struct range {\n    int lo;\n    int hi;\n}"),
        ("clamp", "function", 8, 12, "", "int clamp(int value, int lo, int hi)"),
        ("clamp_to", "function", 14, 16, "", "int clamp_to(struct range r, int value)"),
    ],
    "scripts/helpers.lua": [
        ("trim", "function", 4, 6, "", "local function trim(s)"),
        ("load", "function", 8, 13, "", "function M.load(path)"),
    ],
}


@pytest.mark.parametrize("path", sorted(DEFINITIONS))
def test_definitions_and_signatures(path: str) -> None:
    text = fixture_text(path)
    language = language_for(path)
    assert language is not None
    found = definitions(text, language, path)
    assert [(d.name, d.kind, d.start_line, d.end_line, d.scope, d.signature) for d in found] == DEFINITIONS[path]
    lines = text.split("\n")
    for d in found:
        assert d.path == path
        # The whole definition, decorators included (C's `;` after a struct is a node of its own).
        source = "\n".join(lines[d.start_line : d.end_line + 1]).strip()
        assert d.text in (source, source.removesuffix(";"))


def test_definitions_leave_out_nested_functions_and_take_cpp_templates_and_namespaces() -> None:
    cpp = "namespace geo {\ntemplate <typename T> T twice(T x) { return x * 2; }\nclass Shape {\n public:\n  virtual double area() const = 0;\n};\n}\nvoid geo::Shape::draw() {}\n"
    found = definitions(cpp, language_for("a.cpp"), "a.cpp")  # type: ignore[arg-type]
    assert [(d.name, d.kind, d.scope) for d in found] == [("geo", "namespace", ""), ("twice", "function", "geo"), ("Shape", "class", "geo"), ("draw", "function", "")]
    assert found[2].signature == "class Shape {\n public:\n  virtual double area() const = 0;\n}"
    python = "def outer():\n    def inner():\n        pass\n    return inner\n"
    assert [d.name for d in definitions(python, language_for("a.py"), "a.py")] == ["outer"]  # type: ignore[arg-type]


def test_definitions_survive_a_line_being_typed() -> None:
    text = fixture_text("app/main.py").replace("    def stats(self)", "    def sta(\n    def stats(self)")
    names = [d.name for d in definitions(text, language_for("a.py"), "app/main.py")]  # type: ignore[arg-type]
    assert "main" in names and "handle" in names


IMPORTS = {
    "app/config.py": "from __future__ import annotations\nimport tomllib\nfrom dataclasses import dataclass\nfrom pathlib import Path",
    "app/main.py": "from __future__ import annotations\nimport sys\nfrom pathlib import Path\nfrom app.config import parse_config",
    "web/api.ts": 'import { HttpClient } from "./http";',
    "web/app.ts": 'import { fetchUser, UserCache } from "./api";\nimport { HttpClient } from "./http";',
    "server/server.go": 'package server\nimport (\n\t"fmt"\n\t"net/http"\n)',
    "geometry/src/lib.rs": "use std::fmt;\nuse std::ops::Add;",
    "calc/Calc.java": "package calc;\nimport java.util.List;",
    "native/clamp.c": '#include <stdio.h>\n#include "clamp.h"',
    "scripts/helpers.lua": 'local json = require("json")',
}


@pytest.mark.parametrize("path", sorted(IMPORTS))
def test_import_header(path: str) -> None:
    assert import_header(fixture_text(path), language_for(path)) == IMPORTS[path]  # type: ignore[arg-type]


def test_import_header_takes_commonjs_requires_but_not_other_calls() -> None:
    js = "const fs = require('fs');\nconst { join } = require('path');\nconst port = Number(process.env.PORT);\n"
    assert import_header(js, language_for("a.js")) == "const fs = require('fs');\nconst { join } = require('path');"  # type: ignore[arg-type]
    assert [d.name for d in definitions(js, language_for("a.js"), "a.js")] == ["port"]  # type: ignore[arg-type]


# Identifiers near the cursor

PYTHON_USES = '''from app.config import parse_config, Settings


def run(path: str, retries=3):
    settings = parse_config(path)
    for item in settings.items:
        total = compute_total(item, retries)
    with open(path) as handle:
        data = handle.read()
    log_result(total + extra, Settings.DEFAULT, key=value)
    return render(data, tot▮)
'''


def test_identifiers_near_nearest_first_without_locals_keywords_or_the_word_being_typed() -> None:
    text, offset = at_cursor(PYTHON_USES)
    assert identifiers_near(text, offset, language_for("a.py")) == [
        "render", "value", "DEFAULT", "Settings", "extra", "log_result", "read", "open", "compute_total", "items", "parse_config",
    ]
    assert identifier_uses(text, offset, language_for("a.py"))[:2] == [("render", 10), ("value", 9)]


def test_identifiers_near_looks_only_at_the_window() -> None:
    text, offset = at_cursor(PYTHON_USES)
    # `data` and `total` are bound above the window: uses now, nearest to the cursor first.
    assert identifiers_near(text, offset, language_for("a.py"), lines=1) == ["data", "render", "value", "DEFAULT", "Settings", "extra", "total", "log_result"]
    assert identifiers_near(text, offset, language_for("a.py"), lines=0) == ["data", "render"]


@pytest.mark.parametrize(
    ("path", "source", "names"),
    [
        ("a.ts", "export function run(path: string): number {\n  const cfg = parseConfig(path);\n  for (const item of cfg.items) { total += weigh(item); }\n  return form▮\n}",
         ["weigh", "total", "items", "parseConfig"]),
        ("a.go", "func Run(path string) error {\n\tcfg, err := config.Parse(path)\n\ttotal := Sum(cfg.Items)\n\treturn Rep▮\n}",
         ["Items", "Sum", "Parse", "config"]),
        ("a.rs", "fn run(path: &str) -> i32 {\n    let cfg = Config::load(path);\n    let total = sum_items(&cfg.items);\n    total + bon▮\n}",
         ["items", "sum_items", "load", "Config"]),
        ("a.c", "int run(const char *path, int n) {\n  struct config *cfg = load_config(path);\n  int total = sum(cfg->items, n);\n  return tot▮\n}",
         ["items", "sum", "load_config"]),
        ("a.lua", "local function run(path)\n  local cfg = json.decode(read_file(path))\n  return fin▮\nend",
         ["read_file", "decode", "json"]),
        # No grammar: every word but keywords-ish and the one being typed, nearest first.
        ("a.rb", "def run(path)\n  cfg = Config.load(path)\n  tot▮\nend", ["path", "load", "Config", "cfg", "run"]),
    ],
)
def test_identifiers_near_per_language(path: str, source: str, names: list[str]) -> None:
    text, offset = at_cursor(source)
    assert identifiers_near(text, offset, language_for(path)) == names


# The workspace index

def test_workspace_index_respects_gitignore_and_skips_what_is_not_source(workspace: Path) -> None:
    index = WorkspaceIndex(workspace, max_file_bytes=2000)
    assert not index.ready and index.lookup("parse_config") == []
    index.build()
    assert index.ready
    assert index.paths() == sorted(
        ["app/__init__.py", "app/config.py", "app/main.py", "calc/Calc.java", "geometry/src/lib.rs", "native/clamp.c",
         "pkg/kept.py", "scripts/helpers.lua", "server/server.go", "web/api.ts", "web/app.ts"]
    )
    # What was skipped is there, and would be found if it were indexed.
    for skipped in ("ignored.py", "generated/stub.py", "pkg/local_only.py", "node_modules/leftpad/index.js", "build/built.py", ".venv/lib/cached.py", "blob.py", "huge.py"):
        assert (workspace / skipped).is_file()
    for name in ("ignored_helper", "generated_stub", "local_only", "leftPad", "built_helper", "cached_helper", "binary_helper", "huge_helper"):
        assert index.lookup(name) == [], name
    assert [d.name for d in WorkspaceIndex(workspace).lookup("kept_helper")] == []  # not built: nothing


def test_workspace_index_lookup(workspace: Path) -> None:
    index = WorkspaceIndex(workspace)
    index.build()
    [parse_config] = index.lookup("parse_config")
    assert (parse_config.path, parse_config.kind, parse_config.start_line) == ("app/config.py", "function", 18)
    assert [(d.path, d.kind) for d in index.lookup("Point")] == [("geometry/src/lib.rs", "struct"), ("geometry/src/lib.rs", "impl")]
    assert [d.path for d in index.lookup("Server")] == ["app/main.py", "server/server.go"]
    assert index.lookup("fetchUser")[0].signature == "export async function fetchUser(client: HttpClient, id: number): Promise<User>"


def test_workspace_index_update_and_remove(workspace: Path) -> None:
    index = WorkspaceIndex(workspace)
    index.build()
    config = (workspace / "app/config.py").read_text()
    index.update("app/config.py", config.replace("def parse_config(", "def load_config("))
    assert index.lookup("parse_config") == []
    assert [d.path for d in index.lookup("load_config")] == ["app/config.py"]
    assert [d.name for d in index.lookup("Config")] == ["Config"]  # the rest of the file is still there
    index.update(str(workspace / "app" / "extra.py"), "def extra_helper():\n    pass\n")  # an absolute path under the root
    assert [d.path for d in index.lookup("extra_helper")] == ["app/extra.py"]
    index.update("notes.txt", "def not_python():\n")
    assert index.lookup("not_python") == []
    index.remove("app/config.py")
    assert index.lookup("load_config") == [] and index.lookup("Config") == []
    assert "app/config.py" not in index.paths() and "app/extra.py" in index.paths()


def test_workspace_index_max_files(workspace: Path) -> None:
    index = WorkspaceIndex(workspace, max_files=3)
    index.build()
    assert len(index.paths()) == 3


def test_workspace_index_keeps_updates_made_while_it_builds(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A save during the scan is newer than what the scan read: it wins."""
    index = WorkspaceIndex(workspace)
    scanning, saved = threading.Event(), threading.Event()
    read = index._read

    def slow_read(path: Path) -> str | None:
        scanning.set()
        saved.wait(timeout=10)
        return read(path)

    monkeypatch.setattr(index, "_read", slow_read)
    worker = threading.Thread(target=index.build)
    worker.start()
    assert scanning.wait(timeout=10)
    index.update("app/config.py", "def saved_during_build():\n    pass\n")
    index.remove("web/app.ts")
    assert index.lookup("saved_during_build") and not index.ready  # lookups work while it builds
    saved.set()
    worker.join(timeout=30)
    assert index.ready
    assert [d.path for d in index.lookup("saved_during_build")] == ["app/config.py"]
    assert index.lookup("parse_config") == [] and index.lookup("greet") == []


# Recent edits

def test_recent_edits_snapshot_merge_and_order() -> None:
    text = "\n".join(f"line {i}" for i in range(40))
    edits = RecentEdits(capacity=3, radius=2)
    edits.record("a.py", text, 10)
    assert edits.regions() == [Snippet("a.py", "line 8\nline 9\nline 10\nline 11\nline 12", "recent edit, lines 9-13", 8)]
    edits.record("a.py", text.replace("line 13", "line 13!"), 13)  # touches the region: merged, re-read
    assert [(r.path, r.line, r.text.split("\n")[-2]) for r in edits.regions()] == [("a.py", 8, "line 14")]
    assert "line 13!" in edits.regions()[0].text
    edits.record("b.py", text, 0)
    edits.record("a.py", text, 30)  # far from the first region: a region of its own
    assert [(r.path, r.reason) for r in edits.regions()] == [("a.py", "recent edit, lines 29-33"), ("b.py", "recent edit, lines 1-3"), ("a.py", "recent edit, lines 9-16")]
    assert [r.path for r in edits.regions(exclude="a.py")] == ["b.py"]
    edits.record("c.py", text, 5)
    assert [r.path for r in edits.regions()] == ["c.py", "a.py", "b.py"]  # capacity: the oldest went


def test_recent_edits_do_not_grow_without_bound() -> None:
    text = "\n".join(f"line {i}" for i in range(200))
    edits = RecentEdits(radius=3)
    for line in range(100):
        edits.record("a.py", text, line)
    [region] = edits.regions()
    assert region.text.count("\n") + 1 <= 4 * 3 + 1 and "line 99" in region.text


# The prompt

def word_tokens(text: str) -> int:
    """Another tokenizer: words and punctuation."""
    return len(re.findall(r"\w+|[^\w\s]", text))


def superlinear_tokens(text: str) -> int:
    """A count far higher for a whole than for its pieces: the builder's final check of
    the whole (`fit_whole`) must catch it."""
    return math.ceil(len(text) ** 1.3 / 12)



def total_tokens(context: CompletionContext, count: Callable[[str], int]) -> int:
    return count(context.prefix) + count(context.suffix) + sum(count(s.text) for s in context.snippets)


def main_document(line: str = "    ") -> Document:
    """app/main.py with a new line in `main`, after its use of `parse_config` (imported
    from app/config.py), and the cursor at its end."""
    text = fixture_text("app/main.py")
    anchor = '    print(server.handle("ping"))\n'
    at = text.index(anchor) + len(anchor)
    return Document("app/main.py", text[:at] + line + "\n" + text[at:], at + len(line), "python")


@pytest.fixture
def index(workspace: Path) -> WorkspaceIndex:
    index = WorkspaceIndex(workspace)
    index.build()
    return index


def test_build_context_brings_the_definition_of_a_name_from_another_file(index: WorkspaceIndex) -> None:
    context = build_context(main_document(), Sources(index=index), 256, estimate_tokens)
    [definition] = [s for s in context.snippets if s.path == "app/config.py"]
    assert definition.text == "def parse_config(path: Path, *, strict: bool = True) -> Config:"  # the signature: the body is over 1/8 of 256
    assert definition.reason == "definition of parse_config used at line 25"
    assert any("chose the definition of parse_config used at line 25 (signature, app/config.py:19)" in d for d in context.decisions)
    # With room to spare, the whole of it.
    roomy = build_context(main_document(), Sources(index=index), 1024, estimate_tokens)
    assert [s.text for s in roomy.snippets if s.path == "app/config.py"] == ["\n".join(fixture_text("app/config.py").split("\n")[18:23])]
    assert roomy.shape is Shape.LINE and roomy.language is not None and roomy.language.name == "python"


def test_build_context_prefers_the_open_document_to_the_index(index: WorkspaceIndex) -> None:
    edited = fixture_text("app/config.py").replace("strict: bool = True", "strict: bool = False, env: str = 'dev'")
    context = build_context(main_document(), Sources(open_documents={"app/config.py": edited}, index=index), 256, estimate_tokens)
    assert [s.text for s in context.snippets if s.path == "app/config.py"] == [
        "def parse_config(path: Path, *, strict: bool = False, env: str = 'dev') -> Config:"
    ]


def test_build_context_layout_small_budget(index: WorkspaceIndex) -> None:
    """At 256 tokens: the window from `main`'s start grown to a 16-line boundary, the
    imports above it, the cross-file signature and the outline of the class out of view."""
    context = build_context(main_document(), Sources(index=index), 256, estimate_tokens)
    assert context.prefix == (
        "from __future__ import annotations\nimport sys\nfrom pathlib import Path\nfrom app.config import parse_config\n"
        '        self.requests += 1\n        return f"{self.url} handled {request}"\n\n'
        '    def stats(self) -> dict[str, int]:\n        return {"requests": self.requests}\n\n\n'
        "def main(argv: list[str]) -> int:\n    config = parse_config(Path(argv[1]))\n    server = Server(config.url())\n"
        '    print(server.handle("ping"))\n    '
    )
    assert context.suffix == '\n    return 0\n\n\nif __name__ == "__main__":\n    sys.exit(main(sys.argv))\n'
    assert [(s.path, s.line, s.reason) for s in context.snippets] == [
        ("app/config.py", 18, "definition of parse_config used at line 25"),
        ("app/main.py", 10, "sibling signatures"),
    ]
    assert context.snippets[1].text == DEFINITIONS["app/main.py"][0][5] + "\n"


def test_build_context_drops_what_the_grown_window_shows(index: WorkspaceIndex) -> None:
    context = build_context(main_document(), Sources(index=index), 1024, estimate_tokens)
    assert context.prefix == main_document().text[: main_document().offset]  # the whole file above: no header needed
    assert [s.reason for s in context.snippets] == ["definition of parse_config used at line 25"]  # no sibling outline
    assert any(d.startswith("dropped the imports") for d in context.decisions)
    assert any(d.startswith("dropped sibling signatures") for d in context.decisions)


def test_build_context_decisions_say_what_a_small_budget_left_out(index: WorkspaceIndex) -> None:
    context = build_context(main_document(), Sources(index=index), 64, estimate_tokens)
    left_out = [d for d in context.decisions if d.startswith("left out")]
    assert any(d.startswith("left out the imports") for d in left_out)
    assert any(d.startswith("left out the definition of parse_config") for d in left_out)
    assert any("more of the file above" in d for d in left_out)
    assert context.snippets == ()
    assert context.prefix.startswith("def main(argv: list[str]) -> int:\n")  # the enclosing scope's header, at least
    assert context.prefix.endswith('    print(server.handle("ping"))\n    ')


def test_build_context_shows_the_enclosing_headers_out_of_the_window() -> None:
    body = "".join(f"        step_{i} = compute({i})\n" for i in range(40))
    text, offset = at_cursor(f"import os\n\n\nclass Pipeline:\n    name = 'p'\n\n    def run(self, items):\n{body}        ▮\n")
    context = build_context(Document("pipeline.py", text, offset), Sources(), 200, estimate_tokens)
    assert context.prefix.startswith("import os\nclass Pipeline:\n    def run(self, items):\n")
    assert context.prefix.endswith("        step_39 = compute(39)\n        ")
    assert any(d.startswith("chose the header of the enclosing scope at line 4") for d in context.decisions)


def test_build_context_takes_recent_edits_from_other_files(index: WorkspaceIndex) -> None:
    recent = RecentEdits()
    recent.record("web/app.ts", fixture_text("web/app.ts"), 7)
    recent.record("api/routes.py", "def health():\n    return 'ok'\n", 1)
    recent.record("app/main.py", main_document().text, 26)  # the current file: its code is in the prompt already
    context = build_context(main_document(), Sources(index=index, recent=recent), 256, estimate_tokens)
    edits = {s.path: s for s in context.snippets if s.reason.startswith("recent edit")}
    assert edits["web/app.ts"].reason == "recent edit, lines 5-11"
    assert "const user = await fetchUser(client, id);" in edits["web/app.ts"].text
    assert edits["api/routes.py"].text == "def health():\n    return 'ok'\n"
    # In path and line order, whatever the order they were chosen in (definitions first).
    assert [(s.path, s.line) for s in context.snippets] == [("api/routes.py", 0), ("app/config.py", 18), ("app/main.py", 10), ("web/app.ts", 4)]


def test_build_context_in_typescript_and_go(index: WorkspaceIndex, workspace: Path) -> None:
    app = fixture_text("web/app.ts")
    text, offset = at_cursor(app.replace("  cache.put(user);\n", "  cache.put(user);\n  ▮\n"))
    context = build_context(Document("web/app.ts", text, offset, "typescript"), Sources(index=index), 512, estimate_tokens)
    snippets = {(s.path, s.reason): s.text for s in context.snippets}
    assert snippets[("web/api.ts", "definition of fetchUser used at line 7")].startswith("export async function fetchUser(")
    assert snippets[("web/api.ts", "definition of put used at line 8")] == "put(user: User): void {\n    this.users.set(user.id, user);\n  }"
    assert context.shape is Shape.LINE

    main_go = "package main\n\nimport \"example.com/server\"\n\nfunc main() {\n\ts := server.NewServer(\":8080\")\n\t▮\n}\n"
    text, offset = at_cursor(main_go)
    context = build_context(Document("cmd/main.go", text, offset, "go"), Sources(index=index), 512, estimate_tokens)
    [snippet] = [s for s in context.snippets if s.path == "server/server.go"]
    assert snippet.text == "func NewServer(addr string) *Server {\n\treturn &Server{Addr: addr}\n}"
    assert context.prefix == text[:offset]


def test_build_context_takes_definitions_only_from_languages_that_can_use_them(index: WorkspaceIndex) -> None:
    """A Python file calling `fetchUser` does not get the TypeScript function; C++ gets C's."""
    text, offset = at_cursor("def show(client):\n    user = fetchUser(client, 1)\n    ▮\n")
    context = build_context(Document("tools/show.py", text, offset), Sources(index=index), 1024, estimate_tokens)
    assert context.snippets == ()
    text, offset = at_cursor("#include \"clamp.h\"\n\nint limit(int v) {\n    int c = clamp(v, 0, 10);\n    ▮\n}\n")
    context = build_context(Document("src/limit.cpp", text, offset), Sources(index=index), 1024, estimate_tokens)
    assert [(s.path, s.reason) for s in context.snippets] == [("native/clamp.c", "definition of clamp used at line 4")]


@pytest.mark.parametrize("budget", [64, 256, 1024])
@pytest.mark.parametrize("count", [estimate_tokens, word_tokens, superlinear_tokens], ids=["estimate", "words", "superlinear"])
def test_build_context_respects_the_budget(index: WorkspaceIndex, budget: int, count: Callable[[str], int]) -> None:
    recent = RecentEdits()
    recent.record("web/api.ts", fixture_text("web/api.ts"), 15)
    sources = Sources(open_documents={"web/app.ts": fixture_text("web/app.ts")}, index=index, recent=recent)
    documents = [main_document(), main_document("    result = server.stats()")]
    for path in ("app/config.py", "web/api.ts", "server/server.go", "geometry/src/lib.rs", "native/clamp.c", "scripts/helpers.lua"):
        text = fixture_text(path)
        documents += [Document(path, text, offset) for offset in (0, len(text) // 3, len(text) // 2, len(text))]
    documents.append(Document("notes.rb", "def f\n  x = 1\nend\n" * 40, 300))
    for doc in documents:
        context = build_context(doc, sources, budget, count)
        assert total_tokens(context, count) <= budget, (doc.path, doc.offset, context.decisions)
        assert count(context.suffix) <= budget // 4 or context.suffix == ""
        cursor_line = doc.text[doc.text.rfind("\n", 0, doc.offset) + 1 : doc.offset]
        assert context.prefix.endswith(cursor_line) or cursor_line.endswith(context.prefix)
        assert doc.text[doc.offset :].startswith(context.suffix)


def typing(path: str, anchor: str, line: str, language_id: str) -> list[Document]:
    """The document as `line` is typed, one character at a time, on a new line after `anchor`."""
    text = fixture_text(path)
    at = text.index(anchor) + len(anchor)
    indent = len(line) - len(line.lstrip())
    return [Document(path, text[:at] + line[:n] + "\n" + text[at:], at + n, language_id) for n in range(indent, len(line) + 1)]


KEYSTROKES = [
    # Mid-statement, with parse errors, above definitions that must keep their shape.
    ("app/main.py", "        self.requests += 1\n", '        cached = self.stats().get(request, {"count": 0})', "python"),
    ("app/main.py", '    print(server.handle("ping"))\n', '    summary = server.stats()["requests"] + len(argv)', "python"),
    # A name defined in another file, typed: its definition comes in once it is complete.
    ("app/main.py", '    print(server.handle("ping"))\n', '    fallback = Config("localhost").url()', "python"),
    ("web/api.ts", "    return this.users.get(id);\n", "    const found = this.users.get(id) ?? (await fetchUser(client, id));", "typescript"),
    ("server/server.go", "\ts.Hits++\n", '\tlog.Printf("health %s", r.URL.Path)', "go"),
]


@pytest.mark.parametrize("budget", [128, 160, 192, 256, 1024])
@pytest.mark.parametrize("cached", [False, True], ids=["parsed", "cached"])
def test_build_context_is_stable_under_keystrokes(index: WorkspaceIndex, budget: int, cached: bool) -> None:
    """Typing a line character by character leaves the snippets and the prefix up to the
    cursor's line byte-identical (for the engine's KV cache), parse errors and all: only
    completing a name on the line (`Config(`) may bring in its definition."""
    sources = Sources(open_documents={"app/config.py": fixture_text("app/config.py")}, index=index, cache=ParseCache() if cached else None)
    changes = []
    for path, anchor, line, language_id in KEYSTROKES:
        previous: tuple[list[str], str, tuple[tuple[str, str], ...]] | None = None
        for doc in typing(path, anchor, line, language_id):
            context = build_context(doc, sources, budget, estimate_tokens)
            typed = doc.text[doc.text.rfind("\n", 0, doc.offset) + 1 : doc.offset]
            assert context.prefix.endswith(typed)
            complete_names = re.findall(r"\w+", re.sub(r"\w+$", "", typed))
            stable = (complete_names, context.prefix[: len(context.prefix) - len(typed)], tuple((s.path, s.text) for s in context.snippets))
            if previous is not None and previous[0] == complete_names:
                assert stable == previous, (budget, typed)
            elif previous is not None and stable[1:] != previous[1:]:
                changes.append(typed)
            previous = stable
    assert len(changes) <= 3, changes  # `Config(`, and what completed names bring at most


def test_a_parse_cache_changes_nothing_but_the_time(index: WorkspaceIndex) -> None:
    cache = ParseCache(capacity=4)
    documents = typing(*KEYSTROKES[0]) + typing(*KEYSTROKES[2]) + typing(*KEYSTROKES[3])
    for doc in documents + documents[::7]:  # typing, then moving back to earlier versions
        assert build_context(doc, Sources(index=index, cache=cache), 256, estimate_tokens) == build_context(doc, Sources(index=index), 256, estimate_tokens)


@pytest.mark.parametrize("path", ["app/main.py", "web/api.ts", "geometry/src/lib.rs"])
def test_incremental_parses_match_full_ones(path: str) -> None:
    text = fixture_text(path)
    language = language_for(path)
    lines = text.split("\n")
    versions = [
        text[:40] + "x" + text[40:],  # a keystroke
        "\n".join(lines[:5] + lines[6:]),  # a line deleted
        "\n".join(lines[:3] + ["  // one"] + lines[4:-3] + ["  // two"] + lines[-2:]),  # two lines far apart
        text + "\nbroken(",
        "",
    ]
    base = Parsed.of(text, language)
    for version in versions:
        assert str(base.updated(version).tree.root_node) == str(Parsed.of(version, language).tree.root_node)  # type: ignore[union-attr]


def test_build_context_window_start_stays_put_as_lines_are_added(index: WorkspaceIndex) -> None:
    """Enter moves the cursor a line down; the window's start moves in 16-line steps, so
    most new lines leave the prompt before them as it was."""
    text = fixture_text("app/main.py")
    at = text.index('    print(server.handle("ping"))\n') + len('    print(server.handle("ping"))\n')
    starts = []
    for lines in range(1, 13):
        added = "".join(f"    step_{n} = {n}\n" for n in range(lines))
        doc = Document("app/main.py", text[:at] + added + "    " + text[at:], at + len(added) + 4, "python")
        context = build_context(doc, Sources(index=index), 256, estimate_tokens)
        starts.append(context.prefix.split("\n")[4])  # the window's first line, after the four imports
    assert len(set(starts)) <= 2, starts


def test_build_context_keystrokes_inside_a_word_change_nothing_before_the_line(index: WorkspaceIndex) -> None:
    base = main_document("    total = compute_tot")
    for budget in (256, 1024):
        first = build_context(base, Sources(index=index), budget, estimate_tokens)
        typed = Document(base.path, base.text[: base.offset] + "a" + base.text[base.offset :], base.offset + 1, base.language_id)
        second = build_context(typed, Sources(index=index), budget, estimate_tokens)
        assert second.prefix == first.prefix + "a"
        assert second.snippets == first.snippets and second.suffix == first.suffix


def test_build_context_window_starts_on_a_boundary_or_the_scope(index: WorkspaceIndex) -> None:
    body = "".join(f"    value_{i} = {i}\n" for i in range(100))
    lines = f"def long():\n{body}".split("\n")
    for row in (40, 41, 47, 60):
        text = "\n".join(lines[:row]) + "\n    ▮\n" + "\n".join(lines[row:])
        text, offset = at_cursor(text)
        context = build_context(Document("long.py", text, offset), Sources(), 256, estimate_tokens)
        header = "def long():\n"
        assert context.prefix.startswith(header)
        first_line = context.prefix[len(header) :].split("\n", 1)[0]
        first_row = lines.index(first_line)
        assert first_row % 16 == 0 or first_row == 1, (row, first_row)


def test_build_context_unsupported_language_falls_back_to_lines(index: WorkspaceIndex) -> None:
    ruby = "".join(f"def method_{i}\n  helper_{i}(parse_config)\nend\n" for i in range(60))
    offset = ruby.index("def method_30") + len("def method_30")
    recent = RecentEdits()
    recent.record("web/app.ts", fixture_text("web/app.ts"), 7)
    context = build_context(Document("lib/thing.rb", ruby, offset, "ruby"), Sources(index=index, recent=recent), 256, estimate_tokens)
    assert context.language is None and context.shape is Shape.LINE
    start = offset - len(context.prefix)
    assert ruby[start:offset] == context.prefix  # the nearest lines, contiguous, from a 16-line boundary
    assert ruby[start - 1] == "\n" and ruby.count("\n", 0, start) % 16 == 0 and context.prefix.count("\n") >= 16
    assert ruby[offset:].startswith(context.suffix) and context.suffix.startswith("\n  helper_30(parse_config)")
    assert [s.reason for s in context.snippets] == ["recent edit, lines 5-11"]  # no definitions: no syntax
    assert context.decisions[0] == "no grammar for lib/thing.rb: lines only"


def test_build_context_budget_too_small_for_the_cursor_line() -> None:
    text = "x = " + "value + " * 40
    context = build_context(Document("a.py", text, len(text)), Sources(), 16, estimate_tokens)
    assert text.endswith(context.prefix) and 0 < estimate_tokens(context.prefix) <= 16
    assert total_tokens(context, estimate_tokens) <= 16


@pytest.mark.parametrize("budget", [16, 64, 256, 1024])
@pytest.mark.parametrize("count", [estimate_tokens, word_tokens, superlinear_tokens], ids=["estimate", "words", "superlinear"])
def test_truncated_context_respects_its_budget(budget: int, count: Callable[[str], int]) -> None:
    text = fixture_text("app/main.py")
    for offset in (0, 100, text.index("config = parse_config"), len(text) - 10, len(text)):
        context = truncated_context(Document("app/main.py", text, offset), budget, count)
        assert total_tokens(context, count) <= budget
        assert count(context.suffix) <= budget // 4
        assert text[:offset].endswith(context.prefix) and text[offset:].startswith(context.suffix)
        assert context.snippets == ()


def test_truncated_context_cuts_at_line_boundaries() -> None:
    text, offset = at_cursor("".join(f"line_{i} = {i}\n" for i in range(100)) + "tail = ▮1\n" + "".join(f"after_{i} = {i}\n" for i in range(100)))
    context = truncated_context(Document("a.py", text, offset), 100, estimate_tokens)
    assert context.prefix.startswith("line_") and context.prefix.endswith("\ntail = ")
    assert context.suffix.startswith("1\nafter_0 = 0\n") and context.suffix.endswith(tuple(f"after_{i} = {i}" for i in range(100)))
    assert estimate_tokens(context.suffix) <= 25 < estimate_tokens(context.suffix + f"\n{text[offset:].split(chr(10))[context.suffix.count(chr(10)) + 1]}")
    assert 100 - estimate_tokens(context.prefix) - estimate_tokens(context.suffix) < 5  # the prefix takes the rest


def test_estimate_tokens() -> None:
    assert [estimate_tokens(t) for t in ("", "a", "abc", "abcd", "x" * 35)] == [0, 1, 1, 2, 10]
