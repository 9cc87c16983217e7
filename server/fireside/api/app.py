"""The aiohttp application: where every request enters.

Middlewares, outermost first: `observe` (errors in each protocol's shape, one log line
and metrics per request), then `Guard` (origin, host, API key). Routes are listed in
`make_app`, one handler module per protocol.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from fireside import __version__
from fireside.api import anthropic, infill, manage, ollama, openai, responses
from fireside.api.daemon import DAEMON, Daemon, start_record
from fireside.api.errors import HttpError
from fireside.api.security import Guard, Handler
from fireside.config import DaemonSettings, Paths
from fireside.engine.errors import EngineError
from fireside.telemetry import log_request

log = logging.getLogger("fireside.daemon")

@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    record = start_record(request)
    try:
        response = await handler(request)
    except Exception as e:
        error = HttpError.of(e)
        if isinstance(e, EngineError) and error.status >= 500:
            log.warning("request failed: %s %s: %s", request.method, request.path, error.message)
        elif error.status >= 500 and not isinstance(e, web.HTTPException):
            log.exception("request failed: %s %s", request.method, request.path)
        response = error.response(request.path)
    record.status = record.status or response.status  # an in-band stream error set its own
    record.duration_ms = (time.perf_counter() - record.started) * 1000
    resource = request.match_info.route.resource
    request.app[DAEMON].telemetry.record(resource.canonical if resource else "unmatched", record)
    log_request(record)
    return response


async def root(request: web.Request) -> web.Response:
    return web.Response(text="Fireside is running")


async def metrics(request: web.Request) -> web.Response:
    body = request.app[DAEMON].telemetry.exposition()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


async def version(request: web.Request) -> web.Response:
    return web.json_response({"version": __version__})


def make_app(daemon: Daemon) -> web.Application:
    guard = Guard(daemon.settings)
    app = web.Application(client_max_size=daemon.settings.max_body_bytes, middlewares=[observe, guard.middleware])
    app[DAEMON] = daemon
    app.on_response_prepare.append(guard.on_response_prepare)

    async def close(_: web.Application) -> None:
        await daemon.close()

    app.on_cleanup.append(close)
    app.router.add_get("/", root)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/version", version)
    openai.add_routes(app.router)
    anthropic.add_routes(app.router)
    responses.add_routes(app.router)
    infill.add_routes(app.router)
    ollama.add_routes(app.router)
    manage.add_routes(app.router)
    return app


def serve(settings: DaemonSettings, paths: Paths) -> None:
    """Run until SIGINT/SIGTERM: stop accepting, give in-flight requests a few seconds,
    cancel the rest, then end every model worker (the app's cleanup)."""
    settings.check_bind()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = make_app(Daemon(settings, paths))
    log.info("Fireside %s starting on %s", __version__, settings.base_url)
    web.run_app(app, host=settings.host, port=settings.port, access_log=None, print=None, shutdown_timeout=5.0, handle_signals=True,
        handler_cancellation=True,  # a client that hangs up (editors do, per keystroke) frees its sequence at once
    )
