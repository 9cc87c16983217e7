"""A real `fireside serve` on a free loopback port, for tests that talk HTTP to it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DaemonProcess:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def running_daemon(config_dir: Path, env: Mapping[str, str] | None = None, port: int | None = None, args: tuple[str, ...] = ()) -> Iterator[DaemonProcess]:
    """Start `fireside serve`, wait until `GET /` answers, stop it (SIGTERM) at the end.

    `config_dir` becomes FIRESIDE_CONFIG_DIR (put a models.toml there to add models);
    the model cache stays the user's, so assembled models are reused.
    """
    port = port or free_port()
    config_dir.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "FIRESIDE_CONFIG_DIR": str(config_dir), "FIRESIDE_NUM_THREAD": "2", "FIRESIDE_HOST": f"127.0.0.1:{port}"}
    full_env.update(env or {})
    log_path = config_dir / f"daemon-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "fireside", "serve", *args], env=full_env, stdout=log, stderr=subprocess.STDOUT)
    daemon = DaemonProcess(f"http://127.0.0.1:{port}", port, process, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"fireside serve exited with {process.returncode}:\n{daemon.log()}")
            try:
                with urllib.request.urlopen(daemon.url + "/", timeout=1) as r:
                    if r.status == 200:
                        break
            except urllib.error.HTTPError:
                break  # it answers, if only to refuse a request without its API key
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"fireside serve did not answer within 60 s:\n{daemon.log()}")
            time.sleep(0.1)
        yield daemon
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
