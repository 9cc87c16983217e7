"""Secrets taken out of text before it leaves the machine.

Known shapes of credentials: provider keys and tokens, private key blocks, passwords in
URLs and assignments to names like `password` or `api_key`. Each is replaced by a marker
that says what was there, so the cloud model still reads sensible code. (detect-secrets,
the usual scanner, reports findings per line, often only part of the secret, and flags
ordinary words through its entropy plugins; it cannot be used to cut secrets out.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.S)),
    ("AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b")),
    ("GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    ("Stripe key", re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}\b")),
    ("API key", re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}\b")),  # OpenAI, Anthropic
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
)
# user:password@ in a URL: the password goes, the rest stays.
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)(@)", re.I)
# password = "...", api_key: '...', "token": "..." (the name decides, the value must be a literal).
_ASSIGNED = re.compile(
    r"""((?:passw(?:or)?d|passwd|pwd|secret|api[_-]?key|apikey|access[_-]?key|auth[_-]?token|token|private[_-]?key)\w*["']?\s*(?::=|=|:)\s*)(["'])([^"'\s]{6,}|[^"']{12,})\2""",
    re.I,
)


@dataclass(frozen=True)
class Redaction:
    text: str
    found: tuple[str, ...]  # what kinds were taken out, in order (for the user and the ledger)


class Scrubber:
    """`redact` as a text filter for a whole request, remembering the kinds it took out."""

    def __init__(self) -> None:
        self.found: set[str] = set()

    def __call__(self, text: str) -> str:
        cleaned = redact(text)
        self.found.update(cleaned.found)
        return cleaned.text


def redact(text: str) -> Redaction:
    found: list[str] = []

    def marker(kind: str) -> str:
        found.append(kind)
        return f"[REDACTED {kind}]"

    for kind, pattern in _PATTERNS:
        text = pattern.sub(lambda m, kind=kind: marker(kind), text)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + marker("password in URL") + m.group(3), text)
    text = _ASSIGNED.sub(lambda m: m.group(1) + m.group(2) + (m.group(3) if m.group(3).startswith("[REDACTED") else marker("secret")) + m.group(2), text)
    return Redaction(text, tuple(found))
