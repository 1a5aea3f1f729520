"""The code_interpreter tool as the engine runs it: offered to the model as a function taking
Python code, executed in the thread's sandbox session with the run's files at /mnt/data, and
recorded as a `code_interpreter` tool call with its logs and images (saved as files)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from assistantd.clock import Clock
from assistantd.engine.code_arguments import CodeFromArguments, code_of
from assistantd.engine.tools.base import CallStream, StoredCall, ToolCall, ToolUnavailable
from assistantd.sandbox import (
    InputFile,
    SandboxBusy,
    SandboxError,
    SandboxUnavailable,
    SessionDied,
    SessionManager,
)
from assistantd.store import tool_resources
from assistantd.store.blobs import BlobStore
from assistantd.store.database import Database
from assistantd.store.files import save_bytes
from assistantd.store.text import storable
from assistantd.wire.deltas import (
    CodeInterpreterDelta,
    CodeInterpreterOutputDelta,
    CodeInterpreterToolCallDelta,
    ToolCallDelta,
)
from assistantd.wire.run_steps import (
    CodeInterpreter,
    CodeInterpreterImage,
    CodeInterpreterLogs,
    CodeInterpreterToolCall,
    ImageRef,
    stored_tool_call,
)

log = logging.getLogger("assistantd.engine")

NAME = "code_interpreter"
OUTPUT_PURPOSE = "assistants_output"
MODEL_LOG_CHARS = 20_000  # what the model reads of a call's logs; the step keeps them all
MAX_OUTPUT_FILE_BYTES = 512 * 1024 * 1024

FUNCTION = {
    "type": "function",
    "function": {
        "name": NAME,
        "description": (
            "Run Python 3 code in a stateful Jupyter session (variables persist between calls). "
            "The user's files are in /mnt/data. numpy, pandas and matplotlib are installed; "
            "show charts with plt.show(). Save files for the user under /mnt/data and mention "
            "them as sandbox:/mnt/data/<name>. There is no internet access."
        ),
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "The Python code to run."}},
            "required": ["code"],
        },
    },
}


class _CodeCallStream:
    """The code streams as `input` deltas, decoded from the JSON arguments as they arrive."""

    def __init__(self) -> None:
        self._code = CodeFromArguments()

    def announce(self, call_id: str, index: int, arguments: str, fragment: str) -> ToolCallDelta:
        code = self._code.feed(fragment)
        return CodeInterpreterToolCallDelta(
            index=index, id=call_id, code_interpreter=CodeInterpreterDelta(input=code, outputs=[])
        )

    def more(self, index: int, fragment: str) -> ToolCallDelta | None:
        code = self._code.feed(fragment)
        if not code:
            return None
        return CodeInterpreterToolCallDelta(
            index=index, code_interpreter=CodeInterpreterDelta(input=code)
        )


class CodeInterpreterTool:
    """code_interpreter as a server tool. `unavailable`: why the sandbox cannot run code here
    (the start-up probe's answer), or None."""

    name = NAME

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        sessions: SessionManager,
        clock: Clock,
        *,
        call_timeout: float,
        unavailable: str | None,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._sessions = sessions
        self._clock = clock
        self._call_timeout = call_timeout
        self._unavailable = unavailable

    def function(self) -> dict[str, Any]:
        return FUNCTION

    def unavailable_reason(self) -> str | None:
        return self._unavailable

    def call_stream(self) -> CallStream:
        return _CodeCallStream()

    def not_run(self, call: ToolCall, output: str) -> StoredCall:
        return _item(call.call_id, code_of(call.arguments), "", [], {}, call.arguments, output)

    async def run(self, call: ToolCall) -> StoredCall:
        """Execute the call in the thread's session, its output streamed as `logs` deltas."""
        if self._unavailable is not None:
            raise ToolUnavailable(self._unavailable)
        return await self._execute(call.run, call.call_id, call.arguments, _log_stream(call))

    async def _execute(
        self,
        run: Mapping[Any, Any],
        call_id: str,
        arguments: str,
        on_logs: Callable[[str], None],
    ) -> StoredCall:
        code = code_of(arguments)
        inputs = await self.input_files(run)
        try:
            result = await self._sessions.execute(
                run["thread_id"],
                code,
                timeout=self._call_timeout,
                on_output=lambda text: on_logs(storable(text)),
                input_files=inputs,
            )
        except SessionDied as exc:
            note = f"[The Python session stopped ({exc}); the next call starts a new session.]"
            logs = f"{exc.logs}\n{note}" if exc.logs else note
            on_logs(logs)
            return _item(call_id, code, logs, [], {}, arguments, logs)
        except (SandboxUnavailable, SandboxBusy) as exc:
            raise ToolUnavailable(str(exc)) from exc
        images = [
            await self._save(run["project_id"], png, f"{call_id}-{n}.png")
            for n, png in enumerate(result.images)
        ]
        written = await self._save_outputs(run, result.new_files)
        logs = result.logs
        if result.timed_out:
            logs += f"\n[Stopped: the code ran past the {self._call_timeout:g} s limit.]"
        notes = [f"[image shown to the user as {file_id}]" for file_id in images]
        notes += [f"[file saved for the user: sandbox:{path}]" for path in written]
        model_text = "\n".join([_clip(logs) or "(no output)", *notes])
        return _item(call_id, code, logs, images, written, arguments, model_text)

    async def input_files(self, run: Mapping[Any, Any]) -> list[InputFile]:
        """The run's code_interpreter files (see `store.tool_resources`) at /mnt/data."""
        async with self._db.read() as conn:
            rows = await tool_resources.code_interpreter_files(conn, run)
        inputs: list[InputFile] = []
        names: set[str] = set()
        for row in rows:
            name = row["filename"]
            if name in names:  # two files of the same name: the later one is told apart
                name = f"{row['id']}-{name}"
            names.add(name)
            inputs.append(InputFile(name=name, source=self._blobs.path_of(row["blob_key"])))
        return inputs

    async def _save_outputs(self, run: Mapping[Any, Any], new_files: list[Any]) -> dict[str, str]:
        """Files the code wrote under /mnt/data, saved as Files: path -> file id."""
        saved: dict[str, str] = {}
        for output in new_files:
            try:
                data = await self._sessions.read_output(
                    run["thread_id"], output.path, max_bytes=MAX_OUTPUT_FILE_BYTES
                )
            except SandboxError as exc:
                log.warning("run_id=%s could not read %s: %s", run["id"], output.path, exc)
                continue
            saved[output.path] = await self._save(
                run["project_id"], data, output.name.rsplit("/", 1)[-1]
            )
        return saved

    async def _save(self, project_id: str, data: bytes, filename: str) -> str:
        return await save_bytes(
            self._db,
            self._blobs,
            project_id=project_id,
            data=data,
            filename=filename,
            purpose=OUTPUT_PURPOSE,
            now=self._clock(),
            limit=MAX_OUTPUT_FILE_BYTES,
        )


def _clip(logs: str) -> str:
    if len(logs) <= MODEL_LOG_CHARS:
        return logs
    half = MODEL_LOG_CHARS // 2
    return (
        logs[:half] + f"\n[... {len(logs) - MODEL_LOG_CHARS} characters cut ...]\n" + logs[-half:]
    )


def _item(
    call_id: str,
    code: str,
    logs: str,
    images: list[str],
    written: dict[str, str],
    arguments: str,
    model_text: str,
) -> StoredCall:
    """The stored tool-call item; `_model`, `_files` and `_images` are for the engine only.
    The code's output may hold any character: NULs become U+FFFD (as in the streamed logs)."""
    logs, model_text = storable(logs), storable(model_text)
    outputs: list[CodeInterpreterLogs | CodeInterpreterImage] = (
        [CodeInterpreterLogs(logs=logs)] if logs else []
    )
    outputs += [CodeInterpreterImage(image=ImageRef(file_id=file_id)) for file_id in images]
    call = CodeInterpreterToolCall(
        id=call_id, code_interpreter=CodeInterpreter(input=code, outputs=outputs)
    )
    return stored_tool_call(
        call,
        model={"name": NAME, "arguments": arguments or "{}", "output": model_text},
        files=written,
        images=images,
    )


def _log_stream(call: ToolCall) -> Callable[[str], None]:
    """Streams the call's output as it comes, as `logs` deltas of one output (index 0): the
    SDK concatenates the fragments."""
    started = False

    def publish(fragment: str) -> None:
        nonlocal started
        if not fragment:
            return
        output = CodeInterpreterOutputDelta(index=0, logs=fragment)
        if not started:
            output = CodeInterpreterOutputDelta(index=0, type="logs", logs=fragment)
            started = True
        call.progress(
            CodeInterpreterToolCallDelta(
                index=call.index, code_interpreter=CodeInterpreterDelta(outputs=[output])
            )
        )

    return publish
