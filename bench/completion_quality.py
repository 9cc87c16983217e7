"""Completion quality: what an editor gets from Fireside, against llama.cpp's own server.

Model Qwen2.5-Coder-0.5B (`qwen2.5-coder:0.5b`, the GGUF from Fireside's model store),
greedy, 32 tokens at most, 2 threads, everything measured in this run:

A/B. single-line infilling on a seeded sample of hm_fim (HumanEval-FIM, per language),
   scored as the Qwen2.5-Coder suite does (exact match %, edit similarity):
   A = Fireside as an editor sees it: `fireside lsp` over stdio (pygls' client), each task
       opened as a file with its hole line empty, `textDocument/inlineCompletion` invoked at
       the start of that line, against a `fireside serve` on a free loopback port;
   B = llama.cpp's `llama-server` `/infill` on the same GGUF (the dataset's prefix and
       suffix, `cache_prompt`), built by bench/llama_server.py or given by --llama-server.
   Prints per language: n, EM, ES and p50 latency per task for A and B, and A/B.
   C (the control, --no-control skips it): llama-server again, but given the text split
   where the editor's cursor is (the prefix ends with the newline before the empty hole
   line, as A's must); it tells a gap due to where the text is cut from one due to
   Fireside's context and post-processing.
2b. context budgets (256/512/1024 tokens) on long, multi-file inputs: holes are single
   lines in function bodies of this repository's own `server/fireside/**/*.py` (copied to
   a temporary workspace) that use a name defined in another file. Fireside's tree-sitter
   context (`fireside.context.prompt.build_context`, the workspace index as its only
   source) against plain prefix/suffix truncation (`truncated_context`), both sent to the
   daemon's `POST /api/infill`; token counts from the model's own tokenizer. The index
   is given the holed file (as saved), so no snippet can hand the removed line back.
   Prints per budget: EM and ES of each, and tree-sitter minus truncation.

Reproduce (a full run takes about 30 minutes on 2 cores; the first run also builds
llama-server, 7 to 13 minutes):

    .venv/bin/python bench/completion_quality.py --per-language 20 --holes 30
    .venv/bin/python bench/completion_quality.py --per-language 5 --holes 10     # quick look
    .venv/bin/python bench/completion_quality.py --skip-context                  # A/B only
    .venv/bin/python bench/completion_quality.py --skip-ab                       # 2b only
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))
import llama_server  # noqa: E402
from fim_tasks import EXTENSIONS, LANGUAGE_IDS, FimTask, Score, load_hm_fim, sample_per_language, score, summarize  # noqa: E402

from tests.daemon_process import running_daemon  # noqa: E402
from tests.lsp_session import LspSession, lsp_session  # noqa: E402

MODEL = "qwen2.5-coder:0.5b"
THREADS = 2
MAX_TOKENS = 32
CTX = 4096
REQUEST_TIMEOUT = 180.0


@dataclass
class Outcome:
    generation: str
    seconds: float
    score: Score
    note: str = ""  # anything odd about the answer


def model_path() -> Path:
    """The GGUF Fireside's daemon loads for MODEL (installed into the store if needed)."""
    from fireside.models.specs import worker_spec

    return Path(worker_spec(MODEL).path)


# --- B: llama.cpp's /infill -------------------------------------------------------------


async def llama_infill(session: aiohttp.ClientSession, url: str, task: FimTask, editor_split: bool = False) -> Outcome:
    """B: the dataset's prefix and suffix. With `editor_split`, the control: the text split
    where an editor's cursor is, the prefix ending with the newline before the empty hole
    line (what Fireside's language server must work with), the suffix starting with the
    newline that ends it."""
    body = {
        "input_prefix": task.before if editor_split else task.prompt,
        "input_suffix": task.after if editor_split else task.suffix,
        "n_predict": MAX_TOKENS,
        "temperature": 0,
        "top_k": 1,
        "cache_prompt": True,
    }
    start = time.perf_counter()
    async with session.post(url + "/infill", json=body) as r:
        payload = await r.json()
        if r.status != 200:
            raise RuntimeError(f"llama-server /infill answered {r.status}: {payload}")
    seconds = time.perf_counter() - start
    text = str(payload.get("content", ""))
    return Outcome(text, seconds, score(text, task.solution), note=f"tokens={payload.get('tokens_predicted', '?')}")


# --- A: the language server -------------------------------------------------------------


def lsp_settings(port: int) -> dict[str, Any]:
    """Every task reaches the model: no debounce, no cache, no prefetch."""
    return {
        "daemon": {"host": f"127.0.0.1:{port}", "start": False},
        "models": {"completion": MODEL},
        "completion": {"debounceMs": 0, "maxTokens": MAX_TOKENS, "contextTokens": 1024, "prefetch": False, "cache": False},
    }


async def lsp_complete(lsp: LspSession, task: FimTask, version: int) -> Outcome:
    """didOpen the task's file with the hole line empty, ask at its start, didClose."""
    from lsprotocol import types

    uri = lsp.open(f"task{version}.{EXTENSIONS[task.language]}", task.document, LANGUAGE_IDS[task.language])
    position = types.Position(line=task.hole_line, character=0)
    start = time.perf_counter()
    try:
        answer = await asyncio.wait_for(lsp.inline(uri, position), REQUEST_TIMEOUT)
    finally:
        seconds = time.perf_counter() - start
        lsp.client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=uri)))
    text, note = applied_item(answer, position)
    return Outcome(text, seconds, score(text, task.solution), note)


def applied_item(answer: Any, position: Any) -> tuple[str, str]:
    """The hole line after accepting the first item, and a note on anything unexpected.

    The cursor is at column 0 of an empty line, so the item's range (start of the typed
    word to the cursor) must be empty and at the cursor; the line then is its insert_text.
    """
    if answer is None:
        return "", "null answer"
    items = answer if isinstance(answer, list) else answer.items
    if not items:
        return "", "no items"
    item = items[0]
    text = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
    notes = []
    if len(items) > 1:
        notes.append(f"{len(items)} items")
    if not text:
        notes.append("empty insert_text")
    r = item.range
    if r is not None and (r.start != position or r.end != position):
        notes.append(f"range {r.start.line}:{r.start.character}-{r.end.line}:{r.end.character} at {position.line}:0")
    return text, "; ".join(notes)


# --- the A/B table ----------------------------------------------------------------------


def p50_ms(outcomes: Sequence[Outcome]) -> float:
    return statistics.median(o.seconds for o in outcomes) * 1000 if outcomes else float("nan")


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def print_ab(tasks: Sequence[FimTask], a: Sequence[Outcome], b: Sequence[Outcome], control: Sequence[Outcome]) -> None:
    print(f"\nA = fireside lsp (inlineCompletion, invoked) vs B = llama-server /infill; {MODEL}, greedy, {MAX_TOKENS} tokens, {THREADS} threads")
    print(f"{'lang':<6}{'n':>4} | {'EM A':>6} {'EM B':>6} {'A/B':>6} | {'ES A':>6} {'ES B':>6} {'A/B':>6} | {'p50 A ms':>9} {'p50 B ms':>9} {'A/B':>6}")
    groups = [(lang, [i for i, t in enumerate(tasks) if t.language == lang]) for lang in dict.fromkeys(t.language for t in tasks)]
    groups.append(("all", list(range(len(tasks)))))
    for lang, idx in groups:
        ga, gb = [a[i] for i in idx], [b[i] for i in idx]
        em_a, es_a = summarize([o.score for o in ga])
        em_b, es_b = summarize([o.score for o in gb])
        print(f"{lang:<6}{len(idx):>4} | {em_a:6.1f} {em_b:6.1f} {ratio(em_a, em_b):>6} | {es_a:6.1f} {es_b:6.1f} {ratio(es_a, es_b):>6} | "
              f"{p50_ms(ga):9.0f} {p50_ms(gb):9.0f} {ratio(p50_ms(ga), p50_ms(gb)):>6}")
    odd = [(t, o) for t, o in zip(tasks, a) if o.note]
    empty = sum(1 for o in a if not o.generation.strip())
    print(f"A: {empty} of {len(a)} answers empty; {len(odd)} with notes")
    for t, o in odd[:10]:
        print(f"  {t.name}: {o.note}")
    disagree = sum(1 for x, y in zip(a, b) if x.score.exact != y.score.exact)
    print(f"A and B disagree on exact match in {disagree} of {len(a)} tasks")
    if control:
        print("control C = llama-server /infill split at the editor's cursor (prefix ends with the newline before the empty hole line):")
        print(f"{'lang':<6}{'n':>4} | {'EM C':>6} {'EM B':>6} {'C/B':>6} | {'ES C':>6} {'ES B':>6} {'C/B':>6} | {'EM A':>6} {'A/C':>6}")
        for lang, idx in groups:
            em_c, es_c = summarize([control[i].score for i in idx])
            em_b, es_b = summarize([b[i].score for i in idx])
            em_a, _ = summarize([a[i].score for i in idx])
            print(f"{lang:<6}{len(idx):>4} | {em_c:6.1f} {em_b:6.1f} {ratio(em_c, em_b):>6} | {es_c:6.1f} {es_b:6.1f} {ratio(es_c, es_b):>6} | {em_a:6.1f} {ratio(em_a, em_c):>6}")


async def run_ab(tasks: Sequence[FimTask], daemon_port: int, llama_url: str, verbose: bool, control: bool) -> None:
    a: list[Outcome] = []
    b: list[Outcome] = []
    c: list[Outcome] = []
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    with tempfile.TemporaryDirectory(prefix="fireside-bench-lsp-") as tmp:
        # Warnings only: at the default (info) pygls logs every message, document text included.
        async with lsp_session(Path(tmp) / "workspace", lsp_settings(daemon_port), log_level="warning") as lsp, aiohttp.ClientSession(timeout=timeout) as http:
            # First requests, untimed in the table: the daemon loads the model on demand,
            # llama-server loaded it before /health said ok.
            warm = FimTask("warm-up", "py", "def add(a, b):", "\n", "    return a + b")
            cold_a = await lsp_complete(lsp, warm, 0)
            cold_b = await llama_infill(http, llama_url, warm)
            print(f"first request (cold): A {cold_a.seconds * 1000:.0f} ms ({cold_a.generation!r}), B {cold_b.seconds * 1000:.0f} ms")
            for i, task in enumerate(tasks):
                # In turns, so both see the same machine.
                a.append(await lsp_complete(lsp, task, i + 1))
                b.append(await llama_infill(http, llama_url, task))
                if control:
                    c.append(await llama_infill(http, llama_url, task, editor_split=True))
                if verbose:
                    print(f"[{i + 1}/{len(tasks)}] {task.name} want {task.solution.strip()!r}\n"
                          f"   A {a[-1].seconds:5.2f}s {'EM' if a[-1].score.exact else '  '} {a[-1].generation!r} {a[-1].note}\n"
                          f"   B {b[-1].seconds:5.2f}s {'EM' if b[-1].score.exact else '  '} {b[-1].generation!r}"
                          + (f"\n   C {c[-1].seconds:5.2f}s {'EM' if c[-1].score.exact else '  '} {c[-1].generation!r}" if control else ""), file=sys.stderr)
            messages = [m.message for m in lsp.messages]
            log = lsp.log()
    print_ab(tasks, a, b, c)
    if messages:
        print("LSP messages: " + " | ".join(dict.fromkeys(messages)))
    if log.strip():
        print("LSP log (last lines):\n  " + "\n  ".join(log.strip().splitlines()[-8:]))
    b_tokens = [int(o.note.split("=")[1]) for o in b if o.note.split("=")[1].isdigit()]
    if b_tokens:
        print(f"B generated {statistics.fmean(b_tokens):.1f} tokens per task on average (A stops at the end of the suggestion)")


# --- 2b: context budgets on a real multi-file workspace ------------------------------------


@dataclass(frozen=True)
class Hole:
    path: str  # relative to the workspace root
    line: int  # 0-based
    text: str  # the removed line
    names: tuple[str, ...]  # the names it uses that another file defines


def copy_sources(source: Path, dest: Path) -> list[str]:
    """Copy `source/**/*.py` under `dest/<source name>/`, as a workspace holds them."""
    files = []
    for path in sorted(source.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = Path(source.name) / path.relative_to(source)
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest / rel)
        files.append(rel.as_posix())
    return files


def module_name(rel: str) -> str:
    """`fireside/api/infill.py` -> `fireside.api.infill`; a package's `__init__.py` -> the package."""
    parts = rel[: -len(".py")].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def exported_names(tree: ast.Module) -> set[str]:
    """What `from module import NAME` can get: top-level definitions, assignments, imports."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def imported_bindings(tree: ast.Module, rel: str, modules: dict[str, set[str]]) -> tuple[set[str], dict[str, str]]:
    """(names imported from other workspace modules, aliases bound to workspace modules),
    from every import in the file, function-level ones included."""
    package = module_name(rel) if rel.endswith("__init__.py") else module_name(rel).rpartition(".")[0]
    names: set[str] = set()
    module_aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                bound = alias.asname or alias.name
                if f"{base}.{alias.name}" in modules:
                    module_aliases[bound] = f"{base}.{alias.name}"
                elif base in modules and base != module_name(rel) and alias.name in modules[base]:
                    names.add(bound)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in modules:
                    module_aliases[alias.asname] = alias.name
    return names, module_aliases


def foreign_names(stmt: ast.stmt, names: set[str], module_aliases: dict[str, str], modules: dict[str, set[str]]) -> set[str]:
    """The names `stmt` uses that another workspace file defines: `Name` imported from it,
    or `module.name` through an imported workspace module."""
    found: set[str] = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name) and node.id in names:
            found.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in module_aliases:
            if node.attr in modules[module_aliases[node.value.id]]:
                found.add(f"{node.value.id}.{node.attr}")
    return found


COMPOUND = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Match)


def body_statements(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.stmt]:
    """Simple one-line statements anywhere inside the function: no docstrings, no imports."""
    out = []
    for node in ast.walk(function):
        if node is function or not isinstance(node, ast.stmt) or isinstance(node, (*COMPOUND, ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue
        if node.lineno == node.end_lineno:
            out.append(node)
    return out


def python_holes(root: Path, files: Sequence[str], count: int, seed: int) -> list[Hole]:
    """A seeded sample of one-line holes that need another file to be filled well."""
    trees = {f: ast.parse((root / f).read_text(encoding="utf-8")) for f in files}
    modules = {module_name(f): exported_names(t) for f, t in trees.items()}
    candidates: list[Hole] = []
    for f, tree in trees.items():
        lines = (root / f).read_text(encoding="utf-8").split("\n")
        names, module_aliases = imported_bindings(tree, f, modules)
        seen: set[int] = set()
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
            for stmt in body_statements(function):
                line = stmt.lineno - 1
                if line in seen or not lines[line].strip():
                    continue
                seen.add(line)
                if found := foreign_names(stmt, names, module_aliases, modules):
                    candidates.append(Hole(f, line, lines[line], tuple(sorted(found))))
    return random.Random(seed).sample(candidates, min(count, len(candidates)))


def holed_document(root: Path, hole: Hole) -> tuple[str, int]:
    """The file with the hole line emptied, and the cursor offset (start of that line)."""
    lines = (root / hole.path).read_text(encoding="utf-8").split("\n")
    lines[hole.line] = ""
    return "\n".join(lines), sum(len(x) + 1 for x in lines[: hole.line])


def token_counter(path: Path) -> Callable[[str], int]:
    """The model's own tokenizer (no weights loaded), as budgets are meant in its tokens."""
    from llama_cpp import Llama

    vocab = Llama(model_path=str(path), vocab_only=True, verbose=False)
    return lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))


async def daemon_infill(http: aiohttp.ClientSession, url: str, context: Any, filename: str) -> tuple[str, int]:
    """(content, prompt tokens) of one greedy /api/infill with the context's parts."""
    body = {
        "model": MODEL,
        "prefix": context.prefix,
        "suffix": context.suffix,
        "extra": [{"filename": s.path, "text": s.text} for s in context.snippets],
        "filename": filename,
        "options": {"num_predict": MAX_TOKENS, "temperature": 0},
        "stream": False,
    }
    async with http.post(url + "/api/infill", json=body) as r:
        payload = await r.json()
        if r.status != 200:
            raise RuntimeError(f"/api/infill answered {r.status}: {payload}")
    return str(payload.get("content", "")), int(payload.get("prompt_tokens") or 0)


@dataclass
class BudgetResult:
    scores: list[Score] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    context_tokens: list[int] = field(default_factory=list)
    snippets: list[int] = field(default_factory=list)
    leaks: int = 0  # holes with a snippet of their own file that still holds the removed line


def context_tokens(context: Any, count: Callable[[str], int]) -> int:
    return count(context.prefix) + count(context.suffix) + sum(count(s.text) for s in context.snippets)


async def run_context(source: Path, daemon_url: str, gguf: Path, budgets: Sequence[int], holes_n: int, seed: int, verbose: bool) -> None:
    from fireside.context.prompt import Document, Sources, build_context, truncated_context
    from fireside.context.workspace_index import WorkspaceIndex

    count = token_counter(gguf)
    with tempfile.TemporaryDirectory(prefix="fireside-bench-ws-") as tmp:
        root = Path(tmp)
        files = copy_sources(source, root)
        holes = python_holes(root, files, holes_n, seed)
        index = WorkspaceIndex(root)
        started = time.perf_counter()
        index.build()
        print(f"\n2b. {len(holes)} holes from {len(files)} files of {source} (index built in {time.perf_counter() - started:.1f} s); "
              f"{MODEL} via /api/infill, greedy, {MAX_TOKENS} tokens")
        # No open documents: the index (built from disk, as a workspace is) is the only other source.
        sources = Sources(open_documents={}, index=index, recent=None)
        methods: dict[str, Callable[..., Any]] = {
            "tree-sitter": lambda doc, budget: build_context(doc, sources, budget, count),
            "truncation": lambda doc, budget: truncated_context(doc, budget, count),
        }
        results = {(m, b): BudgetResult() for m in methods for b in budgets}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as http:
            await daemon_infill(http, daemon_url, truncated_context(Document("warm.py", "def f():\n    \n", 13, "python"), 64, count), "warm.py")
            for i, hole in enumerate(holes):
                text, offset = holed_document(root, hole)
                doc = Document(hole.path, text, offset, "python")
                # The index holds the file as the editor last saved it, without the line
                # being written: its definitions must not hand the answer back.
                index.update(hole.path, text)
                for budget in budgets:
                    for name, make in methods.items():
                        context = make(doc, budget)
                        content, prompt_tokens = await daemon_infill(http, daemon_url, context, hole.path)
                        r = results[(name, budget)]
                        r.scores.append(score(content, hole.text))
                        r.prompt_tokens.append(prompt_tokens)
                        r.context_tokens.append(context_tokens(context, count))
                        r.snippets.append(len(context.snippets))
                        r.leaks += any(s.path == hole.path and hole.text.strip() in s.text for s in context.snippets)
                        if verbose:
                            print(f"[{i + 1}/{len(holes)}] {hole.path}:{hole.line + 1} {budget} {name:<11} "
                                  f"{'EM' if r.scores[-1].exact else '  '} want {hole.text.strip()!r} got {content.split(chr(10))[0].strip()!r}", file=sys.stderr)
                index.update(hole.path, (root / hole.path).read_text(encoding="utf-8"))
    print_budgets(budgets, results)


def print_budgets(budgets: Sequence[int], results: dict[tuple[str, int], BudgetResult]) -> None:
    print(f"{'budget':>6} {'n':>4} | {'EM ts':>6} {'EM tr':>6} {'diff':>6} | {'ES ts':>6} {'ES tr':>6} {'diff':>6} {'+-se':>5} {'ts>tr':>5} {'ts<tr':>5} | "
          f"{'ctx tok ts':>10} {'ctx tok tr':>10} | {'prompt ts':>9} {'prompt tr':>9} | {'snippets':>8} {'leaks':>5}")
    for budget in budgets:
        ts, tr = results[("tree-sitter", budget)], results[("truncation", budget)]
        em_ts, es_ts = summarize(ts.scores)
        em_tr, es_tr = summarize(tr.scores)
        paired = [x.similarity - y.similarity for x, y in zip(ts.scores, tr.scores)]
        se = statistics.stdev(paired) / len(paired) ** 0.5 if len(paired) > 1 else float("nan")
        better, worse = sum(d > 0 for d in paired), sum(d < 0 for d in paired)
        print(f"{budget:>6} {len(ts.scores):>4} | {em_ts:6.1f} {em_tr:6.1f} {em_ts - em_tr:+6.1f} | {es_ts:6.1f} {es_tr:6.1f} {es_ts - es_tr:+6.1f} {se:5.1f} {better:>5} {worse:>5} | "
              f"{statistics.fmean(ts.context_tokens):10.0f} {statistics.fmean(tr.context_tokens):10.0f} | "
              f"{statistics.fmean(ts.prompt_tokens):9.0f} {statistics.fmean(tr.prompt_tokens):9.0f} | "
              f"{statistics.fmean(ts.snippets):8.1f} {ts.leaks:>5}")
    print("ts = tree-sitter context (build_context), tr = prefix/suffix truncation; diff = ts - tr (+-se: standard error of the "
          "per-hole ES difference; ts>tr, ts<tr: holes where one scored higher); ctx tok = the context's own "
          "tokens (model tokenizer), prompt = what the daemon counted with FIM tokens; leaks = snippets holding the removed line")


# --- main ------------------------------------------------------------------------------------


def lsp_available() -> bool:
    return (ROOT / "server" / "fireside" / "lsp" / "server.py").is_file()


def context_available() -> bool:
    try:
        from fireside.context.prompt import build_context, truncated_context  # noqa: F401
        from fireside.context.workspace_index import WorkspaceIndex  # noqa: F401
    except ImportError as e:
        print(f"2b skipped: fireside.context is not importable ({e})")
        return False
    return True


async def run(args: argparse.Namespace, gguf: Path, daemon_url: str, daemon_port: int) -> None:
    if not args.skip_ab:
        languages = [x.strip() for x in args.languages.split(",") if x.strip()]
        tasks = sample_per_language(load_hm_fim(), languages, args.per_language, args.seed)
        binary = Path(args.llama_server) if args.llama_server else llama_server.find_or_build()
        if not lsp_available():
            print("A/B skipped: server/fireside/lsp/server.py does not exist yet")
        else:
            with llama_server.running(binary, gguf, ctx=CTX, parallel=1, threads=THREADS) as llama_url:
                print(f"llama-server {binary} on {llama_url}; {len(tasks)} hm_fim tasks (seed {args.seed})")
                await run_ab(tasks, daemon_port, llama_url, args.verbose, not args.no_control)
    if not args.skip_context and context_available():
        budgets = [int(b) for b in args.budgets.split(",")]
        await run_context(Path(args.source), daemon_url, gguf, budgets, args.holes, args.seed, args.verbose)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-language", type=int, default=20, help="hm_fim tasks per language (A/B)")
    parser.add_argument("--languages", default="py,java,js")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--holes", type=int, default=30, help="holes for the context budgets (2b)")
    parser.add_argument("--budgets", default="256,512,1024")
    parser.add_argument("--source", default=str(ROOT / "server" / "fireside"), help="the multi-file Python codebase for 2b")
    parser.add_argument("--llama-server", default=None, help="a llama-server binary (default: $LLAMA_SERVER or build one)")
    parser.add_argument("--skip-ab", action="store_true")
    parser.add_argument("--no-control", action="store_true", help="skip C, llama-server given the editor's split of the text")
    parser.add_argument("--skip-context", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="each task's answers on stderr")
    args = parser.parse_args()
    gguf = model_path()
    print(f"model {MODEL}: {gguf}; cpu count {os.cpu_count()}")
    env = {"FIRESIDE_NUM_THREAD": str(THREADS), "FIRESIDE_KEEP_ALIVE": "-1"}
    with tempfile.TemporaryDirectory(prefix="fireside-bench-config-") as config, running_daemon(Path(config), env=env) as daemon:
        try:
            asyncio.run(run(args, gguf, daemon.url, daemon.port))
        except BaseException:
            print("daemon log (last lines):\n" + "\n".join(daemon.log().splitlines()[-15:]), file=sys.stderr)
            raise


if __name__ == "__main__":
    main()
