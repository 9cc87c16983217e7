"""What the daemon records about each request: one structured log line and the
Prometheus metrics behind `GET /metrics`. Only counts and timings, never prompt text."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from fireside.engine import Stats

log = logging.getLogger("fireside.requests")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


@dataclass
class RequestRecord:
    """Filled in by a handler as it learns the model and the cost; logged when done."""

    method: str
    path: str
    started: float = field(default_factory=time.perf_counter)
    model: str | None = None
    backend: str | None = None
    status: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    load_ms: float = 0.0
    device_ms: float = 0.0
    first_token_ms: float | None = None
    duration_ms: float = 0.0

    def first_token(self) -> None:
        if self.first_token_ms is None:
            self.first_token_ms = (time.perf_counter() - self.started) * 1000

    def count(self, stats: Stats) -> None:
        self.prompt_tokens += stats.prompt_tokens
        self.cached_tokens += stats.cached_tokens
        self.completion_tokens += stats.completion_tokens
        self.load_ms += stats.load_duration_ns / 1e6
        self.device_ms += (stats.prompt_eval_duration_ns + stats.eval_duration_ns) / 1e6


class Telemetry:
    """The daemon's metrics, in a registry of its own (no process-global state)."""

    def __init__(self, queue_depth: Callable[[], int], loaded_models: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("fireside_requests", "HTTP requests by endpoint and status", ["endpoint", "status"], registry=self.registry)
        self.tokens = Counter("fireside_tokens", "Tokens by model, backend and kind (prompt, cached, completion)", ["model", "backend", "kind"], registry=self.registry)
        self.latency = Histogram("fireside_request_duration_seconds", "Request latency by endpoint", ["endpoint"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.first_token = Histogram("fireside_time_to_first_token_seconds", "Time to the first streamed token", ["endpoint"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.device_seconds = Counter("fireside_device_seconds", "Seconds the model spent evaluating prompts and generating", ["model"], registry=self.registry)
        Gauge("fireside_queue_depth", "Requests waiting for a sequence slot", registry=self.registry).set_function(queue_depth)
        Gauge("fireside_loaded_models", "Models resident in memory", registry=self.registry).set_function(loaded_models)

    def record(self, endpoint: str, r: RequestRecord) -> None:
        self.requests.labels(endpoint, str(r.status)).inc()
        self.latency.labels(endpoint).observe(r.duration_ms / 1000)
        if r.first_token_ms is not None:
            self.first_token.labels(endpoint).observe(r.first_token_ms / 1000)
        if r.model:
            backend = r.backend or "local"
            for kind, n in (("prompt", r.prompt_tokens), ("cached", r.cached_tokens), ("completion", r.completion_tokens)):
                if n:
                    self.tokens.labels(r.model, backend, kind).inc(n)
            if r.device_ms and backend == "local":
                self.device_seconds.labels(r.model).inc(r.device_ms / 1000)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def log_request(r: RequestRecord) -> None:
    fields = {k: v for k, v in asdict(r).items() if k != "started" and v not in (None, 0, 0.0)}
    log.info(json.dumps(fields, separators=(",", ":")))
