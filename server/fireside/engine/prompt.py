"""Turns a request (raw text, chat messages or a FIM task) into the tokens to evaluate,
fitted to the request's context: an explicit error, or a reported truncation."""

from __future__ import annotations

from dataclasses import dataclass

from fireside.engine.chat_template import CHATML, ChatTemplate
from fireside.engine.errors import ContextOverflow, InsertNotSupported
from fireside.engine.fim import FimTokens, fim_parts, fit_fim
from fireside.engine.llama_model import LlamaModel
from fireside.engine.protocol import GenerateRequest

# Room kept for the answer when a prompt is truncated and the request set no max_tokens.
DEFAULT_TRUNCATION_RESERVE = 256


@dataclass(frozen=True)
class Prompt:
    tokens: list[int]
    truncated: int = 0


class PromptBuilder:
    def __init__(self, model: LlamaModel, template_override: str | None = None) -> None:
        self._model = model
        self.fim_tokens = FimTokens.of(model.vocab)
        self.template_source = template_override or model.meta("tokenizer.chat_template")
        self._template = ChatTemplate(
            self.template_source or CHATML,
            bos_token=model.token_text(model.bos),
            eos_token=model.token_text(model.eos),
        )

    def build(self, request: GenerateRequest, ctx_limit: int) -> Prompt:
        """Tokens for `request`, at most `ctx_limit - 1` of them (one position is left to generate)."""
        reserve = min(request.max_tokens or DEFAULT_TRUNCATION_RESERVE, ctx_limit // 2)
        budget = ctx_limit - reserve if request.truncate else ctx_limit - 1
        if request.fim is not None:
            return self._fim(request, budget, ctx_limit)
        if request.messages is not None:
            text = self._template.render([dict(m) for m in request.messages], [dict(t) for t in request.tools or ()])
            bos_text = self._model.token_text(self._model.bos)
            add_bos = self._model.adds_bos and not (bos_text and text.startswith(bos_text))
            tokens = self._model.tokenize(text, add_special=add_bos, parse_special=True)
        else:
            assert request.prompt is not None
            tokens = self._model.tokenize(request.prompt, add_special=True, parse_special=False)
        if len(tokens) <= budget:
            return Prompt(tokens)
        if not request.truncate:
            raise ContextOverflow(
                f"the prompt is {len(tokens)} tokens but the context holds {ctx_limit} "
                "(raise num_ctx, shorten the prompt, or ask for truncation)"
            )
        keep_bos = 1 if tokens and tokens[0] == self._model.bos and self._model.adds_bos else 0
        kept = tokens[:keep_bos] + tokens[len(tokens) - (budget - keep_bos) :]
        return Prompt(kept, truncated=len(tokens) - len(kept))

    def _fim(self, request: GenerateRequest, budget: int, ctx_limit: int) -> Prompt:
        fim = request.fim
        assert fim is not None
        if self.fim_tokens is None:
            raise InsertNotSupported("this model does not support insert: its vocabulary has no fill-in-the-middle tokens")
        parts = fim_parts(fim, self.fim_tokens, lambda t: self._model.tokenize(t, add_special=False, parse_special=False))
        bos = [self._model.bos] if self._model.adds_bos else []
        overhead = len(bos) + 3  # prefix, suffix and middle markers
        fitted, dropped = fit_fim(parts, max(0, budget - overhead))
        if dropped and not request.truncate:
            raise ContextOverflow(
                f"the fill-in-the-middle prompt is {overhead + parts.size} tokens but the context holds {ctx_limit} "
                "(raise num_ctx, send less context, or ask for truncation)"
            )
        return Prompt(fitted.assemble(self.fim_tokens, fim.order, bos), truncated=dropped)
