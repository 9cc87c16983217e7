"""Errors the engine reports to its callers.

Every error has a stable `code` so the daemon can map it to an HTTP status and the
language server to a message, and so it survives the pipe from a worker process
(only the code and the message cross it).
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class: something a caller can show to a user as it is."""

    code = "engine_error"

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param  # the request field at fault, where one is (OpenAI's `param`)


class InvalidRequest(EngineError):
    """The request itself is wrong (empty prompt, bad option values)."""

    code = "invalid_request"


class InvalidGrammar(InvalidRequest):
    """A grammar or JSON Schema that cannot be compiled into a sampler."""

    code = "invalid_grammar"


class ContextOverflow(InvalidRequest):
    """The prompt does not fit in the context and truncation was not asked for."""

    code = "context_overflow"


class InsertNotSupported(InvalidRequest):
    """A fill-in-the-middle request for a model whose vocabulary has no FIM tokens."""

    code = "insert_not_supported"


class ModelNotFound(EngineError):
    """No model of that name is known."""

    code = "model_not_found"


class ModelUnavailable(EngineError):
    """The model is known but its weights are not on this machine."""

    code = "model_unavailable"


class ModelLoadError(EngineError):
    """The weights could not be loaded (not a GGUF, truncated, unsupported)."""

    code = "model_load_error"


class WorkerCrashed(EngineError):
    """The model's worker process died; the next request starts a fresh one."""

    code = "worker_crashed"


class Busy(EngineError):
    """Too many requests are already waiting; the client should retry later."""

    code = "busy"


class RemoteUnavailable(EngineError):
    """A remote backend gave no answer: none of its servers could be reached, one failed
    mid-answer, or it refused the request (a wrong key). The message names the backend."""

    code = "remote_error"


class EgressBlocked(EngineError):
    """FIRESIDE_OFFLINE is set: nothing may leave this machine, remote backends included."""

    code = "egress_blocked"


_BY_CODE: dict[str, type[EngineError]] = {
    cls.code: cls
    for cls in (
        EngineError,
        InvalidRequest,
        InvalidGrammar,
        ContextOverflow,
        InsertNotSupported,
        ModelNotFound,
        ModelUnavailable,
        ModelLoadError,
        WorkerCrashed,
        Busy,
        RemoteUnavailable,
        EgressBlocked,
    )
}


def error_from_code(code: str, message: str) -> EngineError:
    """Rebuild an error that crossed the worker pipe as (code, message)."""
    return _BY_CODE.get(code, EngineError)(message)
