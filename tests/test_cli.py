"""The `fireside` command as a client of the daemon: the real CLI in a subprocess against
the shared daemon, starting its own daemon where none runs, and the interactive session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fireside import cli
from fireside.client import Client
from tests.conftest import SMOLLM2
from tests.daemon_process import DaemonProcess, free_port


def fireside(host: str, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "FIRESIDE_HOST": host, **(env or {})}
    return subprocess.run([sys.executable, "-m", "fireside", *args], env=full_env, input=stdin, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def host(daemon: DaemonProcess) -> str:
    return f"127.0.0.1:{daemon.port}"


def test_run_prints_the_answer(host: str) -> None:
    done = fireside(host, "run", SMOLLM2, "Name a color.", "--max-tokens", "8")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_run_reads_stdin_raw_and_verbose(host: str) -> None:
    done = fireside(host, "run", SMOLLM2, "--raw", "--verbose", "--max-tokens", "4", stdin="The capital of France is")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() and "tokens/s" in done.stderr


def test_run_unknown_model_fails(host: str) -> None:
    done = fireside(host, "run", "no-such-model:7b", "Hi")
    assert done.returncode == 1 and "Error:" in done.stderr and "not found" in done.stderr


@pytest.mark.parametrize("command", [("ps",), ("list",), ("show", SMOLLM2), ("stop", SMOLLM2)])
def test_without_a_daemon_commands_say_how_to_start_it(command: tuple[str, ...]) -> None:
    done = fireside(f"127.0.0.1:{free_port()}", *command)
    assert done.returncode == 1
    assert "Error: could not connect" in done.stderr and "fireside serve" in done.stderr


def serve_processes(port: int) -> list[int]:
    """Pids of `fireside serve` processes started with FIRESIDE_HOST at `port` (Linux /proc)."""
    needle = f"FIRESIDE_HOST=127.0.0.1:{port}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().endswith(b"-m\0fireside\0serve\0") and needle in (proc / "environ").read_bytes().split(b"\0"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def test_run_starts_a_daemon_when_none_answers(tmp_path: Path) -> None:
    port = free_port()
    env = {"FIRESIDE_CACHE_DIR": str(tmp_path / "cache"), "FIRESIDE_CONFIG_DIR": str(tmp_path / "config"), "FIRESIDE_NUM_THREAD": "2"}
    try:
        done = fireside(f"127.0.0.1:{port}", "run", SMOLLM2, "Name a color.", "--max-tokens", "4", env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() and "Starting the Fireside daemon" in done.stderr
        assert "starting on" in (tmp_path / "cache" / "daemon.log").read_text()
        again = fireside(f"127.0.0.1:{port}", "ps", env=env)  # it outlived the command
        assert again.returncode == 0 and SMOLLM2 in again.stdout
    finally:
        pids = serve_processes(port)
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while serve_processes(port) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert len(pids) == 1


class RecordingClient(Client):
    """The real client, talking to the real daemon, remembering what each turn sent."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.sent: list[dict[str, Any]] = []

    def stream(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        self.sent.append({"path": path, "messages": [dict(m) for m in body.get("messages", [])]})
        return super().stream(path, body)


def lines(*typed: str) -> Any:
    """A stand-in for `input`: the typed lines, then end of input."""
    pending = iter(typed)

    def read(prompt: str) -> str:
        try:
            return next(pending)
        except StopIteration:
            raise EOFError from None

    return read


def run_args(*extra: str) -> Any:
    return cli.build_parser().parse_args(["run", SMOLLM2, *extra])


def test_repl_keeps_history_reads_multiline_and_clears(daemon: DaemonProcess, capsys: pytest.CaptureFixture[str]) -> None:
    client = RecordingClient(daemon.url)
    read = lines("hello", '"""first', "second", 'third"""', "/nope", "/clear", "again", "/bye", "never read")
    assert cli.repl(client, run_args("--max-tokens", "6"), read) == 0
    user = {"role": "user"}
    assert client.sent[0]["messages"] == [{**user, "content": "hello"}]
    first, second = client.sent[1]["messages"][1], client.sent[1]["messages"][2]
    assert first["role"] == "assistant" and first["content"]  # the daemon's first answer, kept
    assert second == {**user, "content": "first\nsecond\nthird"}
    assert client.sent[2]["messages"] == [{**user, "content": "again"}]  # after /clear
    assert len(client.sent) == 3
    out = capsys.readouterr().out
    assert first["content"] in out and "Cleared session context" in out and "Unknown command '/nope'" in out


def test_repl_ends_at_end_of_input(daemon: DaemonProcess) -> None:
    client = RecordingClient(daemon.url)
    assert cli.repl(client, run_args("--raw", "--max-tokens", "4"), lines("complete this")) == 0
    assert [s["path"] for s in client.sent] == ["/api/generate"]


def test_ps_list_show_stop(host: str) -> None:
    # Last: stopping the model makes the next test that uses it wait for a load.
    assert fireside(host, "run", SMOLLM2, "Hi", "--max-tokens", "2").returncode == 0
    ps = fireside(host, "ps")
    assert ps.returncode == 0, ps.stderr
    header, *rows = ps.stdout.splitlines()
    assert header.split() == ["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"]
    row = next(r for r in rows if r.startswith(SMOLLM2 + " ")).split()
    # SIZE is what llama.cpp allocated: 98 MB of weights, the KV cache and compute buffers.
    assert float(row[2]) > 98 and row[3] == "MB" and " ".join(row[4:6]) == "100% CPU" and row[-2:] == ["from", "now"]

    listed = fireside(host, "list")
    assert listed.returncode == 0 and listed.stdout.splitlines()[0].split() == ["NAME", "ID", "SIZE", "MODIFIED"]
    installed = next(line.split() for line in listed.stdout.splitlines() if line.startswith(SMOLLM2 + " "))
    assert installed[1] == row[1] and installed[2:4] == ["98", "MB"] and installed[-1] == "ago"  # ID: the manifest's digest

    shown = fireside(host, "show", SMOLLM2)
    assert shown.returncode == 0, shown.stderr
    for needle in ("architecture", "llama", "parameters", "135M", "context length", "embedding length", "576", "quantization", "Q4_1", "completion"):
        assert needle in shown.stdout

    stopped = fireside(host, "stop", SMOLLM2)
    assert stopped.returncode == 0, stopped.stderr
    deadline = time.monotonic() + 10
    while SMOLLM2 in fireside(host, "ps").stdout:
        assert time.monotonic() < deadline, "stop did not unload the model"
        time.sleep(0.2)
