"""The state of one execute_request while its messages arrive: output, reply, idle status."""

from __future__ import annotations

import asyncio
from typing import Any

from assistantd.sandbox.output import OutputCollector, strip_ansi
from assistantd.sandbox.protocol import Envelope, JsonObject, WireCodec
from assistantd.sandbox.results import ExecutionError

# Message types whose content we never need once the logs are full.
_TEXT_ONLY = frozenset({"stream"})


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # nbformat allows multi-line strings as lists
        return "".join(item for item in value if isinstance(item, str))
    return ""


class PendingCall:
    """Routes the messages answering `msg_id` into an OutputCollector; `changed` is set
    whenever something arrives, `finished` once the reply and the idle status are both in."""

    def __init__(self, msg_id: str, codec: WireCodec, collector: OutputCollector) -> None:
        self.msg_id = msg_id
        self._codec = codec
        self.collector = collector
        self.reply: JsonObject | None = None
        self.idle = False
        self.error: ExecutionError | None = None
        self._traceback_logged = False
        self.changed = asyncio.Event()

    @property
    def finished(self) -> bool:
        return self.reply is not None and self.idle

    def handle(self, channel: str, envelope: Envelope) -> None:
        if envelope.parent_id != self.msg_id:
            return
        if channel == "iopub" and envelope.msg_type in _TEXT_ONLY and self.collector.full:
            return  # skip verifying and parsing output that would be dropped anyway
        content = self._codec.content(envelope)
        if content is None:
            return
        if channel == "shell" and envelope.msg_type == "execute_reply":
            self.reply = content
            self._on_reply(content)
        elif channel == "iopub":
            self._on_iopub(envelope.msg_type, content)
        self.changed.set()

    def _on_iopub(self, msg_type: str, content: JsonObject) -> None:
        if msg_type == "status":
            self.idle = self.idle or content.get("execution_state") == "idle"
        elif msg_type == "stream":
            self.collector.text(_text(content.get("text")))
        elif msg_type in ("execute_result", "display_data", "update_display_data"):
            data = content.get("data")
            if not isinstance(data, dict):
                return
            png = data.get("image/png")
            if isinstance(png, str):
                self.collector.image(png)
            else:
                text = _text(data.get("text/plain"))
                if text:
                    self.collector.text(text if text.endswith("\n") else text + "\n")
        elif msg_type == "error":
            self._log_traceback(content)

    def _on_reply(self, content: JsonObject) -> None:
        if content.get("status") == "error":
            self.error = ExecutionError(
                ename=str(content.get("ename", "Error")), evalue=str(content.get("evalue", ""))
            )
            # The traceback normally came on iopub first; the reply repeats it for when not.
            self._log_traceback(content)
        elif content.get("status") == "aborted":
            self.error = ExecutionError(ename="Aborted", evalue="execution was aborted")

    def _log_traceback(self, content: JsonObject) -> None:
        if self._traceback_logged:
            return
        self._traceback_logged = True
        frames = content.get("traceback")
        lines = (
            [strip_ansi(line) for line in frames if isinstance(line, str)]
            if isinstance(frames, list)
            else []
        )
        text = "\n".join(lines) or f"{content.get('ename', 'Error')}: {content.get('evalue', '')}"
        self.collector.text(text if text.endswith("\n") else text + "\n")
