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


def new_id(kind: str) -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY_LENGTH))
    return PREFIXES[kind] + body
