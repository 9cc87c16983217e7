"""The language server's connection to the daemon, where every model runs.

Streams answers as NDJSON over Ollama's API; leaving a stream early closes its
connection, which the daemon takes as a cancel: generation stops within a token.
When no daemon answers, one is started in the background (unless settings say not to).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from fireside.cascade.ledger import Prices
from fireside.client import Client, ClientError, error_message, start_daemon
from fireside.config import DaemonSettings, is_loopback


class DaemonError(Exception):
    """The daemon refused a request or could not be reached: a message for the user."""


class DaemonOffline(DaemonError):
    """No daemon answers, and none could be started."""


@dataclass(frozen=True)
class ModelFacts:
    """What completion needs to know about a model."""

    name: str
    fim: bool  # has fill-in-the-middle tokens: prompts go to /api/infill
    context_length: int
    remote: bool = False  # served by a remote backend: what is sent leaves this machine
    prices: Prices = Prices()  # what a remote model costs, as its models.toml entry says


def _context_length(model_info: dict[str, Any]) -> int:
    lengths = [v for k, v in model_info.items() if k.endswith(".context_length") and isinstance(v, int)]
    return lengths[0] if lengths else 2048


class DaemonClient:
    def __init__(self, settings: DaemonSettings, start: bool, log_path: Path) -> None:
        self.settings = settings
        self.start = start
        self.log_path = log_path
        self._session: aiohttp.ClientSession | None = None
        self._facts: dict[str, ModelFacts] = {}
        self._starting = asyncio.Lock()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Authorization": f"Bearer {self.settings.api_key}"} if self.settings.api_key else {}
            # No proxy from the environment: the daemon is on this machine.
            self._session = aiohttp.ClientSession(self.settings.base_url, headers=headers, trust_env=False, timeout=aiohttp.ClientTimeout(total=None, sock_connect=5))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def running(self) -> bool:
        try:
            async with self._http().get("/", timeout=aiohttp.ClientTimeout(total=2)):
                return True
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return False

    async def ensure_running(self) -> None:
        """Make sure a daemon answers, starting one on this machine if allowed."""
        async with self._starting:
            if await self.running():
                return
            if not self.start or not is_loopback(self.settings.host):
                raise DaemonOffline(f"no Fireside daemon answers at {self.settings.base_url}")
            host = f"{self.settings.host}:{self.settings.port}"
            try:
                await asyncio.to_thread(start_daemon, Client.of(self.settings), self.log_path, host)
            except ClientError as e:
                raise DaemonOffline(e.message) from None

    async def _post(self, path: str, body: dict[str, Any]) -> aiohttp.ClientResponse:
        try:
            response = await self._http().post(path, json=body)
        except (aiohttp.ClientConnectionError, OSError):
            await self.ensure_running()
            response = await self._http().post(path, json=body)
        if response.status >= 400:
            body = await response.read()
            response.release()
            raise DaemonError(error_message(body, f"{path}: HTTP {response.status}"))
        return response

    async def model(self, name: str) -> ModelFacts:
        """The model's facts from `/api/show`, asked once per model."""
        if name not in self._facts:
            response = await self._post("/api/show", {"model": name})
            async with response:
                shown = await response.json()
            table = shown.get("prices") or {}
            prices = Prices(float(table.get("input", 0.0)), float(table.get("output", 0.0)))
            self._facts[name] = ModelFacts(name, "insert" in shown.get("capabilities", ()), _context_length(shown.get("model_info", {})), "remote_model" in shown, prices)
        return self._facts[name]

    def chat(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """A chat answer's NDJSON objects, from `/api/chat`."""
        return self.stream("/api/chat", body)

    async def stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The NDJSON objects of an answer. Leaving early (or being cancelled) closes the
        connection, which cancels the generation in the daemon."""
        response = await self._post(path, {**body, "stream": True})
        try:
            async for line in response.content:
                if not line.strip():
                    continue
                item = json.loads(line)
                if "error" in item:
                    raise DaemonError(str(item["error"]))
                yield item
        finally:
            response.close()  # mid-answer this drops the connection: the daemon's cue to stop
