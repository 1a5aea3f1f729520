"""Who is asking: the project every read and write is confined to, and the request id for logs."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PROJECT_ID = "proj_default"


@dataclass(frozen=True)
class Caller:
    project_id: str
    key_id: str | None
    request_id: str
