"""Object ids with the OpenAI prefixes and a random base62 body."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
_BODY_LENGTH = 24

PREFIXES = {
    "assistant": "asst_",
    "thread": "thread_",
    "message": "msg_",
    "run": "run_",
    "step": "step_",
    "call": "call_",
    "file": "file-",
    "vector_store": "vs_",
    "file_batch": "vsfb_",
    "project": "proj_",
    "job": "job_",
    "key": "key_",
}


_BODIES = len(_ALPHABET) ** _BODY_LENGTH


def new_id(kind: str) -> str:
    # One draw from the OS for the whole body (a `secrets.choice` per character made 24
    # getrandom calls per id), written out in base 62: every body equally likely.
    number = secrets.randbelow(_BODIES)
    digits = []
    for _ in range(_BODY_LENGTH):
        number, digit = divmod(number, len(_ALPHABET))
        digits.append(_ALPHABET[digit])
    return PREFIXES[kind] + "".join(digits)
