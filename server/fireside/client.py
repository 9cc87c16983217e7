"""A small synchronous client of the daemon, for the `fireside` command: JSON requests
and NDJSON streams over Ollama's API, with the standard library only, so the command
starts fast and never loads a model itself.

`FIRESIDE_HOST` says where the daemon is and `FIRESIDE_API_KEY`, when set, is sent as
`Authorization: Bearer`. `start_daemon` runs `fireside serve` in the background for
`fireside run` on a machine where none is running yet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from typing import Any, BinaryIO

from fireside.config import DaemonSettings

# Seconds to wait for any byte of an answer: a model may take a while to load.
READ_TIMEOUT = 600.0
START_TIMEOUT = 30.0


class ClientError(Exception):
    """Something to show the user as it is: the daemon's own message, or why it cannot be reached."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unreachable(ClientError):
    """No daemon answers at the address."""


@dataclass(frozen=True)
class Client:
    base_url: str
    api_key: str | None = field(default=None, repr=False)

    @classmethod
    def of(cls, settings: DaemonSettings) -> Client:
        return cls(settings.base_url, settings.api_key)

    def _open(self, method: str, path: str, body: Any = None, timeout: float = READ_TIMEOUT, upload: BinaryIO | None = None) -> HTTPResponse:
        headers = {"Content-Type": "application/octet-stream" if upload else "application/json", "Accept": "application/json, application/x-ndjson"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = upload if upload is not None else None if body is None else json.dumps(body).encode()
        if upload is not None:
            headers["Content-Length"] = str(os.fstat(upload.fileno()).st_size)
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        # Straight to the daemon: an HTTP proxy set in the environment is not for loopback.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            response: HTTPResponse = opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as e:
            raise ClientError(error_message(e.read(), e.reason)) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            raise Unreachable(f"could not connect to the Fireside daemon at {self.base_url}; start it with `fireside serve`") from e
        return response

    def running(self) -> bool:
        """Whether a daemon answers at all (if only to refuse a request without its key)."""
        try:
            self._open("GET", "/", timeout=2.0).close()
        except Unreachable:
            return False
        except ClientError:
            pass
        return True

    def get(self, path: str) -> Any:
        with self._open("GET", path) as response:
            return json.loads(response.read())

    def post(self, path: str, body: dict[str, Any]) -> Any:
        with self._open("POST", path, body) as response:
            return json.loads(response.read())

    def delete(self, path: str, body: dict[str, Any]) -> None:
        self._open("DELETE", path, body).close()

    def has_blob(self, digest: str) -> bool:
        try:
            self._open("HEAD", f"/api/blobs/{digest}").close()
        except ClientError:
            return False
        return True

    def upload_blob(self, digest: str, path: Path) -> None:
        with path.open("rb") as f:
            self._open("POST", f"/api/blobs/{digest}", upload=f, timeout=3600).close()

    def stream(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The objects of an NDJSON answer as they arrive; an error sent in-band raises."""
        with self._open("POST", path, {**body, "stream": True}) as response:
            while True:
                try:
                    line = response.readline()
                except (OSError, HTTPException) as e:
                    raise ClientError(f"the connection to the Fireside daemon at {self.base_url} broke: {e}") from None
                if not line:
                    return
                if not line.strip():
                    continue
                item = json.loads(line)
                if "error" in item:
                    raise ClientError(str(item["error"]))
                yield item


def error_message(body: bytes, reason: str) -> str:
    """The daemon's message from an error body (Ollama's or OpenAI's shape), else `reason`."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return reason
    if isinstance(error, dict):  # an OpenAI-shaped error
        error = error.get("message")
    return str(error or reason)


def start_daemon(client: Client, log_path: Path, host: str | None = None) -> None:
    """Start `fireside serve` detached from this process (it outlives it), its output in
    `log_path`, and wait until it answers. `host` (host:port) overrides FIRESIDE_HOST."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = os.environ if host is None else {**os.environ, "FIRESIDE_HOST": host}
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "fireside", "serve"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while not client.running():
        if process.poll() is not None:
            raise ClientError(f"the Fireside daemon exited at start (code {process.returncode}); see {log_path}")
        if time.monotonic() > deadline:
            raise ClientError(f"the Fireside daemon did not answer within {START_TIMEOUT:.0f} s; see {log_path}")
        time.sleep(0.2)
