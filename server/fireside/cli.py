"""The `fireside` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace

from rich.console import Console

from fireside import __version__
from fireside.engine import EngineError, GenerateRequest, ModelEngine, SamplingOptions
from fireside.models.specs import worker_spec


def _run(args: argparse.Namespace) -> int:
    prompt = " ".join(args.prompt) if args.prompt else sys.stdin.read()
    sampling = SamplingOptions(temperature=args.temperature, seed=args.seed)
    if args.raw:
        request = GenerateRequest(prompt=prompt, sampling=sampling, max_tokens=args.max_tokens)
    else:
        request = GenerateRequest(
            messages=({"role": "user", "content": prompt},), sampling=sampling, max_tokens=args.max_tokens
        )
    err = Console(stderr=True)

    async def go() -> None:
        engine = ModelEngine(worker_spec(args.model))
        try:
            stream = await engine.generate(request)
            async for piece in stream:
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n")
            if args.verbose and stream.stats:
                s = stream.stats
                rate = s.completion_tokens / (s.eval_duration_ns / 1e9) if s.eval_duration_ns else 0.0
                err.print(
                    f"load {s.load_duration_ns / 1e6:.0f} ms · prompt {s.prompt_tokens} tokens "
                    f"({s.cached_tokens} cached) in {s.prompt_eval_duration_ns / 1e6:.0f} ms · "
                    f"{s.completion_tokens} tokens at {rate:.1f} tokens/s · {s.done_reason}",
                    style="dim",
                )
        finally:
            await engine.unload()

    try:
        asyncio.run(go())
    except EngineError as e:
        err.print(f"Error: {e.message}", style="bold red")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _serve(args: argparse.Namespace) -> int:
    from fireside.api.app import serve
    from fireside.config import DaemonSettings, Paths

    try:
        settings = DaemonSettings.from_env()
        if args.host is not None or args.port is not None:
            settings = replace(settings, host=args.host or settings.host, port=settings.port if args.port is None else args.port)
        serve(settings, Paths.from_env())
    except EngineError as e:
        Console(stderr=True).print(f"Error: {e.message}", style="bold red")
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fireside", description="A local-first AI coding assistant.")
    parser.add_argument("--version", action="version", version=f"fireside {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="generate from a model, streaming the answer")
    run.add_argument("model", help='a model name from models.toml, such as "smollm2:135m"')
    run.add_argument("prompt", nargs="*", help="the prompt (read from standard input when absent)")
    run.add_argument("--raw", action="store_true", help="complete the prompt as text instead of chatting")
    run.add_argument("--max-tokens", type=int, default=512)
    run.add_argument("--temperature", type=float, default=0.0)
    run.add_argument("--seed", type=int, default=None)
    run.add_argument("--verbose", action="store_true", help="print timings when done")
    run.set_defaults(handler=_run)

    serve = commands.add_parser("serve", help="run the daemon (FIRESIDE_HOST, default 127.0.0.1:11435)")
    serve.add_argument("--host", default=None, help="address to listen on (non-loopback needs FIRESIDE_API_KEY)")
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(handler=_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # argparse stops filling `prompt` at the first option ("run m --raw text"); take the rest.
    args, extra = parser.parse_known_args(argv)
    if extra and (args.command != "run" or any(x.startswith("-") for x in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.prompt += extra
    return int(args.handler(args))
