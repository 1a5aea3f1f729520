"""The code_interpreter tool as the engine runs it: offered to the model as a function taking
Python code, executed in the thread's sandbox session with the run's files at /mnt/data, and
recorded as a `code_interpreter` tool call with its logs and images (saved as files)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from sqlalchemy import select

from assistantd.engine.code_arguments import code_of
from assistantd.sandbox import (
    InputFile,
    SandboxBusy,
    SandboxError,
    SandboxUnavailable,
    SessionDied,
    SessionManager,
)
from assistantd.store.blobs import BlobStore
from assistantd.store.database import Database
from assistantd.store.tables import assistants, files, messages, threads
from assistantd.store.text import storable

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


class CodeInterpreterUnavailable(Exception):
    """The sandbox cannot run code here (no bubblewrap, no namespaces, all sessions busy)."""


class FileSaver(Protocol):
    """Stores bytes the code produced as a File of the project; returns its id."""

    def __call__(
        self, project_id: str, data: bytes, filename: str, purpose: str
    ) -> Awaitable[str]: ...


def enabled(tools: list[dict[str, Any]]) -> bool:
    return any(tool["type"] == NAME for tool in tools)


class CodeInterpreterRunner:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        sessions: SessionManager,
        save_file: FileSaver,
        *,
        call_timeout: float,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._sessions = sessions
        self._save_file = save_file
        self._call_timeout = call_timeout
        self.unavailable_reason: str | None = None  # set from the start-up probe

    async def run(
        self,
        run: Mapping[Any, Any],
        call_id: str,
        arguments: str,
        on_logs: Callable[[str], None],
    ) -> dict[str, Any]:
        """Execute the call in the thread's session; returns the stored tool-call item.
        Raises CodeInterpreterUnavailable when no session can run it."""
        if self.unavailable_reason is not None:
            raise CodeInterpreterUnavailable(self.unavailable_reason)
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
            raise CodeInterpreterUnavailable(str(exc)) from exc
        images = [
            await self._save_file(run["project_id"], png, f"{call_id}-{n}.png", OUTPUT_PURPOSE)
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
        """The run's code_interpreter files: tool_resources of the run (create-and-run) or the
        assistant, of the thread, and message attachments made for code_interpreter."""
        async with self._db.read() as conn:
            resources = (
                run["tool_resources"]
                or (
                    await conn.execute(
                        select(assistants.c.tool_resources).where(
                            assistants.c.id == run["assistant_id"]
                        )
                    )
                ).scalar()
            )
            thread = (
                await conn.execute(
                    select(threads.c.tool_resources).where(threads.c.id == run["thread_id"])
                )
            ).scalar()
            wanted: list[str] = []
            for source in (resources, thread):
                wanted += ((source or {}).get(NAME) or {}).get("file_ids", [])
            attached = await conn.execute(
                select(messages.c.attachments).where(messages.c.thread_id == run["thread_id"])
            )
            for (items,) in attached:
                wanted += [
                    a["file_id"] for a in items if any(t["type"] == NAME for t in a["tools"])
                ]
            wanted = list(dict.fromkeys(wanted))
            if not wanted:
                return []
            rows = (
                await conn.execute(
                    select(files.c.id, files.c.filename, files.c.blob_key).where(
                        files.c.project_id == run["project_id"], files.c.id.in_(wanted)
                    )
                )
            ).mappings()
            by_id = {row["id"]: row for row in rows}
        inputs: list[InputFile] = []
        names: set[str] = set()
        for file_id in wanted:
            row = by_id.get(file_id)
            if row is None:
                continue  # deleted since it was attached
            name = row["filename"]
            if name in names:  # two files of the same name: the later one is told apart
                name = f"{file_id}-{name}"
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
            saved[output.path] = await self._save_file(
                run["project_id"], data, output.name.rsplit("/", 1)[-1], OUTPUT_PURPOSE
            )
        return saved


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
) -> dict[str, Any]:
    """The stored tool-call item; `_model`, `_files` and `_images` are for the engine only.
    The code's output may hold any character: NULs become U+FFFD (as in the streamed logs)."""
    logs, model_text = storable(logs), storable(model_text)
    outputs: list[dict[str, Any]] = [{"type": "logs", "logs": logs}] if logs else []
    outputs += [{"type": "image", "image": {"file_id": file_id}} for file_id in images]
    return {
        "id": call_id,
        "type": NAME,
        NAME: {"input": code, "outputs": outputs},
        "_model": {"name": NAME, "arguments": arguments or "{}", "output": model_text},
        "_files": written,
        "_images": images,
    }


def not_run_item(call_id: str, arguments: str, output: str) -> dict[str, Any]:
    """A code_interpreter call the engine did not execute (another call was invalid)."""
    return _item(call_id, code_of(arguments), "", [], {}, arguments, output)
