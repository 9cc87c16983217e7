"""Remote OpenAI-compatible backends (being written: see the remote-backends helper)."""

from __future__ import annotations

from typing import Any


class RemoteRouter:
    def answer(self, backend: Any, entry: Any, request: Any) -> Any:
        raise NotImplementedError

    async def embed(self, backend: Any, entry: Any, texts: list[str]) -> Any:
        raise NotImplementedError

    async def close(self) -> None:
        pass
