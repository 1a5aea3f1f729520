"""What `GET /v1/health` reports: liveness and which optional capabilities work here."""

from __future__ import annotations

from typing import Any

from assistantd import __version__


class HealthService:
    def __init__(self, code_interpreter_problem: str | None) -> None:
        # Why code_interpreter cannot run here (the sandbox probe's answer), or None.
        self.code_interpreter_problem = code_interpreter_problem

    def status(self) -> dict[str, Any]:
        reason = self.code_interpreter_problem
        return {
            "status": "ok",
            "version": __version__,
            "code_interpreter": {"available": reason is None, "reason": reason},
        }
