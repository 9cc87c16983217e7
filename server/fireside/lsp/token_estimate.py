"""Token counts for the context budget, without the model's tokenizer.

The tokenizer lives in the daemon; asking it on every keystroke would cost a round trip.
Instead the language server estimates from characters, and calibrates the ratio with the
prompt sizes the daemon reports back for each completion.
"""

from __future__ import annotations

import math


class TokenEstimate:
    def __init__(self, chars_per_token: float = 3.2) -> None:
        self.chars_per_token = chars_per_token

    def count(self, text: str) -> int:
        return math.ceil(len(text) / self.chars_per_token)

    def observe(self, chars: int, tokens: int) -> None:
        """Learn from a prompt of `chars` characters that the model counted as `tokens`
        (a moving average, so one unusual file does not swing it)."""
        if chars >= 200 and tokens > 0:
            self.chars_per_token = 0.8 * self.chars_per_token + 0.2 * (chars / tokens)
