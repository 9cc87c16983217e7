"""Turns the bytes of sampled tokens into text that is safe to stream.

A token can end in the middle of a UTF-8 character, and a stop string can span tokens;
text is released only once it is whole characters that cannot be the start of a stop
string, so a client never sees half a character or the beginning of a stop.
"""

from __future__ import annotations

import codecs


class TextStream:
    def __init__(self, stops: tuple[str, ...] = ()) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = tuple(s for s in stops if s)
        self._pending = ""
        self.stopped = False

    def push(self, data: bytes) -> str:
        """Add a token's bytes; return the text now safe to emit. Sets `stopped` on a stop string."""
        if self.stopped:
            return ""
        self._pending += self._decoder.decode(data)
        hit = min((i for i in (self._pending.find(s) for s in self._stops) if i >= 0), default=-1)
        if hit >= 0:
            self.stopped = True
            out, self._pending = self._pending[:hit], ""
            return out
        hold = self._partial_stop_length()
        cut = len(self._pending) - hold
        out, self._pending = self._pending[:cut], self._pending[cut:]
        return out

    def flush(self) -> str:
        """At the end of generation: release what was held back as a possible stop."""
        if self.stopped:
            return ""
        out = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return out

    def _partial_stop_length(self) -> int:
        """Length of the longest tail of the pending text that begins some stop string."""
        best = 0
        for stop in self._stops:
            for k in range(min(len(stop) - 1, len(self._pending)), best, -1):
                if self._pending.endswith(stop[:k]):
                    best = k
                    break
        return best
