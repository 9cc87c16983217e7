"""A real HTTP proxy on 127.0.0.1 in front of a "cloud" daemon, keeping what it was sent:
the tests' view of exactly what left the machine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass
class RecordingProxy:
    base: str
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, body)

    def bodies(self) -> str:
        return "\n".join(body for _, _, body in self.requests)


@asynccontextmanager
async def recording_proxy(target: str) -> AsyncIterator[RecordingProxy]:
    async with aiohttp.ClientSession(trust_env=False) as http:
        proxy = RecordingProxy("")

        async def forward(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            proxy.requests.append((request.method, request.path_qs, body.decode("utf-8", "replace")))
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
            async with http.request(request.method, target + request.path_qs, data=body, headers=headers) as upstream:
                response = web.StreamResponse(status=upstream.status, headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP})
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
                return response

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            proxy.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
            yield proxy
        finally:
            await runner.cleanup()
