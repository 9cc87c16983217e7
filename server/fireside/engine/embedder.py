"""Pooled, L2-normalized embeddings from a second context on the worker's weights.

The generation context has no pooling; embeddings get their own small context, made on
the first embedding request, so models that never embed pay nothing for it.
"""

from __future__ import annotations

import math

import llama_cpp as ll

from fireside.engine.batch import Batch
from fireside.engine.errors import ContextOverflow, EngineError, InvalidRequest
from fireside.engine.llama_model import LlamaModel


class Embedder:
    def __init__(self, model: LlamaModel) -> None:
        self._model = model
        self._ctx: ll.llama_context_p | None = None
        self._batch: Batch | None = None

    def _context(self) -> ll.llama_context_p:
        if self._ctx is None:
            # Embedding models declare their pooling; plain language models get mean pooling.
            ctx = self._make(ll.LLAMA_POOLING_TYPE_UNSPECIFIED)
            if ll.llama_pooling_type(ctx) == ll.LLAMA_POOLING_TYPE_NONE:
                ll.llama_free(ctx)
                ctx = self._make(ll.LLAMA_POOLING_TYPE_MEAN)
            self._ctx = ctx
            self._batch = Batch(self._model.n_ctx_seq)
        return self._ctx

    def _make(self, pooling: int) -> ll.llama_context_p:
        n = self._model.n_ctx_seq
        params = ll.llama_context_default_params()
        params.n_ctx = n
        params.n_batch = n
        params.n_ubatch = n  # pooling needs the whole text in one micro-batch
        params.n_seq_max = 1
        params.embeddings = True
        params.pooling_type = pooling
        params.no_perf = True
        ctx = ll.llama_init_from_model(self._model.model, params)
        if not ctx:
            raise EngineError("could not create an embedding context (out of memory?)")
        return ctx

    def embed(self, texts: tuple[str, ...], truncate: bool) -> tuple[list[tuple[float, ...]], int]:
        """One vector per text, and the number of tokens evaluated."""
        if not texts or any(not t for t in texts):
            raise InvalidRequest("embedding input must be one or more non-empty strings")
        ctx = self._context()
        assert self._batch is not None
        n_ctx = self._model.n_ctx_seq
        vectors: list[tuple[float, ...]] = []
        total = 0
        for text in texts:
            tokens = self._model.tokenize(text, add_special=True, parse_special=False)
            if len(tokens) > n_ctx:
                if not truncate:
                    raise ContextOverflow(f"an input is {len(tokens)} tokens but the context holds {n_ctx}")
                tokens = tokens[:n_ctx]
            ll.llama_memory_clear(ll.llama_get_memory(ctx), True)
            self._batch.clear()
            for pos, token in enumerate(tokens):
                self._batch.add(token, pos, 0, True)
            status = self._batch.decode(ctx)
            if status != 0:
                raise EngineError(f"embedding failed: llama_decode returned {status}")
            pooled = ll.llama_get_embeddings_seq(ctx, 0)
            values = [pooled[i] for i in range(self._model.n_embd)]
            norm = math.sqrt(sum(v * v for v in values)) or 1.0
            vectors.append(tuple(v / norm for v in values))
            total += len(tokens)
        return vectors, total

    def close(self) -> None:
        if self._ctx is not None:
            ll.llama_free(self._ctx)
        if self._batch is not None:
            self._batch.free()
