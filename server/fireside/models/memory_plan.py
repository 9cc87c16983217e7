"""How much memory a model will take, and how much of it the GPU can hold, from its GGUF
header alone: before a worker starts, so a model that cannot fit is refused with the
sizes instead of crashing the machine.

Calibrated against what llama.cpp 0.3.36 allocates on the CPU (its "buffer size" log
lines, which every worker reads back into `ModelInfo.allocations`):

- weights: the tensors' bytes (the "CPU_Mapped model" buffer is exactly their sum);
- KV cache: K and V for every cell of every layer, cells padded to 256 as llama.cpp pads
  them (all layers count as full: workers load sliding-window models with swa_full);
- compute buffer: with flash attention (llama.cpp's "auto" turns it on for these
  models) its peak is one ubatch of logits, 4 * n_batch * (n_vocab + 2 * n_embd) bytes,
  exact for SmolLM2 and Qwen2.5 at every size tried; only when the f16 attention mask
  (2 * n_batch * n_ctx) outgrows the logits does context length matter;
- output buffer: logits of one token per sequence, 4 * n_vocab * n_seq.

GPU figures cannot be measured on a CPU-only build, so the plan is conservative there:
a partly offloaded model reserves the full compute buffer on both sides, and the GPU
also holds a copy of the output matrix (llama.cpp runs the logits of large batches on
the GPU even when the output layer stays in RAM).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fireside.engine.errors import EngineError
from fireside.models.gguf_facts import GgufFacts

MIB = 1 << 20
GIB = 1 << 30
# VRAM left free: NVML is asked before the worker exists, so this covers the CUDA
# context the worker then creates (0.3-0.5 GiB), CUDA's memory pools and what the
# estimate misses. llama.cpp's own --fit leaves 1 GiB per device on top of its context.
HEADROOM = 1 * GIB
_LAYER = re.compile(r"blk\.(\d+)\.")
_OUTPUT_LAYER = ("output.", "output_norm.")
_KV_PAD = 256  # llama.cpp rounds the context up to a multiple of this


class InsufficientMemory(EngineError):
    """The model does not fit in RAM, with what the GPU takes off it."""

    code = "insufficient_memory"


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a model needs in llama.cpp at one context size and batch size."""

    layer_weights: tuple[int, ...]  # blk.N.* tensors, per layer N = 0 .. n_layer-1
    other_weights: int  # every tensor outside the blocks: token embedding, output layer, rope tables
    output_weights: int  # what the output layer puts on the GPU when it is offloaded: output_norm and
    # output.weight, or a copy of token_embd where the model ties them (the input layer stays in RAM)
    output_moved: int  # the part of output_weights that then leaves RAM (not a tied embedding)
    layer_kv: tuple[int, ...]  # K and V of every cell, per layer
    graph: int  # llama.cpp's compute buffer, on the device that computes the logits
    host_graph: int  # the compute buffer left in RAM when every layer is on the GPU (input embeddings)
    output_buffer: int  # logits handed back to the caller: always in RAM
    n_ctx: int  # KV cells, padded as llama.cpp pads them
    n_batch: int  # tokens per ubatch, as llama.cpp caps it

    @property
    def n_layer(self) -> int:
        return len(self.layer_weights)

    @property
    def weights(self) -> int:
        """All tensors of the file: what a CPU-only load maps."""
        return sum(self.layer_weights) + self.other_weights

    @property
    def kv_per_layer(self) -> int:
        """The largest layer's KV cache (layers differ only where head counts do)."""
        return max(self.layer_kv, default=0)

    @property
    def kv(self) -> int:
        return sum(self.layer_kv)

    @property
    def total(self) -> int:
        """Everything, as a CPU-only load allocates it."""
        return self.weights + self.kv + self.graph + self.output_buffer

    def gpu_bytes(self, n_gpu_layers: int) -> int:
        """VRAM with the last `n_gpu_layers` layers offloaded (n_layer + 1: the output too)."""
        layers = min(max(n_gpu_layers, 0), self.n_layer)
        if layers == 0:
            return 0
        first = self.n_layer - layers
        # The output matrix: on the GPU when offloaded, else copied there for large batches.
        return sum(self.layer_weights[first:]) + sum(self.layer_kv[first:]) + self.graph + self.output_weights

    def cpu_bytes(self, n_gpu_layers: int) -> int:
        """RAM with the last `n_gpu_layers` layers offloaded."""
        layers = min(max(n_gpu_layers, 0), self.n_layer)
        if layers == 0:
            return self.total
        first = self.n_layer - layers
        kept = self.other_weights + sum(self.layer_weights[:first]) + sum(self.layer_kv[:first]) + self.output_buffer
        if n_gpu_layers > self.n_layer:
            return kept - self.output_moved + self.host_graph
        return kept + self.graph


@dataclass(frozen=True)
class Plan:
    n_gpu_layers: int  # for llama.cpp: it offloads the last n layers; 0 = CPU only; n_layer + 1 = all and the output
    gpu_bytes: int
    cpu_bytes: int
    reason: str  # one line for logs and `ps`: "no GPU found", "25/25 layers fit in 7.1 GiB free VRAM", ...


def _per_layer(facts: GgufFacts, key: str, n_layer: int, default: int) -> list[int]:
    """A hyperparameter that GGUF stores as one number or as one per layer."""
    value: Any = facts.metadata.get(f"{facts.architecture}.{key}", default)
    if isinstance(value, list):
        return [int(v) for v in value[:n_layer]] + [int(value[-1]) if value else default] * max(0, n_layer - len(value))
    return [int(value)] * n_layer


def _vocab_size(facts: GgufFacts) -> int:
    tokens = facts.metadata.get("tokenizer.ggml.tokens")  # None in facts cached as JSON
    return facts.vocab_size or (len(tokens) if isinstance(tokens, list) else 0) or int(facts.metadata.get(f"{facts.architecture}.vocab_size") or 0)


def estimate(
    facts: GgufFacts,
    n_ctx_total: int,
    n_batch: int,
    kv_bytes_per_element: float = 2.0,
    *,
    n_seq: int = 1,
    flash_attention: bool = True,
) -> MemoryEstimate:
    """What llama.cpp will allocate for `facts`' model with a KV cache of `n_ctx_total`
    cells (num_ctx * num_parallel), ubatches of `n_batch` tokens, K and V stored at
    `kv_bytes_per_element` (2 = f16, 34/32 = q8_0, 18/32 = q4_0) and `n_seq` sequences.
    `flash_attention=False` estimates the graph of a device where llama.cpp cannot use it."""
    arch = facts.architecture
    n_layer = int(facts.metadata.get(f"{arch}.block_count", 0))
    layers = [0] * n_layer
    other = output = 0
    for name, size in facts.tensor_bytes.items():
        match = _LAYER.match(name)
        if match and int(match.group(1)) < n_layer:
            layers[int(match.group(1))] += size
        else:
            other += size
            output += size if name.startswith(_OUTPUT_LAYER) else 0
    tied = "output.weight" not in facts.tensor_bytes
    output_weights = output + (facts.tensor_bytes.get("token_embd.weight", 0) if tied else 0)

    n_embd = int(facts.metadata.get(f"{arch}.embedding_length", 0))
    heads = _per_layer(facts, "attention.head_count", n_layer, 1)
    # Absent: as many KV heads as query heads. 0 marks a layer without attention (no KV).
    has_kv_heads = f"{arch}.attention.head_count_kv" in facts.metadata
    heads_kv = _per_layer(facts, "attention.head_count_kv", n_layer, 0) if has_kv_heads else heads
    n_head = max(heads, default=1) or 1
    head_dim = n_embd // (heads[0] if heads and heads[0] else 1)
    key_length = int(facts.metadata.get(f"{arch}.attention.key_length", head_dim))
    value_length = int(facts.metadata.get(f"{arch}.attention.value_length", head_dim))
    n_ctx = -(-max(n_ctx_total, 1) // _KV_PAD) * _KV_PAD
    layer_kv = tuple(round(n_ctx * kv * (key_length + value_length) * kv_bytes_per_element) for kv in heads_kv)

    batch = max(1, min(n_batch, n_ctx_total))  # llama.cpp caps the batch at the context
    n_vocab = _vocab_size(facts)
    logits = 4 * batch * (n_vocab + 2 * n_embd)
    if flash_attention:
        attention = 2 * batch * n_ctx + 4 * batch * 16 * n_embd  # the f16 mask and a layer's activations
    else:
        attention = 4 * batch * (n_ctx * (1 + n_head) + 4 * n_embd)  # KQ in f32 for every head, and the mask
    return MemoryEstimate(
        layer_weights=tuple(layers),
        other_weights=other,
        output_weights=output_weights,
        output_moved=output,
        layer_kv=layer_kv,
        graph=max(logits, attention),
        host_graph=4 * batch * 2 * n_embd,
        output_buffer=4 * n_vocab * max(1, n_seq),
        n_ctx=n_ctx,
        n_batch=batch,
    )


def size_text(n: int) -> str:
    """Bytes as people read them: "512 MiB", "7.1 GiB"."""
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / MIB:.0f} MiB"


def plan(
    needs: MemoryEstimate,
    *,
    free_vram: int | None,
    available_ram: int,
    num_gpu: int | None,
    headroom: int = HEADROOM,
    name: str | None = None,
) -> Plan:
    """How many layers llama.cpp should put on the GPU.

    `num_gpu` (the option; -1 = all) is used as asked, clamped to n_layer + 1. Left unset,
    it is as many layers as fit in `free_vram` less `headroom`, counted from the last
    layer back as llama.cpp offloads them, each with its weights and its KV cache, plus
    the compute buffer and the output matrix once any is on the GPU; no GPU (None) means
    CPU only. Raises InsufficientMemory when what stays in RAM exceeds `available_ram`.
    """
    full = needs.n_layer + 1
    if num_gpu is not None:
        n_gpu = full if num_gpu < 0 else min(num_gpu, full)
        reason = f"num_gpu={num_gpu} requested"
        if free_vram is not None and needs.gpu_bytes(n_gpu) > free_vram:
            reason += f" (needs {size_text(needs.gpu_bytes(n_gpu))} of VRAM, {size_text(free_vram)} free)"
    elif free_vram is None:
        n_gpu, reason = 0, "no GPU found"
    else:
        budget = free_vram - headroom
        n_gpu = 0
        while n_gpu < full and needs.gpu_bytes(n_gpu + 1) <= budget:
            n_gpu += 1
        reason = f"{n_gpu}/{full} layers fit in {size_text(free_vram)} free VRAM"
    chosen = Plan(n_gpu, needs.gpu_bytes(n_gpu), needs.cpu_bytes(n_gpu), reason)
    # Layers asked onto a GPU that NVML cannot see may well stay in RAM (a CPU-only build).
    in_ram = chosen.cpu_bytes + (chosen.gpu_bytes if free_vram is None else 0)
    if in_ram > available_ram:
        who = f'model "{name}"' if name else "the model"
        parts = (
            f"weights {size_text(needs.weights)}, KV cache {size_text(needs.kv)} for {needs.n_ctx} tokens, "
            f"compute buffers {size_text(needs.graph + needs.output_buffer)}"
        )
        if chosen.gpu_bytes and free_vram is not None:
            needed = f"{size_text(needs.total)} ({parts}), {size_text(in_ram)} of it in RAM with {n_gpu}/{full} layers on the GPU,"
        else:
            needed = f"{size_text(in_ram)} of RAM ({parts})"
        raise InsufficientMemory(
            f"{who} needs {needed} but only {size_text(available_ram)} of RAM is available; try a smaller num_ctx or num_parallel"
        )
    return chosen


def split_allocations(allocations: Iterable[tuple[str, int]]) -> tuple[int, int]:
    """(RAM bytes, VRAM bytes) of what llama.cpp reported allocating, from labels such as
    "CPU_Mapped model" or "CUDA0 KV": CPU buffers and GPU backends' host buffers
    (CUDA_Host, Vulkan_Host) are RAM, every other device's are VRAM."""
    cpu = gpu = 0
    for label, size in allocations:
        device = label.split(" ", 1)[0]
        if device.startswith("CPU") or device.endswith("_Host"):
            cpu += size
        else:
            gpu += size
    return cpu, gpu


def processor_label(cpu: int, gpu: int) -> str:
    """Where a model runs, as `ollama ps` says it: "100% CPU", "100% GPU", "35%/65% CPU/GPU"."""
    if not gpu:
        return "100% CPU"
    if not cpu:
        return "100% GPU"
    on_cpu = round(100 * cpu / (cpu + gpu))
    return f"{on_cpu}%/{100 - on_cpu}% CPU/GPU"
