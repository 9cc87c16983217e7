"""The token batch that one `llama_decode` step evaluates for all sequences together."""

from __future__ import annotations

import llama_cpp as ll


class Batch:
    """A reusable llama_batch: each entry is (token, position, sequence, wants logits)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._batch = ll.llama_batch_init(capacity, 0, 1)

    def __len__(self) -> int:
        return self._batch.n_tokens

    @property
    def room(self) -> int:
        return self.capacity - self._batch.n_tokens

    def clear(self) -> None:
        self._batch.n_tokens = 0

    def add(self, token: int, pos: int, seq_id: int, logits: bool) -> int:
        """Append one entry and return its index (where its logits will be)."""
        i = self._batch.n_tokens
        if i >= self.capacity:
            raise OverflowError("batch is full")
        b = self._batch
        b.token[i] = token
        b.pos[i] = pos
        b.n_seq_id[i] = 1
        b.seq_id[i][0] = seq_id
        b.logits[i] = logits
        b.n_tokens = i + 1
        return i

    def decode(self, ctx: ll.llama_context_p) -> int:
        """Run the model over the batch; 0 on success, llama.cpp's status otherwise."""
        return ll.llama_decode(ctx, self._batch)

    def free(self) -> None:
        ll.llama_batch_free(self._batch)
