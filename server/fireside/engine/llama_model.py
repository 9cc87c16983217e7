"""One llama.cpp model and its generation context, owned by a worker process.

This is the only module that holds raw llama.cpp pointers for generation; everything
above it speaks token ids and text. It is used from the worker's single thread.
"""

from __future__ import annotations

import ctypes
import re
import sys
import time
from collections import deque
from pathlib import Path

import llama_cpp as ll

from fireside.engine.errors import ModelLoadError
from fireside.engine.settings import LoadSettings

# ggml_log_level values (ggml.h); llama-cpp-python does not export them.
_LOG_WARN, _LOG_ERROR, _LOG_CONT = 3, 4, 5


# llama.cpp's allocations, one INFO line per buffer, the buffer type first (CPU, CPU_Mapped,
# CPU_REPACK, CUDA0, CUDA_Host, Metal, Vulkan0, ...):
#   "load_tensors:   CPU_Mapped model buffer size =    92.10 MiB"
#   "llama_context:        CPU  output buffer size =     1.50 MiB"
#   "llama_kv_cache:        CPU KV buffer size =   360.00 MiB"
#   "sched_reserve:        CPU compute buffer size =    98.25 MiB"
# and "RS" (recurrent state) and "LoRA" buffers. Sizes are printed in MiB with two decimals.
_BUFFER = re.compile(r"(\S+)\s+(model|KV|RS|LoRA|output|compute) buffer size\s*=\s*([\d.]+) MiB")


def buffer_allocation(message: str) -> tuple[str, int] | None:
    """("CPU_Mapped model", bytes) from one of llama.cpp's buffer-size log lines, else None."""
    match = _BUFFER.search(message)
    if match is None:
        return None
    return f"{match.group(1)} {match.group(2)}", round(float(match.group(3)) * (1 << 20))


class LlamaLog:
    """Routes llama.cpp's log to a ring buffer, so load errors can be reported verbatim,
    and reads back the buffers it allocates ("CPU_Mapped model", "CUDA0 KV", ...).

    llama.cpp prints a lot at load time; a worker keeps only warnings and errors, and
    echoes everything to stderr when `verbose` is set.
    """

    def __init__(self, verbose: bool = False) -> None:
        self.lines: deque[str] = deque(maxlen=20)
        self.allocations: dict[str, int] = {}
        self._verbose = verbose
        self._partial = ""
        # Keep a reference: llama.cpp calls this pointer for the life of the process.
        self._callback = ll.llama_log_callback(self._on_log)
        ll.llama_log_set(self._callback, ctypes.c_void_p(0))

    def _on_log(self, level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        message = text.decode("utf-8", errors="replace")
        if self._verbose:
            print(message, end="", flush=True, file=sys.stderr)
        if (allocation := buffer_allocation(message)) is not None:
            # Buffers add up (a split model maps one buffer per file), but a compute buffer
            # is reserved again when the graph changes: the latest replaces the earlier.
            label, size = allocation
            self.allocations[label] = size + (0 if label.endswith(" compute") else self.allocations.get(label, 0))
        if level in (_LOG_WARN, _LOG_ERROR) or (level == _LOG_CONT and self._partial):
            self._partial += message
            if self._partial.endswith("\n"):
                self.lines.append(self._partial.strip())
                self._partial = ""

    def recent_errors(self) -> str:
        return "; ".join(line for line in self.lines if line)


class LlamaModel:
    """A loaded model, its vocabulary and one context whose KV cache all sequences share."""

    def __init__(self, path: Path, settings: LoadSettings, log: LlamaLog, adapters: tuple[Path, ...] = ()) -> None:
        started = time.perf_counter_ns()
        self.log = log
        log.allocations.clear()
        mparams = ll.llama_model_default_params()
        mparams.n_gpu_layers = 999 if settings.num_gpu < 0 else settings.num_gpu
        self.model = ll.llama_model_load_from_file(str(path).encode(), mparams)
        if not self.model:
            detail = log.recent_errors() or "llama.cpp gave no reason"
            raise ModelLoadError(f"could not load {path}: {detail}")
        self.vocab = ll.llama_model_get_vocab(self.model)
        self.n_ctx_train = ll.llama_model_n_ctx_train(self.model)
        self.n_embd = ll.llama_model_n_embd(self.model)
        self.n_vocab = ll.llama_vocab_n_tokens(self.vocab)
        self.n_ctx_seq = min(settings.num_ctx, self.n_ctx_train) if self.n_ctx_train > 0 else settings.num_ctx
        self.n_parallel = settings.num_parallel
        self.n_batch = settings.num_batch

        cparams = ll.llama_context_default_params()
        cparams.n_ctx = self.n_ctx_seq * self.n_parallel
        cparams.n_batch = self.n_batch
        cparams.n_ubatch = self.n_batch
        cparams.n_seq_max = self.n_parallel
        cparams.n_threads = settings.threads
        cparams.n_threads_batch = settings.threads
        # One KV buffer for all sequences: llama_memory_seq_cp then shares cells instead
        # of copying them, which is what makes prefix reuse across sequences free.
        cparams.kv_unified = True
        # Sliding-window models keep their whole window history, so prefixes can be reused.
        cparams.swa_full = True
        cparams.no_perf = True
        self.ctx = ll.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            ll.llama_model_free(self.model)
            detail = log.recent_errors() or "out of memory?"
            raise ModelLoadError(f"could not create a context of {cparams.n_ctx} tokens for {path}: {detail}")
        self.memory = ll.llama_get_memory(self.ctx)
        self._adapters = [self._adapter(a) for a in adapters]
        if self._adapters:
            n = len(self._adapters)
            ll.llama_set_adapters_lora(self.ctx, (ll.llama_adapter_lora_p_ctypes * n)(*self._adapters), n, (ctypes.c_float * n)(*[1.0] * n))
        # What llama.cpp allocated for this model and context, by buffer ("CPU KV": bytes);
        # taken now, before an embedding context adds its own buffers to the log's count.
        self.allocations = dict(log.allocations)
        self.load_duration_ns = time.perf_counter_ns() - started
        self._pieces: dict[int, bytes] = {}

    def _adapter(self, path: Path) -> ll.llama_adapter_lora_p:
        adapter = ll.llama_adapter_lora_init(self.model, str(path).encode())
        if not adapter:
            self.close()
            detail = self.log.recent_errors() or "llama.cpp gave no reason"
            raise ModelLoadError(f"could not apply the adapter {path.name} to this model: {detail}")
        return adapter

    def close(self) -> None:
        ll.llama_free(self.ctx)
        ll.llama_model_free(self.model)

    # Vocabulary.

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        data = text.encode("utf-8")
        capacity = len(data) + 8
        buf = (ll.llama_token * capacity)()
        n = ll.llama_tokenize(self.vocab, data, len(data), buf, capacity, add_special, parse_special)
        if n < 0:
            capacity = -n
            buf = (ll.llama_token * capacity)()
            n = ll.llama_tokenize(self.vocab, data, len(data), buf, capacity, add_special, parse_special)
        return list(buf[:n])

    def piece(self, token: int) -> bytes:
        """The bytes a token stands for (special tokens render as nothing)."""
        cached = self._pieces.get(token)
        if cached is None:
            cached = self._render(token, special=False)
            self._pieces[token] = cached
        return cached

    def token_bytes(self, token: int) -> bytes:
        """A token's bytes with special tokens spelled out, such as b"<|im_end|>"."""
        return self._render(token, special=True) if token >= 0 else b""

    def token_text(self, token: int) -> str:
        return self.token_bytes(token).decode("utf-8", errors="replace")

    def _render(self, token: int, *, special: bool) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = ll.llama_token_to_piece(self.vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = ll.llama_token_to_piece(self.vocab, token, buf, -n, 0, special)
        return buf.raw[:n]

    def is_eog(self, token: int) -> bool:
        return bool(ll.llama_vocab_is_eog(self.vocab, token))

    @property
    def bos(self) -> int:
        return ll.llama_vocab_bos(self.vocab)

    @property
    def eos(self) -> int:
        return ll.llama_vocab_eos(self.vocab)

    @property
    def adds_bos(self) -> bool:
        return bool(ll.llama_vocab_get_add_bos(self.vocab))

    def meta(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(1 << 16)
        n = ll.llama_model_meta_val_str(self.model, key.encode(), buf, len(buf))
        if n < 0:
            return None
        if n >= len(buf):
            buf = ctypes.create_string_buffer(n + 1)
            ll.llama_model_meta_val_str(self.model, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", errors="replace")

    # KV cache: positions [p0, p1) of one sequence; p1 < 0 means to the end.

    def seq_remove(self, seq_id: int, p0: int = -1, p1: int = -1) -> bool:
        return bool(ll.llama_memory_seq_rm(self.memory, seq_id, p0, p1))

    def seq_copy(self, src: int, dst: int, p0: int, p1: int) -> None:
        ll.llama_memory_seq_cp(self.memory, src, dst, p0, p1)
