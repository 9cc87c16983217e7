"""The language server's settings, as typed dataclasses.

They arrive as `initializationOptions` and again with `workspace/didChangeConfiguration`
(under a "fireside" key, as VS Code sends them). A bad value never stops the server: it
is reported to the user by name and its default is used instead.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import PurePath
from typing import Any

from fireside.cascade.policy import DEFAULT_NEVER_SEND
from fireside.config import DaemonSettings, parse_host
from fireside.engine.errors import InvalidRequest

# Files whose contents must never reach a model: secrets.
DEFAULT_EXCLUDE = (".env", ".env.*", "*.pem", "*.key", "id_rsa", "id_ed25519", "id_ecdsa", "*.p12", "*.pfx", ".netrc", ".npmrc", ".pypirc")


@dataclass(frozen=True)
class DaemonOptions:
    host: str | None = None  # None: FIRESIDE_HOST or the default 127.0.0.1:11435
    start: bool = True  # start `fireside serve` when none answers


@dataclass(frozen=True)
class ModelOptions:
    completion: str = "smollm2:135m"  # the embedded default: works offline right after install
    chat: str = "smollm2:135m"


@dataclass(frozen=True)
class CompletionOptions:
    enabled: bool = True
    debounce_ms: int = 120  # the wait after a keystroke; adaptive follows the typing pace (half to four times this)
    adaptive_debounce: bool = True
    max_tokens: int = 64  # a block; a single line stops at its end
    context_tokens: int = 1024  # prompt budget, capped by the model's context minus max_tokens
    languages: Mapping[str, bool] = field(default_factory=dict)  # languageId -> enabled; absent = enabled
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE  # globs on the file name or path
    cache: bool = True  # typing through a shown suggestion is answered without the model
    prefetch: bool = True  # compute the next suggestion while the current one is shown

    def allows(self, language_id: str | None, path: str) -> bool:
        """Whether to complete in this file: enabled, its language not turned off, and
        not a file whose name matches an exclude glob (secrets stay out of prompts)."""
        if not self.enabled or (language_id is not None and not self.languages.get(language_id, True)):
            return False
        pure = PurePath(path)
        return not any(fnmatch.fnmatch(pure.name, g) or pure.match(g) for g in self.exclude)


@dataclass(frozen=True)
class CascadeOptions:
    cloud_model: str | None = None  # a model of the daemon's models.toml served by a remote backend; None: never escalate
    never_send: tuple[str, ...] = DEFAULT_NEVER_SEND  # globs of files the cloud never sees


@dataclass(frozen=True)
class Settings:
    daemon: DaemonOptions = DaemonOptions()
    models: ModelOptions = ModelOptions()
    completion: CompletionOptions = CompletionOptions()
    cascade: CascadeOptions = CascadeOptions()

    def daemon_settings(self) -> DaemonSettings:
        """Where the daemon is: this setting, else FIRESIDE_HOST, else the default."""
        settings = DaemonSettings.from_env()
        if self.daemon.host is None:
            return settings
        host, port = parse_host(self.daemon.host)
        return replace(settings, host=host, port=port)


class _Reader:
    """Reads one section of raw settings, collecting an error per bad key."""

    def __init__(self, raw: Any, path: str, errors: list[str]) -> None:
        self.path = path
        self.errors = errors
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            errors.append(f"{path or 'settings'} must be an object")
            raw = {}
        self.raw: Mapping[str, Any] = raw

    def section(self, key: str) -> _Reader:
        return _Reader(self.raw.get(key), f"{self.path}.{key}" if self.path else key, self.errors)

    def _bad(self, key: str, expected: str) -> None:
        self.errors.append(f"{self.path}.{key} must be {expected}; got {self.raw[key]!r}")

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if isinstance(value, bool):
            return value
        self._bad(key, "true or false")
        return default

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.raw.get(key, default)
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        self._bad(key, f"an integer from {low} to {high}")
        return default

    def string(self, key: str, default: str | None) -> str | None:
        value = self.raw.get(key, default)
        if value is None or (isinstance(value, str) and value.strip()):
            return value
        self._bad(key, "a non-empty string")
        return default

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.raw.get(key, default)
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
        self._bad(key, "a list of strings")
        return default

    def flags(self, key: str) -> dict[str, bool]:
        value = self.raw.get(key, {})
        if isinstance(value, Mapping) and all(isinstance(v, bool) for v in value.values()):
            return dict(value)
        self._bad(key, 'an object of languageId -> true/false, e.g. {"markdown": false}')
        return {}


def parse_settings(raw: Any) -> tuple[Settings, list[str]]:
    """Settings from the client's JSON, and one message per invalid key (whose default
    was used). Unknown keys are ignored, as editors send settings of other versions."""
    errors: list[str] = []
    root = _Reader(raw, "", errors)
    if isinstance(root.raw.get("fireside"), Mapping):
        root = root.section("fireside")
    d, m, c, k = root.section("daemon"), root.section("models"), root.section("completion"), root.section("cascade")
    host = d.string("host", None)
    try:
        if host is not None:
            parse_host(host)
    except InvalidRequest:
        errors.append(f"{d.path}.host must be host:port or http://host:port; got {host!r}")
        host = None
    defaults = CompletionOptions()
    settings = Settings(
        daemon=DaemonOptions(host=host, start=d.boolean("start", True)),
        models=ModelOptions(
            completion=m.string("completion", ModelOptions.completion) or ModelOptions.completion,
            chat=m.string("chat", ModelOptions.chat) or ModelOptions.chat,
        ),
        completion=CompletionOptions(
            enabled=c.boolean("enabled", True),
            debounce_ms=c.integer("debounceMs", defaults.debounce_ms, 0, 5000),
            adaptive_debounce=c.boolean("adaptiveDebounce", True),
            max_tokens=c.integer("maxTokens", defaults.max_tokens, 1, 1024),
            context_tokens=c.integer("contextTokens", defaults.context_tokens, 64, 131072),
            languages=c.flags("languages"),
            exclude=c.strings("exclude", DEFAULT_EXCLUDE),
            cache=c.boolean("cache", True),
            prefetch=c.boolean("prefetch", True),
        ),
        cascade=CascadeOptions(cloud_model=k.string("cloudModel", None), never_send=k.strings("neverSend", DEFAULT_NEVER_SEND)),
    )
    return settings, errors
