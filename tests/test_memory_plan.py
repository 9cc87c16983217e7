"""Memory planning from the real GGUF headers of SmolLM2 (llama, tied output) and
Qwen2.5-Coder (qwen2, separate output), with simulated VRAM and RAM budgets, and the
estimate checked against what llama.cpp really allocates when a worker loads them here."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from fireside.engine import ModelEngine, WorkerSpec
from fireside.engine.errors import EngineError
from fireside.engine.llama_model import buffer_allocation
from fireside.engine.protocol import ModelInfo
from fireside.models.gguf_facts import GgufFacts
from fireside.models.memory_plan import (
    GIB,
    HEADROOM,
    MIB,
    InsufficientMemory,
    MemoryEstimate,
    estimate,
    plan,
    processor_label,
    size_text,
    split_allocations,
)
from gguf import GGUFReader

RAM = 64 * GIB  # plenty, for the tests about VRAM


@pytest.fixture(scope="module")
def smol(smollm2_path: Path) -> GgufFacts:
    return GgufFacts.read(smollm2_path, "smol")


@pytest.fixture(scope="module")
def qwen_facts(qwen_spec: WorkerSpec) -> GgufFacts:
    return GgufFacts.read(qwen_spec.path, "qwen")


# From the header alone.


def test_tensor_sizes_are_what_the_gguf_reader_says(smol: GgufFacts, smollm2_path: Path) -> None:
    reference = {t.name: int(t.n_bytes) for t in GGUFReader(smollm2_path).tensors}
    assert smol.tensor_bytes == reference
    assert len(reference) == 272


def test_weights_are_the_tensors_and_nearly_the_whole_file(smol: GgufFacts, smollm2_path: Path, qwen_facts: GgufFacts, qwen_spec: WorkerSpec) -> None:
    for facts, path, n_layer in ((smol, smollm2_path, 30), (qwen_facts, qwen_spec.path, 24)):
        needs = estimate(facts, 4096, 512)
        assert needs.weights == sum(facts.tensor_bytes.values())
        assert 0.95 * path.stat().st_size < needs.weights < path.stat().st_size  # the rest is the header
        assert needs.n_layer == n_layer and min(needs.layer_weights) > 0
        assert needs.other_weights == sum(v for k, v in facts.tensor_bytes.items() if not k.startswith("blk."))


def test_the_output_layer_of_tied_and_untied_models(smol: GgufFacts, qwen_facts: GgufFacts) -> None:
    # SmolLM2 has no output.weight: llama.cpp offloads a copy of token_embd as the output
    # layer, and the input embedding stays in RAM.
    tied = estimate(smol, 4096, 512)
    assert "output.weight" not in smol.tensor_bytes
    assert tied.output_moved == smol.tensor_bytes["output_norm.weight"]
    assert tied.output_weights == smol.tensor_bytes["output_norm.weight"] + smol.tensor_bytes["token_embd.weight"]
    # Qwen2.5's GGUF has its own output matrix, which leaves RAM when offloaded.
    untied = estimate(qwen_facts, 4096, 512)
    assert untied.output_weights == untied.output_moved == qwen_facts.tensor_bytes["output.weight"] + qwen_facts.tensor_bytes["output_norm.weight"]


def test_cached_facts_estimate_the_same(qwen_facts: GgufFacts) -> None:
    """The store's index keeps facts as JSON without the token list; the vocabulary size
    (which the compute buffer depends on) must survive it."""
    cached = GgufFacts.from_json(qwen_facts.to_json())
    assert not isinstance(cached.metadata.get("tokenizer.ggml.tokens"), list)
    assert estimate(cached, 8192, 512, n_seq=4) == estimate(qwen_facts, 8192, 512, n_seq=4)


def test_kv_cache_by_hand(smol: GgufFacts, qwen_facts: GgufFacts) -> None:
    meta = smol.metadata
    assert (meta["llama.block_count"], meta["llama.attention.head_count_kv"], meta["llama.embedding_length"] // meta["llama.attention.head_count"]) == (30, 3, 64)
    assert estimate(smol, 16384, 512).layer_kv == (16384 * 3 * (64 + 64) * 2,) * 30  # 12 MiB a layer, f16
    meta = qwen_facts.metadata
    assert (meta["qwen2.block_count"], meta["qwen2.attention.head_count_kv"], meta["qwen2.embedding_length"] // meta["qwen2.attention.head_count"]) == (24, 2, 64)
    assert estimate(qwen_facts, 4096, 512).layer_kv == (4096 * 2 * (64 + 64) * 2,) * 24
    assert estimate(qwen_facts, 4096, 512).kv == 4096 * 24 * 2 * 128 * 2
    # Cells are padded to 256 as llama.cpp pads them; q8_0 takes 34 bytes per 32 values.
    assert estimate(smol, 1000, 512).kv_per_layer == 1024 * 3 * 128 * 2
    assert estimate(smol, 16384, 512, kv_bytes_per_element=34 / 32).kv_per_layer == 16384 * 3 * 128 * 34 // 32


def test_compute_buffer_formula(smol: GgufFacts, qwen_facts: GgufFacts) -> None:
    # One ubatch of logits plus two activations of n_embd floats (flash attention on).
    assert estimate(smol, 16384, 512).graph == 4 * 512 * (49152 + 2 * 576)
    assert estimate(qwen_facts, 16384, 512).graph == 4 * 512 * (151936 + 2 * 896)
    assert estimate(smol, 16384, 512).graph == estimate(smol, 32768, 512).graph  # context does not matter...
    assert estimate(smol, 131072, 512).graph > estimate(smol, 65536, 512).graph  # ...until the mask outgrows the logits
    assert estimate(smol, 200, 512).n_batch == 200  # llama.cpp caps a batch at the context
    without_fa = estimate(smol, 16384, 512, flash_attention=False)
    assert without_fa.graph == 4 * 512 * (16384 * (1 + 9) + 4 * 576)  # KQ for each of 9 heads
    assert estimate(smol, 16384, 512, n_seq=8).output_buffer == 4 * 49152 * 8


# Planning, with simulated budgets.


def test_no_gpu_means_cpu_only(smol: GgufFacts) -> None:
    needs = estimate(smol, 16384, 512)
    chosen = plan(needs, free_vram=None, available_ram=RAM, num_gpu=None)
    assert (chosen.n_gpu_layers, chosen.gpu_bytes, chosen.cpu_bytes, chosen.reason) == (0, 0, needs.total, "no GPU found")


def test_a_large_gpu_takes_every_layer_and_the_output(smol: GgufFacts, qwen_facts: GgufFacts) -> None:
    for facts in (smol, qwen_facts):
        needs = estimate(facts, 16384, 512)
        full = needs.n_layer + 1
        chosen = plan(needs, free_vram=80 * GIB, available_ram=RAM, num_gpu=None)
        assert chosen.n_gpu_layers == full
        assert chosen.reason == f"{full}/{full} layers fit in 80.0 GiB free VRAM"
        assert chosen.gpu_bytes == sum(needs.layer_weights) + needs.kv + needs.output_weights + needs.graph
        # RAM keeps the input embedding (and for a tied model, the matrix it shares).
        assert chosen.cpu_bytes == needs.other_weights - needs.output_moved + needs.host_graph + needs.output_buffer
        assert chosen.cpu_bytes >= facts.tensor_bytes["token_embd.weight"]


def test_a_budget_for_k_layers_offloads_k_layers(qwen_facts: GgufFacts) -> None:
    needs = estimate(qwen_facts, 16384, 512)
    for k in (1, 7, 23):
        budget = HEADROOM + needs.gpu_bytes(k)
        chosen = plan(needs, free_vram=budget, available_ram=RAM, num_gpu=None)
        assert chosen.n_gpu_layers == k, chosen.reason
        assert chosen.gpu_bytes <= budget - HEADROOM
        assert chosen.reason == f"{k}/25 layers fit in {size_text(budget)} free VRAM"
        assert plan(needs, free_vram=budget - 1, available_ram=RAM, num_gpu=None).n_gpu_layers == k - 1
    # Each offloaded layer brings its weights and KV cache; the first also the compute
    # buffer and the output matrix llama.cpp copies over for large batches.
    assert needs.gpu_bytes(1) == needs.layer_weights[-1] + needs.layer_kv[-1] + needs.graph + needs.output_weights
    assert needs.gpu_bytes(8) - needs.gpu_bytes(7) == needs.layer_weights[-8] + needs.layer_kv[-8]
    nothing = plan(needs, free_vram=HEADROOM + needs.graph, available_ram=RAM, num_gpu=None)
    assert (nothing.n_gpu_layers, nothing.gpu_bytes, nothing.reason) == (0, 0, f"0/25 layers fit in {size_text(HEADROOM + needs.graph)} free VRAM")


def test_the_last_layers_go_first(smol: GgufFacts) -> None:
    """llama.cpp offloads layers [n_layer - n, n_layer): a budget is spent from the end."""
    needs = estimate(smol, 4096, 512)
    n = needs.n_layer
    big_first = replace(needs, layer_weights=(GIB,) + needs.layer_weights[1:])
    budget = HEADROOM + big_first.gpu_bytes(n - 1)  # every layer but the big first one
    assert plan(big_first, free_vram=budget, available_ram=RAM, num_gpu=None).n_gpu_layers == n - 1
    big_last = replace(needs, layer_weights=needs.layer_weights[:-1] + (GIB,))
    assert plan(big_last, free_vram=budget, available_ram=RAM, num_gpu=None).n_gpu_layers == 0


def test_num_gpu_overrides_the_plan(qwen_facts: GgufFacts) -> None:
    needs = estimate(qwen_facts, 16384, 512)
    asked = plan(needs, free_vram=None, available_ram=RAM, num_gpu=10)
    assert (asked.n_gpu_layers, asked.gpu_bytes, asked.reason) == (10, needs.gpu_bytes(10), "num_gpu=10 requested")
    # Split: both sides reserve a compute buffer, and the GPU holds a copy of the output matrix.
    assert asked.gpu_bytes + asked.cpu_bytes == needs.total + needs.graph + needs.output_weights
    assert plan(needs, free_vram=80 * GIB, available_ram=RAM, num_gpu=0).n_gpu_layers == 0
    assert plan(needs, free_vram=None, available_ram=RAM, num_gpu=-1).n_gpu_layers == 25
    assert plan(needs, free_vram=None, available_ram=RAM, num_gpu=1000).n_gpu_layers == 25
    squeezed = plan(needs, free_vram=256 * MIB, available_ram=RAM, num_gpu=-1)
    assert squeezed.n_gpu_layers == 25 and "256 MiB free" in squeezed.reason


def test_a_model_that_does_not_fit_is_refused_with_its_sizes(qwen_facts: GgufFacts) -> None:
    needs = estimate(qwen_facts, 32768 * 4, 512)  # 1.5 GiB of KV cache
    with pytest.raises(InsufficientMemory) as refused:
        plan(needs, free_vram=None, available_ram=1 * GIB, num_gpu=None, name="qwen2.5-coder:0.5b")
    error = refused.value
    assert isinstance(error, EngineError) and error.code == "insufficient_memory"
    assert error.message == (
        'model "qwen2.5-coder:0.5b" needs 2.2 GiB of RAM (weights 463 MiB, KV cache 1.5 GiB for 131072 tokens, '
        "compute buffers 301 MiB) but only 1.0 GiB of RAM is available; try a smaller num_ctx or num_parallel"
    )
    with pytest.raises(InsufficientMemory) as refused:  # with part of it on a GPU too small for the rest
        plan(needs, free_vram=HEADROOM + needs.gpu_bytes(12), available_ram=1 * GIB, num_gpu=None)
    assert refused.value.message.startswith(f"the model needs 2.2 GiB (weights 463 MiB, KV cache 1.5 GiB for 131072 tokens, compute buffers 301 MiB), {size_text(needs.cpu_bytes(12))} of it in RAM with 12/25 layers on the GPU, but only 1.0 GiB of RAM is available")


def test_a_gpu_can_make_room_in_ram(qwen_facts: GgufFacts) -> None:
    needs = estimate(qwen_facts, 32768 * 4, 512)
    ram = needs.cpu_bytes(needs.n_layer + 1) + 64 * MIB
    assert plan(needs, free_vram=80 * GIB, available_ram=ram, num_gpu=None).n_gpu_layers == 25
    with pytest.raises(InsufficientMemory):
        plan(needs, free_vram=None, available_ram=ram, num_gpu=None)
    with pytest.raises(InsufficientMemory):  # layers asked onto a GPU nobody can see may stay in RAM
        plan(needs, free_vram=None, available_ram=ram, num_gpu=-1)


# What llama.cpp reports.


def test_llama_cpp_buffer_lines() -> None:
    # As llama.cpp 0.3.36 prints them on CPU (seen here) and on CUDA (same format strings).
    lines = {
        "load_tensors:   CPU_Mapped model buffer size =    92.10 MiB\n": ("CPU_Mapped model", round(92.10 * MIB)),
        "load_tensors:   CPU_REPACK model buffer size =    28.05 MiB\n": ("CPU_REPACK model", round(28.05 * MIB)),
        "load_tensors:        CUDA0 model buffer size =  4403.49 MiB\n": ("CUDA0 model", round(4403.49 * MIB)),
        "llama_context:        CPU  output buffer size =     1.50 MiB\n": ("CPU output", round(1.5 * MIB)),
        "llama_kv_cache:        CPU KV buffer size =   360.00 MiB\n": ("CPU KV", 360 * MIB),
        "llama_kv_cache:      CUDA0 KV buffer size =   512.00 MiB\n": ("CUDA0 KV", 512 * MIB),
        "sched_reserve:        CPU compute buffer size =    98.25 MiB\n": ("CPU compute", round(98.25 * MIB)),
        "sched_reserve:  CUDA_Host compute buffer size =    16.01 MiB\n": ("CUDA_Host compute", round(16.01 * MIB)),
    }
    for line, expected in lines.items():
        assert buffer_allocation(line) == expected
    assert buffer_allocation("llama_kv_cache: size =  360.00 MiB ( 16384 cells,  30 layers,  8/1 seqs), K (f16):  180.00 MiB\n") is None
    assert buffer_allocation("~llama_context:        CPU compute buffer size is  98.2500 MiB, matches expectation of  98.2500 MiB\n") is None


def test_allocations_split_and_label() -> None:
    cpu_only = [("CPU_Mapped model", 90 * MIB), ("CPU KV", 48 * MIB), ("CPU output", MIB), ("CPU compute", 10 * MIB)]
    assert split_allocations(cpu_only) == (149 * MIB, 0)
    mixed = [("CPU_Mapped model", 30 * MIB), ("CUDA0 model", 45 * MIB), ("CUDA0 KV", 20 * MIB), ("CUDA_Host compute", 5 * MIB)]
    assert split_allocations(mixed) == (35 * MIB, 65 * MIB)
    assert split_allocations([("Vulkan_Host output", 3), ("Vulkan0 compute", 7), ("Metal model", 11)]) == (3, 18)
    assert processor_label(*split_allocations(cpu_only)) == "100% CPU"
    assert processor_label(*split_allocations(mixed)) == "35%/65% CPU/GPU"
    assert processor_label(0, 5) == "100% GPU"
    assert processor_label(0, 0) == "100% CPU"


# The estimate against a real load.


def _compare(info: ModelInfo, facts: GgufFacts, n_batch: int) -> tuple[dict[str, int], MemoryEstimate]:
    measured = dict(info.allocations)
    needs = estimate(facts, info.n_ctx_per_seq * info.n_parallel, n_batch, n_seq=info.n_parallel)
    weights = sum(v for k, v in measured.items() if k.endswith(" model"))
    # Weights: the mapped buffer is exactly the tensors; an x86 CPU also repacks some
    # quantized tensors into a second buffer (28 MiB of Qwen's 463), hence 10%.
    assert abs(weights - needs.weights) <= 0.10 * needs.weights, (weights, needs.weights)
    assert abs(measured["CPU KV"] - needs.kv) <= 0.05 * needs.kv, (measured["CPU KV"], needs.kv)
    # Compute: exact at most sizes; the largest misses over 14 CPU configurations of
    # these two models were -4.8% and +3.2%, so 15% still catches a wrong formula.
    assert abs(measured["CPU compute"] - needs.graph) <= 0.15 * needs.graph, (measured["CPU compute"], needs.graph)
    assert abs(measured["CPU output"] - needs.output_buffer) <= 0.05 * needs.output_buffer, (measured["CPU output"], needs.output_buffer)
    assert split_allocations(info.allocations) == (sum(measured.values()), 0)
    assert processor_label(*split_allocations(info.allocations)) == "100% CPU"
    return measured, needs


async def test_estimate_matches_what_llama_cpp_allocates_for_smollm2(engine: ModelEngine, smol: GgufFacts) -> None:
    worker, _ = await engine.load()  # the shared worker: 8 sequences of 2048 tokens, batches of 512
    assert worker.info is not None
    measured, needs = _compare(worker.info, smol, engine.spec.settings.num_batch)
    assert set(measured) == {"CPU_Mapped model", "CPU output", "CPU KV", "CPU compute"}
    assert measured["CPU_Mapped model"] == pytest.approx(needs.weights, abs=MIB / 100)  # printed to 0.01 MiB
    assert measured["CPU KV"] == needs.kv == 360 * MIB


async def test_estimate_matches_at_other_sizes(smollm2_spec: WorkerSpec, smol: GgufFacts) -> None:
    settings = replace(smollm2_spec.settings, num_ctx=1024, num_parallel=2, num_batch=128)
    engine = ModelEngine(replace(smollm2_spec, settings=settings))
    try:
        worker, _ = await engine.load()
        assert worker.info is not None
        measured, needs = _compare(worker.info, smol, 128)
    finally:
        await engine.unload()
    assert measured["CPU KV"] == needs.kv == 2048 * 30 * 3 * 128 * 2


async def test_estimate_matches_what_llama_cpp_allocates_for_qwen(qwen: ModelEngine, qwen_facts: GgufFacts) -> None:
    worker, _ = await qwen.load()
    assert worker.info is not None
    _compare(worker.info, qwen_facts, qwen.spec.settings.num_batch)
