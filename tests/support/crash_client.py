"""The client side of the crash test: SDK calls that survive a server being killed, and a
ledger of what the server accepted.

A GET is simply retried (on the next server of the fleet). A POST whose answer was lost may have
been committed just before the kill, so before it is sent again the client looks for its effect
(by listing); only then does it retry. Every run and message is tagged, so that look-up is exact.
"""

from __future__ import annotations

import importlib
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import openai
from openai.types.beta.threads import Run
from openai.types.beta.threads.run_submit_tool_outputs_params import ToolOutput

from tests.support.chaos import FUNCTION, tag_text, tool_output

T = TypeVar("T")


def _sdk_http_library() -> Any:
    """The HTTP library the installed SDK is built on (httpx; its fork httpx2 in SDK 3.x):
    its transport errors surface raw while a stream is read."""
    base = next(c for c in openai.DefaultHttpxClient.__mro__[1:] if c.__name__ == "Client")
    return importlib.import_module(base.__module__.split(".")[0])


SDK_HTTP = _sdk_http_library()

KINDS = ("poll", "stream", "fn", "stream_fn", "create_and_run")
STREAM_SILENCE = 20.0  # seconds; a live stream of this workload is never silent that long
TERMINAL = frozenset({"completed", "failed", "cancelled", "expired", "incomplete"})
SILENCE = (openai.APITimeoutError, httpx.TimeoutException, SDK_HTTP.TimeoutException)
# What a kill looks like from the client: a refused or reset connection, a cut body, or a 5xx.
LOST = (
    openai.APIConnectionError,
    openai.InternalServerError,
    httpx.TransportError,
    SDK_HTTP.TransportError,
)


class GaveUp(Exception):
    """The fleet did not answer before the test's deadline."""


@dataclass
class Task:
    """One run the client tried to get done, and what the server accepted for it."""

    kind: str
    tag: str
    thread_id: str | None = None
    run_id: str | None = None
    messages: list[str] = field(default_factory=list)  # accepted user message ids
    outputs: list[str] = field(default_factory=list)  # tool outputs the server accepted
    required: list[list[tuple[str, str, str]]] = field(default_factory=list)
    final: Run | None = None
    stream_cuts: int = 0
    silent_streams: list[str] = field(default_factory=list)  # the run's status when it happened
    lost: list[str] = field(default_factory=list)  # POSTs accepted, answer lost
    problem: str | None = None


class Api:
    """One client thread's connection to the fleet: on a lost request it moves to the next
    server, pausing briefly, until `deadline`."""

    def __init__(self, urls: list[str], deadline: float) -> None:
        self.clients = [
            openai.OpenAI(base_url=url, api_key="sk-test", max_retries=0, timeout=STREAM_SILENCE)
            for url in urls
        ]
        self.index = 0
        self.deadline = deadline
        self.losses = 0

    @property
    def client(self) -> openai.OpenAI:
        return self.clients[self.index]

    def lost(self, exc: Exception) -> None:
        self.losses += 1
        if time.monotonic() > self.deadline:
            raise GaveUp(f"no server answered before the deadline: {exc!r}") from exc
        self.index = (self.index + 1) % len(self.clients)
        time.sleep(0.2)

    def get(self, op: Callable[[openai.OpenAI], T]) -> T:
        while True:
            try:
                return op(self.client)
            except LOST as exc:
                self.lost(exc)

    def post(
        self,
        op: Callable[[openai.OpenAI], T],
        check: Callable[[openai.OpenAI], T | None],
        task: Task,
        what: str,
    ) -> T:
        """Send a write; if its answer is lost, `check` finds its effect or it is sent again."""
        while True:
            try:
                return op(self.client)
            except LOST as exc:
                self.lost(exc)
            found = self.get(check)
            if found is not None:
                task.lost.append(what)
                return found


def find_thread(client: openai.OpenAI, tag: str) -> Any:
    """The thread tagged `tag` (GET /threads with a metadata filter), or None."""
    page = client.get(
        "/threads", cast_to=SDK_HTTP.Response, options={"params": {"metadata[tag]": tag}}
    )
    data = page.json()["data"]
    return client.beta.threads.retrieve(data[0]["id"]) if data else None


def only_run(client: openai.OpenAI, thread_id: str) -> Run | None:
    runs = client.beta.threads.runs.list(thread_id).data
    return runs[0] if runs else None


def user_message(client: openai.OpenAI, thread_id: str, marker: str) -> Any:
    for message in client.beta.threads.messages.list(thread_id, order="asc", limit=100).data:
        if message.role == "user" and marker in message.content[0].text.value:  # type: ignore[union-attr]
            return message
    return None


def run_of_tagged_thread(client: openai.OpenAI, tag: str) -> Run | None:
    thread = find_thread(client, tag)
    return None if thread is None else only_run(client, thread.id)


class Workload:
    """Client threads, each doing one task after another (kind chosen at random) until told to
    stop; all tasks are kept for the checks."""

    def __init__(self, urls: list[str], assistant_id: str, seed: int, deadline: float) -> None:
        self.urls = urls
        self.assistant_id = assistant_id
        self.seed = seed
        self.deadline = deadline
        self.stop = threading.Event()
        self.tasks: list[Task] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.apis: list[Api] = []

    def start(self, clients: int) -> None:
        for n in range(clients):
            api = Api(self.urls, self.deadline)
            api.index = n % len(self.urls)
            self.apis.append(api)
            thread = threading.Thread(
                target=self._loop, args=(api, random.Random(self.seed * 100 + n)), daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def set_deadline(self, deadline: float) -> None:
        self.deadline = deadline
        for api in self.apis:
            api.deadline = deadline

    def join(self) -> list[str]:
        """Wait for every client thread; the names of those still stuck at the deadline."""
        self.stop.set()
        for thread in self._threads:
            thread.join(max(0.0, self.deadline - time.monotonic()) + 5)
        return [t.name for t in self._threads if t.is_alive()]

    def _loop(self, api: Api, rng: random.Random) -> None:
        while not self.stop.is_set():
            kind = rng.choice(KINDS)
            task = Task(kind=kind, tag=tag_text(kind, secrets.token_hex(5)))
            with self._lock:
                self.tasks.append(task)
            try:
                self._do(api, task)
            except GaveUp as exc:
                task.problem = str(exc)
                return
            except Exception as exc:  # noqa: BLE001  # recorded: a dead client thread would hide it
                task.problem = f"{type(exc).__name__}: {exc}"

    # --- one task -----------------------------------------------------------------------------

    def _do(self, api: Api, task: Task) -> None:
        if task.kind == "create_and_run":
            self._create_and_run(api, task)
        else:
            self._thread_with_messages(api, task)
            if task.kind.startswith("stream"):
                self._stream(api, task)
            else:
                run = api.post(
                    lambda c: c.beta.threads.runs.create(
                        task.thread_id or "", assistant_id=self.assistant_id
                    ),
                    lambda c: only_run(c, task.thread_id or ""),
                    task,
                    "runs.create",
                )
                task.run_id = run.id
        task.final = self._finish(api, task)

    def _thread_with_messages(self, api: Api, task: Task) -> None:
        tag = task.tag
        thread = api.post(
            lambda c: c.beta.threads.create(
                messages=[{"role": "user", "content": f"{tag} part one"}], metadata={"tag": tag}
            ),
            lambda c: find_thread(c, tag),
            task,
            "threads.create",
        )
        task.thread_id = thread.id
        first = api.get(lambda c: user_message(c, thread.id, "part one"))
        task.messages.append(first.id)
        second = api.post(
            lambda c: c.beta.threads.messages.create(
                thread.id, role="user", content=f"{tag} part two"
            ),
            lambda c: user_message(c, thread.id, "part two"),
            task,
            "messages.create",
        )
        task.messages.append(second.id)

    def _create_and_run(self, api: Api, task: Task) -> None:
        tag = task.tag
        run = api.post(
            lambda c: c.beta.threads.create_and_run(
                assistant_id=self.assistant_id,
                thread={
                    "messages": [{"role": "user", "content": f"{tag} all in one"}],
                    "metadata": {"tag": tag},
                },
            ),
            lambda c: run_of_tagged_thread(c, tag),
            task,
            "threads.create_and_run",
        )
        task.thread_id, task.run_id = run.thread_id, run.id
        message = api.get(lambda c: user_message(c, run.thread_id, "all in one"))
        task.messages.append(message.id)

    def _stream(self, api: Api, task: Task) -> None:
        """Create the run as a stream and follow it; a kill cuts the stream, which is expected:
        the run is then followed by polling. A cut before the run was announced is a POST whose
        answer was lost."""
        thread_id = task.thread_id or ""
        while task.run_id is None:
            last = self._follow(
                api,
                task,
                lambda c: c.beta.threads.runs.stream(
                    thread_id=thread_id, assistant_id=self.assistant_id
                ),
            )
            if task.run_id is None:
                found = api.get(lambda c: only_run(c, thread_id))
                if found is not None:
                    task.lost.append("runs.stream")
                    task.run_id = found.id
            if last is not None and last.status == "requires_action":
                self._submit(api, task, last, stream=True)

    def _follow(self, api: Api, task: Task, open_stream: Callable[[openai.OpenAI], Any]) -> Any:
        """Read a stream to its end or its cut; the last run object it showed."""
        last = None
        try:
            with open_stream(api.client) as stream:
                for event in stream:
                    if event.event == "thread.run.created":
                        task.run_id = event.data.id
                    if event.event.startswith("thread.run.") and hasattr(event.data, "status"):
                        if event.event.startswith("thread.run.step."):
                            continue
                        last = event.data
        except openai.APIStatusError as exc:
            if exc.status_code < 500:
                raise
            task.stream_cuts += 1
            api.lost(exc)
        except SILENCE:
            # Not a kill (that resets the connection): the server kept the stream open but
            # sent nothing, not even a keep-alive, which the servers here send far less often.
            thread_id, run_id = task.thread_id or "", task.run_id
            if run_id is None:
                task.silent_streams.append("not announced yet")
            else:
                run = api.get(lambda c: c.beta.threads.runs.retrieve(run_id, thread_id=thread_id))
                task.silent_streams.append(run.status)
        except LOST as exc:
            task.stream_cuts += 1
            api.lost(exc)
        except openai.APIError:
            pass  # the SDK raises on a failed run's `error` event; the poll shows the run
        return last

    def _finish(self, api: Api, task: Task) -> Run:
        """Poll the run to a terminal state, answering `requires_action` on the way."""
        thread_id, run_id = task.thread_id or "", task.run_id or ""
        while True:
            run = api.get(lambda c: c.beta.threads.runs.retrieve(run_id, thread_id=thread_id))
            if run.status in TERMINAL:
                return run
            if run.status == "requires_action":
                self._submit(api, task, run, stream=False)
                continue
            if time.monotonic() > self.deadline:
                raise GaveUp(f"run {run_id} still {run.status} at the deadline")
            time.sleep(0.1)

    def _submit(self, api: Api, task: Task, run: Run, *, stream: bool) -> None:
        assert run.required_action is not None
        calls = run.required_action.submit_tool_outputs.tool_calls
        task.required.append([(c.id, c.function.name, c.function.arguments) for c in calls])
        outputs: list[ToolOutput] = [
            {"tool_call_id": c.id, "output": tool_output(task.tag)}
            for c in calls
            if c.function.name == FUNCTION
        ]
        thread_id, run_id = task.thread_id or "", run.id

        def accepted(c: openai.OpenAI) -> Run | None:
            now = c.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
            return None if now.status == "requires_action" else now

        if stream:
            last = self._follow(
                api,
                task,
                lambda c: c.beta.threads.runs.submit_tool_outputs_stream(
                    run_id=run_id, thread_id=thread_id, tool_outputs=outputs
                ),
            )
            if last is not None or api.get(accepted) is not None:
                task.outputs += [o["output"] for o in outputs]
            return
        try:
            api.post(
                lambda c: c.beta.threads.runs.submit_tool_outputs(
                    run_id, thread_id=thread_id, tool_outputs=outputs
                ),
                accepted,
                task,
                "runs.submit_tool_outputs",
            )
        except openai.BadRequestError:
            # Accepted by a request whose answer was lost and then seen by nobody: the check
            # raced with the worker; the poll loop will show where the run is.
            if api.get(accepted) is None:
                raise
        task.outputs += [o["output"] for o in outputs]
