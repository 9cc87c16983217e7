"""Fireside's inference engine: llama.cpp in one worker process per model, with
continuous batching, KV prefix reuse, FIM and per-request sampling."""

from fireside.engine.errors import EngineError
from fireside.engine.model_engine import Embeddings, GenerationStream, ModelEngine
from fireside.engine.protocol import GREEDY, FimInput, GenerateRequest, ModelInfo, SamplingOptions, Stats
from fireside.engine.settings import LoadSettings
from fireside.engine.worker import WorkerSpec

__all__ = [
    "GREEDY",
    "EngineError",
    "Embeddings",
    "FimInput",
    "GenerateRequest",
    "GenerationStream",
    "LoadSettings",
    "ModelEngine",
    "ModelInfo",
    "SamplingOptions",
    "Stats",
    "WorkerSpec",
]
