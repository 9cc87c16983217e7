"""Where Fireside keeps things, how the daemon is configured, and the environment
variables that change either. Everything is read once into frozen dataclasses so tests
(and the daemon's own subprocesses) can point them elsewhere."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from fireside.engine.errors import InvalidRequest

APP = "fireside"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 11435

FOREVER = float("inf")
_FOREVER_ENOUGH = 100 * 365 * 86400.0  # longer keep-alives than a century mean forever
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Paths:
    """Directories, resolved once from the environment so tests can point them elsewhere."""

    config_dir: Path
    cache_dir: Path
    models_dir: Path
    state_dir: Path  # what Fireside keeps about its own work: the escalation ledger

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Paths:
        env = os.environ if env is None else env
        return cls(
            config_dir=Path(env.get("FIRESIDE_CONFIG_DIR") or platformdirs.user_config_dir(APP)),
            cache_dir=Path(env.get("FIRESIDE_CACHE_DIR") or platformdirs.user_cache_dir(APP)),
            models_dir=Path(env.get("FIRESIDE_MODELS") or Path(platformdirs.user_data_dir(APP)) / "models"),
            state_dir=Path(env.get("FIRESIDE_STATE_DIR") or platformdirs.user_state_dir(APP)),
        )

    @property
    def ledger(self) -> Path:
        return self.state_dir / "ledger.jsonl"

    @property
    def user_models_toml(self) -> Path:
        return self.config_dir / "models.toml"


def parse_duration(value: object) -> float:
    """Seconds from an Ollama-style keep_alive: a number of seconds or a Go-style duration
    ("10m", "1h30m", "500ms"). A negative value means forever."""
    if isinstance(value, bool):
        raise InvalidRequest(f"invalid duration {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        sign = -1.0 if text.startswith("-") else 1.0
        body = text.lstrip("+-")
        try:
            seconds = float(body) * sign
        except ValueError:
            parts = _DURATION_PART.findall(body)
            if not body or "".join(n + u for n, u in parts) != body:
                raise InvalidRequest(f'invalid duration "{value}" (use seconds or a duration like "10m" or "1h30m")') from None
            seconds = sign * sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise InvalidRequest(f"invalid duration {value!r}")
    if seconds != seconds:  # NaN
        raise InvalidRequest(f"invalid duration {value!r}")
    return FOREVER if seconds < 0 or seconds > _FOREVER_ENOUGH else seconds


def parse_host(value: str) -> tuple[str, int]:
    """`host`, `host:port`, `:port`, `[v6]:port` or `http://host:port` → (host, port)."""
    text = value.strip().removeprefix("http://").removeprefix("https://").rstrip("/")
    if not text:
        return DEFAULT_HOST, DEFAULT_PORT
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    try:
        port_number = int(port) if port else DEFAULT_PORT
    except ValueError:
        raise InvalidRequest(f'FIRESIDE_HOST "{value}" has an invalid port') from None
    if not 0 <= port_number < 65536:
        raise InvalidRequest(f'FIRESIDE_HOST "{value}" has an invalid port')
    return host or DEFAULT_HOST, port_number


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise InvalidRequest(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class DaemonSettings:
    """The daemon's configuration (environment variables in brackets)."""

    host: str = DEFAULT_HOST  # [FIRESIDE_HOST], with the port
    port: int = DEFAULT_PORT
    api_key: str | None = field(default=None, repr=False)  # [FIRESIDE_API_KEY] required for a non-loopback bind
    origins: tuple[str, ...] = ()  # [FIRESIDE_ORIGINS] extra CORS origins, comma-separated
    keep_alive: float = 300.0  # [FIRESIDE_KEEP_ALIVE] seconds a model stays loaded after use
    max_loaded_models: int = 3  # [FIRESIDE_MAX_LOADED_MODELS]
    num_parallel: int | None = None  # [FIRESIDE_NUM_PARALLEL] overrides each model's own
    max_queue: int = 512  # [FIRESIDE_MAX_QUEUE] requests waiting beyond the running ones
    max_body_bytes: int = 32 << 20  # [FIRESIDE_MAX_BODY] bytes
    num_thread: int | None = None  # [FIRESIDE_NUM_THREAD] overrides each model's own
    num_ctx: int | None = None  # [FIRESIDE_CONTEXT_LENGTH] overrides each model's own
    offline: bool = False  # [FIRESIDE_OFFLINE=1] no request leaves this machine: remote backends are refused

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DaemonSettings:
        env = os.environ if env is None else env
        host, port = parse_host(env.get("FIRESIDE_HOST", ""))
        parallel = _int(env, "FIRESIDE_NUM_PARALLEL", 0, 0)
        threads = _int(env, "FIRESIDE_NUM_THREAD", 0, 0)
        context = _int(env, "FIRESIDE_CONTEXT_LENGTH", 0, 0)
        return cls(
            host=host,
            port=port,
            api_key=env.get("FIRESIDE_API_KEY") or None,
            origins=tuple(o.strip() for o in env.get("FIRESIDE_ORIGINS", "").split(",") if o.strip()),
            keep_alive=parse_duration(env.get("FIRESIDE_KEEP_ALIVE", "5m")),
            max_loaded_models=_int(env, "FIRESIDE_MAX_LOADED_MODELS", 3, 1),
            num_parallel=parallel or None,
            max_queue=_int(env, "FIRESIDE_MAX_QUEUE", 512, 0),
            max_body_bytes=_int(env, "FIRESIDE_MAX_BODY", 32 << 20, 1024),
            num_thread=threads or None,
            num_ctx=context or None,
            offline=env.get("FIRESIDE_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"),
        )

    def check_bind(self) -> None:
        """Refuse to serve beyond this machine without a key: prompts hold users' code."""
        if not is_loopback(self.host) and not self.api_key:
            raise InvalidRequest(
                f"refusing to listen on {self.host}: binding beyond loopback exposes your models and code to the "
                "network, so it requires FIRESIDE_API_KEY (clients then send 'Authorization: Bearer <key>')"
            )

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"
