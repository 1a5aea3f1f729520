"""Text made storable: PostgreSQL cannot store U+0000 (in text or jsonb), SQLite can. Requests
with it are refused at the API; text that comes from elsewhere (a model's answer, a sandbox's
output, an ingested file) has it replaced here, so both databases keep the same thing."""

from __future__ import annotations

NUL = "\x00"
REPLACEMENT = "\ufffd"


def storable(text: str) -> str:
    """`text` with every NUL replaced by U+FFFD (the character for "not representable")."""
    return text.replace(NUL, REPLACEMENT) if NUL in text else text
