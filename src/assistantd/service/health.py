"""What `GET /v1/health` reports: liveness and which optional capabilities work here."""

from __future__ import annotations

from typing import Any

from assistantd import __version__
from assistantd.engine.code_interpreter import CodeInterpreterRunner


class HealthService:
    def __init__(self, code: CodeInterpreterRunner) -> None:
        self._code = code

    @property
    def code_interpreter_problem(self) -> str | None:
        """Why code_interpreter cannot run here (the sandbox probe's answer), or None."""
        return self._code.unavailable_reason

    def status(self) -> dict[str, Any]:
        reason = self.code_interpreter_problem
        return {
            "status": "ok",
            "version": __version__,
            "code_interpreter": {"available": reason is None, "reason": reason},
        }
