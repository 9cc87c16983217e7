"""Errors as each protocol expects them: OpenAI's `{"error": {message, type, param, code}}`,
Anthropic's `{"type": "error", "error": {type, message}}`, Ollama's `{"error": "..."}`;
with the status a client retries or gives up on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from fireside.engine.errors import EngineError

_STATUS = {
    "invalid_request": 400,
    "invalid_grammar": 400,
    "context_overflow": 400,
    "insert_not_supported": 400,
    "model_not_found": 404,
    "model_unavailable": 404,
    "model_load_error": 500,
    "worker_crashed": 500,
    "busy": 503,
    "remote_error": 502,
    "egress_blocked": 403,
    "download_error": 502,
    "size_mismatch": 502,
    "digest_mismatch": 502,
    "insufficient_memory": 500,
}
_OPENAI_TYPE = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
                405: "invalid_request_error", 413: "invalid_request_error", 429: "rate_limit_error", 502: "api_error",
                503: "overloaded_error", 504: "api_error"}
_ANTHROPIC_TYPE = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
                   413: "request_too_large", 429: "rate_limit_error", 503: "overloaded_error"}
# Absolute paths in a message (a model file, a cache dir) are this machine's business.
_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s'\"/:]+/)+[^\s'\",:]*")

RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class HttpError:
    status: int
    message: str
    code: str
    param: str | None = None

    @classmethod
    def of(cls, error: BaseException) -> HttpError:
        if isinstance(error, EngineError):
            return cls(_STATUS.get(error.code, 500), scrub(error.message), error.code, error.param)
        if isinstance(error, web.HTTPException):
            return cls(error.status, scrub(error.text or error.reason), _slug(error.reason))
        return cls(500, "internal error (see the daemon's log)", "internal_error")

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)} if self.status in (429, 503) else {}

    def openai(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": _OPENAI_TYPE.get(self.status, "api_error"), "param": self.param, "code": self.code}}

    def anthropic(self) -> dict[str, Any]:
        return {"type": "error", "error": {"type": _ANTHROPIC_TYPE.get(self.status, "api_error"), "message": self.message}}

    def ollama(self) -> dict[str, Any]:
        return {"error": self.message}

    def body_for(self, path: str) -> dict[str, Any]:
        if path.startswith("/v1/messages"):
            return self.anthropic()
        if path.startswith("/v1/"):
            return self.openai()
        return self.ollama()

    def response(self, path: str) -> web.Response:
        return web.json_response(self.body_for(path), status=self.status, headers=self.headers())


def scrub(message: str) -> str:
    return _PATH.sub("<path>", message)


def _slug(reason: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", reason.lower()).strip("_")
