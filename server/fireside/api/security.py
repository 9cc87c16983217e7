"""Who may talk to the daemon.

- Bound to loopback, the Host header must name this machine: a web page that rebinds
  its own DNS name to 127.0.0.1 still sends its own name, and is refused.
- With `FIRESIDE_API_KEY` (required for any other bind), every request carries
  `Authorization: Bearer <key>` (or Anthropic's `x-api-key`), compared in constant time.
- Browsers may call only from localhost pages, VS Code webviews and `FIRESIDE_ORIGINS`;
  other origins get 403, so a page cannot even send a "simple" cross-site request.
"""

from __future__ import annotations

import fnmatch
import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from fireside.config import DaemonSettings, is_loopback

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
_EDITOR_SCHEMES = ("vscode-webview", "vscode-file")
_CORS_HEADERS = "Authorization, Content-Type, X-Api-Key, Anthropic-Version, OpenAI-Beta, X-Stainless-Lang, X-Stainless-Package-Version"


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_local_name(name: str) -> bool:
    return name in _LOCAL_NAMES or name.endswith(".localhost") or is_loopback(name)


class Guard:
    def __init__(self, settings: DaemonSettings) -> None:
        self._settings = settings
        self._key = settings.api_key.encode() if settings.api_key else None
        self._check_host = is_loopback(settings.host)

    def origin_allowed(self, origin: str) -> bool:
        parts = urlsplit(origin)
        if parts.scheme in _EDITOR_SCHEMES:
            return True
        if parts.scheme in ("http", "https") and _is_local_name((parts.hostname or "").lower()):
            return True
        return any(origin == allowed or fnmatch.fnmatchcase(origin, allowed) for allowed in self._settings.origins)

    def authorized(self, request: web.Request) -> bool:
        if self._key is None:
            return True
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else request.headers.get("X-Api-Key", "")
        return hmac.compare_digest(token.encode(), self._key)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and not self.origin_allowed(origin):
            raise web.HTTPForbidden(text=f"origin {origin} is not allowed (set FIRESIDE_ORIGINS to allow it)")
        if self._check_host and request.host and not _is_local_name(_host_name(request.host)):
            raise web.HTTPForbidden(text="this daemon answers only requests addressed to localhost")
        if request.method == "OPTIONS" and origin is not None:
            return web.Response(status=204, headers=self._cors(origin, preflight=True))
        if not self.authorized(request):
            raise web.HTTPUnauthorized(text="missing or invalid API key (send 'Authorization: Bearer <FIRESIDE_API_KEY>')")
        return await handler(request)

    async def on_response_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """CORS headers on every answer to an allowed origin, streamed ones included."""
        origin = request.headers.get("Origin")
        if origin is not None and self.origin_allowed(origin) and "Access-Control-Allow-Origin" not in response.headers:
            response.headers.update(self._cors(origin, preflight=False))

    @staticmethod
    def _cors(origin: str, preflight: bool) -> dict[str, str]:
        headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        if preflight:
            headers |= {
                "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
                "Access-Control-Allow-Headers": _CORS_HEADERS,
                "Access-Control-Max-Age": "600",
            }
        return headers
