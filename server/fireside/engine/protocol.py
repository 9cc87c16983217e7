"""The typed messages between a caller and a model's worker process.

Requests and results are plain frozen dataclasses: they are validated in the parent,
pickled over the worker's pipe, and are the same objects the daemon builds from
OpenAI or Ollama wire formats. Nothing here touches llama.cpp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from fireside.engine.errors import InvalidRequest

# A generation can never be longer than this, whatever the context; larger values are
# a client bug and get a clear error rather than a silently clamped request.
MAX_TOKENS_LIMIT = 1 << 20

DoneReason = Literal["stop", "length", "cancel", "error"]


@dataclass(frozen=True)
class SamplingOptions:
    """Per-request sampler settings; each request gets its own llama.cpp sampler chain.

    `temperature == 0` means greedy decoding. `seed=None` draws a random seed.
    """

    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    repeat_last_n: int = 64
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None

    def validate(self) -> None:
        checks = (
            (math.isfinite(self.temperature) and self.temperature >= 0, "temperature must be >= 0"),
            (self.top_k >= 0, "top_k must be >= 0 (0 disables it)"),
            (0.0 <= self.top_p <= 1.0, "top_p must be between 0 and 1"),
            (0.0 <= self.min_p <= 1.0, "min_p must be between 0 and 1"),
            (math.isfinite(self.repeat_penalty) and self.repeat_penalty > 0, "repeat_penalty must be > 0"),
            (self.repeat_last_n >= -1, "repeat_last_n must be >= -1 (-1 = whole context)"),
            (-2.0 <= self.presence_penalty <= 2.0, "presence_penalty must be between -2 and 2"),
            (-2.0 <= self.frequency_penalty <= 2.0, "frequency_penalty must be between -2 and 2"),
            (self.seed is None or 0 <= self.seed < 2**32, "seed must be between 0 and 2**32-1"),
        )
        for ok, message in checks:
            if not ok:
                raise InvalidRequest(message)


GREEDY = SamplingOptions(temperature=0.0, top_k=0, top_p=1.0, min_p=0.0)


@dataclass(frozen=True)
class FimInput:
    """A fill-in-the-middle task: the text before and after the hole.

    `order` is the model's training order: "psm" (prefix, suffix, middle) or "spm".
    `path`, `repo_name` and `extra_files` ((path, text) pairs) become repository-level
    context where the vocabulary has file-separator tokens; otherwise they are dropped.
    """

    prefix: str
    suffix: str = ""
    order: Literal["psm", "spm"] = "psm"
    path: str | None = None
    repo_name: str | None = None
    extra_files: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class GenerateRequest:
    """One generation: exactly one of `prompt` (raw text), `messages` (chat) or `fim`.

    `num_ctx` narrows the context for this request only (never reloads the model);
    with `truncate`, a prompt too long for it keeps its end and reports how many tokens
    were dropped, otherwise it is an error.
    """

    prompt: str | None = None
    messages: tuple[dict[str, Any], ...] | None = None
    tools: tuple[dict[str, Any], ...] | None = None
    fim: FimInput | None = None
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    grammar: str | None = None
    json_schema: dict[str, Any] | None = None
    num_ctx: int | None = None
    truncate: bool = False

    def validate(self) -> None:
        given = [x is not None for x in (self.prompt, self.messages, self.fim)]
        if sum(given) != 1:
            raise InvalidRequest("give exactly one of prompt, messages or fim")
        if self.prompt is not None and not self.prompt:
            raise InvalidRequest("prompt is empty")
        if self.messages is not None and not self.messages:
            raise InvalidRequest("messages is empty")
        if self.fim is not None and not (self.fim.prefix or self.fim.suffix):
            raise InvalidRequest("fill-in-the-middle needs a prefix or a suffix")
        if self.fim is not None and self.fim.order not in ("psm", "spm"):
            raise InvalidRequest('fim order must be "psm" or "spm"')
        if self.max_tokens is not None and not 1 <= self.max_tokens <= MAX_TOKENS_LIMIT:
            raise InvalidRequest(f"max_tokens must be between 1 and {MAX_TOKENS_LIMIT}, got {self.max_tokens}")
        if self.num_ctx is not None and self.num_ctx < 1:
            raise InvalidRequest(f"num_ctx must be positive, got {self.num_ctx}")
        if any(not s for s in self.stop):
            raise InvalidRequest("stop strings must not be empty")
        if self.grammar is not None and not self.grammar.strip():
            raise InvalidRequest("grammar is empty")
        if self.grammar is not None and self.json_schema is not None:
            raise InvalidRequest("give a grammar or a JSON Schema, not both")
        if self.json_schema is not None and not isinstance(self.json_schema, dict):
            raise InvalidRequest("json_schema must be a JSON object")
        self.sampling.validate()


@dataclass(frozen=True)
class Stats:
    """What a request cost; durations in nanoseconds, as Ollama reports them."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    truncated_tokens: int = 0
    load_duration_ns: int = 0
    prompt_eval_duration_ns: int = 0
    eval_duration_ns: int = 0
    total_duration_ns: int = 0
    done_reason: DoneReason = "stop"


@dataclass(frozen=True)
class ModelInfo:
    """Facts about a loaded model that callers plan prompts with."""

    name: str
    n_ctx_train: int
    n_ctx_per_seq: int
    n_parallel: int
    n_embd: int
    n_vocab: int
    has_fim: bool
    has_fim_repo: bool
    chat_template: str | None
    load_duration_ns: int
    allocations: tuple[tuple[str, int], ...] = ()  # what llama.cpp allocated: ("CPU KV", bytes), ...


# Parent -> worker.


@dataclass(frozen=True)
class Submit:
    request_id: int
    request: GenerateRequest


@dataclass(frozen=True)
class Embed:
    request_id: int
    texts: tuple[str, ...]
    truncate: bool = False


@dataclass(frozen=True)
class Render:
    """Build a request's prompt without generating: what the model would see."""

    request_id: int
    request: GenerateRequest


@dataclass(frozen=True)
class Cancel:
    request_id: int


@dataclass(frozen=True)
class Shutdown:
    pass


# Worker -> parent.


@dataclass(frozen=True)
class Loaded:
    info: ModelInfo


@dataclass(frozen=True)
class Accepted:
    """The worker built the request's prompt and sampler; errors after this are rare."""

    request_id: int


@dataclass(frozen=True)
class Chunk:
    """A piece of generated text (whole UTF-8 characters, stop strings held back)."""

    request_id: int
    text: str


@dataclass(frozen=True)
class Finished:
    request_id: int
    stats: Stats


@dataclass(frozen=True)
class Embedded:
    request_id: int
    vectors: tuple[tuple[float, ...], ...]
    prompt_tokens: int


@dataclass(frozen=True)
class Rendered:
    request_id: int
    tokens: tuple[int, ...]
    text: str
    truncated: int


@dataclass(frozen=True)
class Failed:
    """A request (request_id >= 0) or the model load (request_id == -1) failed."""

    request_id: int
    code: str
    message: str


LOAD_REQUEST_ID = -1
