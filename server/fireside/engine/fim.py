"""Fill-in-the-middle prompts, assembled from the model's own FIM tokens.

User text is tokenized without parsing special tokens, so code that happens to contain
"<|fim_middle|>" cannot steer the prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import llama_cpp as ll

from fireside.engine.protocol import FimInput

Tokenize = Callable[[str], list[int]]


@dataclass(frozen=True)
class FimTokens:
    prefix: int
    suffix: int
    middle: int
    repo: int = -1
    file_sep: int = -1

    @classmethod
    def of(cls, vocab: ll.llama_vocab_p) -> FimTokens | None:
        """The vocabulary's FIM tokens, or None when it cannot do insert."""
        pre, suf, mid = ll.llama_vocab_fim_pre(vocab), ll.llama_vocab_fim_suf(vocab), ll.llama_vocab_fim_mid(vocab)
        if min(pre, suf, mid) < 0:
            return None
        return cls(pre, suf, mid, ll.llama_vocab_fim_rep(vocab), ll.llama_vocab_fim_sep(vocab))

    @property
    def has_repo_context(self) -> bool:
        return self.repo >= 0 and self.file_sep >= 0


@dataclass(frozen=True)
class FimParts:
    """A FIM prompt's pieces, kept apart so truncation can trim each sensibly."""

    context: list[int]  # repository-level header and extra files (may be empty)
    prefix: list[int]
    suffix: list[int]

    @property
    def size(self) -> int:
        return len(self.context) + len(self.prefix) + len(self.suffix)

    def assemble(self, tokens: FimTokens, order: str, bos: list[int]) -> list[int]:
        pre = [tokens.prefix, *self.prefix]
        suf = [tokens.suffix, *self.suffix]
        body = suf + pre if order == "spm" else pre + suf
        return [*bos, *self.context, *body, tokens.middle]


def fim_parts(fim: FimInput, tokens: FimTokens, tokenize: Tokenize) -> FimParts:
    context: list[int] = []
    if tokens.has_repo_context and (fim.extra_files or fim.path):
        context += [tokens.repo, *tokenize(f"{fim.repo_name or 'workspace'}\n")]
        for path, text in fim.extra_files:
            context += [tokens.file_sep, *tokenize(f"{path}\n{text}\n")]
        context += [tokens.file_sep, *tokenize(f"{fim.path or 'untitled'}\n")]
    return FimParts(context=context, prefix=tokenize(fim.prefix), suffix=tokenize(fim.suffix))


def fit_fim(parts: FimParts, budget: int) -> tuple[FimParts, int]:
    """Shrink the parts to `budget` tokens (FIM tokens excluded): first drop the extra
    context, then the start of the prefix and the end of the suffix, keeping the text
    nearest the hole (the suffix gets at most a quarter). Returns the parts and how many
    tokens were dropped."""
    total = parts.size
    if total <= budget:
        return parts, 0
    suffix_room = min(len(parts.suffix), budget // 4)
    prefix_room = min(len(parts.prefix), budget - suffix_room)
    suffix_room = min(len(parts.suffix), budget - prefix_room)
    fitted = FimParts(
        context=[],
        prefix=parts.prefix[len(parts.prefix) - prefix_room :],
        suffix=parts.suffix[:suffix_room],
    )
    return fitted, total - fitted.size
