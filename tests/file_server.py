"""A real HTTP file server on 127.0.0.1 for download tests, with the faults real servers have.

Files are served by aiohttp's `web.FileResponse`, so Range requests, 206 and 416 answers
are the real thing; the options below make chosen files misbehave.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web


@dataclass(frozen=True)
class FileServer:
    base: str
    requests: list[tuple[str, str, str | None]]  # (method, path, Range header), in order

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


@asynccontextmanager
async def serve_files(
    files: Mapping[str, bytes],
    *,
    lie_about_length: Collection[str] = frozenset(),
    cut_after: Mapping[str, int] = {},
    etag_sha256: bool = True,
    redirect: Collection[str] = frozenset(),
    require_token: str | None = None,
    ignore_range: Collection[str] = frozenset(),
    trickle: Collection[str] = frozenset(),
) -> AsyncIterator[FileServer]:
    """Serve `files` at `/{name}`; a name that is not there is a 404.

    etag_sha256: publish each file's sha256 as its ETag and, on redirects, in x-linked-etag
        and x-linked-size as Hugging Face does; off, the server is a plain one with neither.
    cut_after: the first GET of the file announces its whole length but the connection
        closes after that many bytes, as a dropped connection does; later GETs succeed.
    lie_about_length: the server's metadata (x-linked-size, and the ETag) describe the whole
        file, but a GET sends only its first three quarters, with a Content-Length to match:
        a clean transfer a downloader must catch by the length it was promised (or the hash).
    redirect: `/{name}` answers a 302 to `/cdn/{name}`, where the file is (Hugging Face's
        resolve URLs redirect to its CDN).
    require_token: `/{name}` answers 401 without `Authorization: Bearer <token>`; `/cdn/`
        URLs need none, like Hugging Face's pre-signed CDN URLs.
    ignore_range: GETs send the whole file with a 200 whatever Range they ask for.
    trickle: the first GET of the file is sent slowly (about 2 MiB/s), so a test can
        interrupt the process downloading it mid-way; later GETs are served normally.
    """
    sha256 = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    cut_done: set[str] = set()
    requests: list[tuple[str, str, str | None]] = []
    with tempfile.TemporaryDirectory(prefix="fireside-files-") as scratch:
        root = Path(scratch)
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data[: len(data) * 3 // 4] if name in lie_about_length else data)

        async def handle(request: web.Request) -> web.StreamResponse:
            name, on_cdn = request.match_info["name"], request.path.startswith("/cdn/")
            requests.append((request.method, request.path, request.headers.get("Range")))
            if require_token and not on_cdn and request.headers.get("Authorization") != f"Bearer {require_token}":
                return web.Response(status=401, headers={"WWW-Authenticate": "Bearer"})
            if name not in files:
                return web.Response(status=404)
            if name in redirect and not on_cdn:
                metadata = {"x-linked-etag": f'"{sha256[name]}"', "x-linked-size": str(len(files[name]))} if etag_sha256 else {}
                return web.Response(status=302, headers={"Location": f"/cdn/{name}", **metadata})
            if request.method == "GET" and name in cut_after and name not in cut_done:
                cut_done.add(name)
                return await _cut(request, files[name], cut_after[name])
            if request.method == "GET" and name in trickle and name not in cut_done:
                cut_done.add(name)
                return await _trickle(request, files[name])
            if request.method == "GET" and name in ignore_range:
                return web.Response(body=files[name])
            return web.FileResponse(root / name)

        async def label(request: web.Request, response: web.StreamResponse) -> None:
            name = request.match_info.get("name", "")
            if name in lie_about_length:
                response.headers["x-linked-size"] = str(len(files[name]))
            if etag_sha256 and isinstance(response, web.FileResponse):
                response.headers["ETag"] = f'"{sha256[name]}"'

        app = web.Application()
        app.router.add_get("/cdn/{name:.+}", handle)
        app.router.add_get("/{name:.+}", handle)
        app.on_response_prepare.append(label)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            yield FileServer(f"http://127.0.0.1:{runner.addresses[0][1]}", requests)
        finally:
            await runner.cleanup()


async def _cut(request: web.Request, data: bytes, after: int) -> web.StreamResponse:
    """Promise all of `data`, send `after` bytes of it, then drop the connection."""
    response = web.StreamResponse()
    response.content_length = len(data)
    await response.prepare(request)
    await response.write(data[:after])
    assert request.transport is not None
    request.transport.close()  # sends what is buffered first, then closes
    return response


async def _trickle(request: web.Request, data: bytes) -> web.StreamResponse:
    response = web.StreamResponse()
    response.content_length = len(data)
    await response.prepare(request)
    step = 1 << 17
    for start in range(0, len(data), step):
        await response.write(data[start : start + step])
        await asyncio.sleep(0.06)
    return response
