"""A request's own llama.cpp sampler chain, built from its options and grammar."""

from __future__ import annotations

import random

import llama_cpp as ll

from fireside.engine.errors import InvalidGrammar
from fireside.engine.llama_model import LlamaModel
from fireside.engine.protocol import SamplingOptions


class Sampler:
    """Owns a `llama_sampler` chain; `sample` also feeds the chosen token to the penalties."""

    def __init__(self, model: LlamaModel, options: SamplingOptions, grammar: str | None, n_ctx: int) -> None:
        self._chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        try:
            self._build(model, options, grammar, n_ctx)
        except BaseException:
            self.close()
            raise

    def _add(self, sampler: ll.llama_sampler_p) -> None:
        ll.llama_sampler_chain_add(self._chain, sampler)

    def _build(self, model: LlamaModel, o: SamplingOptions, grammar: str | None, n_ctx: int) -> None:
        if grammar is not None:
            # The grammar goes first so every later stage only sees tokens it allows.
            g = ll.llama_sampler_init_grammar(model.vocab, grammar.encode(), b"root")
            if not g:
                detail = model.log.recent_errors() if model.log else ""
                raise InvalidGrammar(f"invalid grammar{': ' + detail if detail else ''}")
            self._add(g)
        if o.repeat_penalty != 1.0 or o.frequency_penalty or o.presence_penalty:
            last_n = n_ctx if o.repeat_last_n == -1 else o.repeat_last_n
            self._add(ll.llama_sampler_init_penalties(model.n_vocab, last_n, o.repeat_penalty, o.frequency_penalty, o.presence_penalty))
        if o.temperature == 0:
            self._add(ll.llama_sampler_init_greedy())
            return
        if o.top_k > 0:
            self._add(ll.llama_sampler_init_top_k(o.top_k))
        if o.top_p < 1.0:
            self._add(ll.llama_sampler_init_top_p(o.top_p, 1))
        if o.min_p > 0.0:
            self._add(ll.llama_sampler_init_min_p(o.min_p, 1))
        self._add(ll.llama_sampler_init_temp(o.temperature))
        seed = o.seed if o.seed is not None else random.SystemRandom().randrange(2**32 - 1)
        self._add(ll.llama_sampler_init_dist(seed))

    def sample(self, ctx: ll.llama_context_p, batch_index: int) -> int:
        return ll.llama_sampler_sample(self._chain, ctx, batch_index)

    def close(self) -> None:
        if self._chain:
            ll.llama_sampler_free(self._chain)
            self._chain = None
