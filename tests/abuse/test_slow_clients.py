"""Slow and idle clients: headers, bodies and idle keep-alive connections are bounded in time,
the connection cap answers 503, and none of it slows other clients or cuts a long stream.

The server runs with one-second limits; raw sockets play the slow clients."""

from __future__ import annotations

import json
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import upstream_env
from tests.support.server import ServerProcess
from tests.support.upstream import ScriptedUpstream, Text

LIMIT_SECONDS = 1.0
# Generous: the server checks its deadlines on time, but 2 cores are shared with 160 sockets.
CLOSE_WITHIN = LIMIT_SECONDS + 4.0
GIVE_UP_AFTER = 12.0  # a connection still open by then was never going to be closed
SLOW = 40  # connections of each kind
BOUNDARY = "slowboundary"


def limits_env(**more: str) -> dict[str, str]:
    return {
        "ASSISTANTD_HEADER_TIMEOUT_SECONDS": str(LIMIT_SECONDS),
        "ASSISTANTD_BODY_TIMEOUT_SECONDS": str(LIMIT_SECONDS),
        "ASSISTANTD_BODY_MIN_BYTES_PER_SECOND": "1024",
        "ASSISTANTD_KEEPALIVE_SECONDS": str(int(LIMIT_SECONDS)),
        "ASSISTANTD_STREAM_KEEPALIVE_SECONDS": "60",  # a silent stream stays silent
        **more,
    }


@pytest.fixture(scope="module")
def limited(
    tmp_path_factory: pytest.TempPathFactory, upstream: ScriptedUpstream
) -> Iterator[ServerProcess]:
    server = ServerProcess(
        data_dir=tmp_path_factory.mktemp("slow-clients"),
        env={**upstream_env(upstream), **limits_env()},
    )
    server.start()
    yield server
    server.stop()


@dataclass
class SlowClient:
    """One raw connection that sends `opening` and then one byte of `trickle` per `pace`
    seconds, until the server closes it (or `GIVE_UP_AFTER`)."""

    port: int
    opening: bytes
    trickle: bytes = b""
    pace: float = 0.2
    received: bytearray = field(default_factory=bytearray)
    closed_after: float | None = None

    def run(self, started: threading.Barrier) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=GIVE_UP_AFTER) as sock:
            started.wait()
            begin = time.monotonic()
            sock.settimeout(self.pace)
            try:
                if self.opening:
                    sock.sendall(self.opening)
                sent = 0
                while time.monotonic() - begin < GIVE_UP_AFTER:
                    try:
                        chunk = sock.recv(65536)
                    except TimeoutError:
                        chunk = None
                    if chunk == b"":
                        self.closed_after = time.monotonic() - begin
                        return
                    if chunk:
                        self.received += chunk
                    if self.trickle:
                        at = sent % len(self.trickle)
                        sock.send(self.trickle[at : at + 1])
                        sent += 1
            except (BrokenPipeError, ConnectionResetError):
                self.closed_after = time.monotonic() - begin


def upload_head(port: int, length: int) -> bytes:
    return (
        f"POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def multipart(content: bytes) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="slow.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def status_and_error(raw: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = bytes(raw).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)["error"]


@pytest.mark.slow
def test_slow_and_idle_connections_are_closed_while_others_are_served(
    limited: ServerProcess, model: ScriptedUpstream
) -> None:
    port = limited.port
    headers_trickle = [
        SlowClient(port, b"GET /v1/models HTTP/1.1\r\n", trickle=b"X-Slow: aaaaaaaaaaaaaaaaa\r\n")
        for _ in range(SLOW)
    ]
    silent = [SlowClient(port, b"") for _ in range(SLOW)]
    body_trickle = [
        SlowClient(port, upload_head(port, 1_000_000) + multipart(b"x")[:-20], trickle=b"y")
        for _ in range(SLOW)
    ]
    idle = [
        SlowClient(port, f"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        for _ in range(SLOW)
    ]
    slow = headers_trickle + silent + body_trickle + idle
    barrier = threading.Barrier(len(slow) + 1)
    threads = [threading.Thread(target=client.run, args=(barrier,)) for client in slow]
    for thread in threads:
        thread.start()

    # Meanwhile: a stream that stays silent for longer than every limit, and a normal client.
    model.push(Text("still here after the silence", delay=3 * LIMIT_SECONDS, chunk_delay=0.05))
    stream_result: dict[str, object] = {}
    stream_thread = threading.Thread(target=_stream_run, args=(limited, stream_result))
    barrier.wait()
    stream_thread.start()
    latencies = []
    with httpx.Client(base_url=limited.base_url, timeout=30) as http:
        until = time.monotonic() + 3 * LIMIT_SECONDS + 1
        while time.monotonic() < until:
            begin = time.perf_counter()
            response = http.post("/assistants", json={"model": "gpt-4o", "name": "normal"})
            latencies.append(time.perf_counter() - begin)
            assert response.status_code == 200, response.text
    for thread in [*threads, stream_thread]:
        thread.join(GIVE_UP_AFTER + 5)

    print(
        f"normal client during the slow clients: {len(latencies)} requests, "
        f"p50 {statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )
    assert max(latencies) < 5.0, "other clients stay served"
    for group in (headers_trickle, silent, body_trickle, idle):
        times = [client.closed_after for client in group]
        assert all(t is not None and t < CLOSE_WITHIN for t in times), times
    for client in headers_trickle + body_trickle:
        status, error = status_and_error(client.received)
        assert status == 408
        assert error["type"] == "invalid_request_error"
        assert error["code"] == "request_timeout"
    for client in silent:  # no request, nothing to answer
        assert client.received == b""
    for client in idle:  # it got its answer, then was closed for idling
        assert bytes(client.received).startswith(b"HTTP/1.1 200 OK")
        # One response only: no 408 after it. (Not `b"408" not in`: a request id or the
        # date can contain those digits.)
        assert client.received.count(b"HTTP/1.1 ") == 1, bytes(client.received)
    assert stream_result.get("events", [])[-2:] == ["thread.run.completed", "done"], stream_result
    assert stream_result["text"] == "still here after the silence"
    log = limited.log()
    assert "connection limits: " in log
    assert "Traceback" not in log, "closing slow clients is not an error"


def _stream_run(server: ServerProcess, result: dict[str, object]) -> None:
    events: list[str] = []
    text = []
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        assistant = http.post("/assistants", json={"model": "gpt-4o"}).json()
        body = {
            "assistant_id": assistant["id"],
            "thread": {"messages": [{"role": "user", "content": "hi"}]},
            "stream": True,
        }
        with http.stream("POST", "/threads/runs", json=body) as response:
            for line in response.iter_lines():
                if line.startswith("event: "):
                    events.append(line.removeprefix("event: "))
                elif line.startswith("data: {") and events[-1] == "thread.message.delta":
                    delta = json.loads(line.removeprefix("data: "))["delta"]
                    text.extend(part["text"]["value"] for part in delta["content"])
    result["events"] = events
    result["text"] = "".join(text)


def test_a_slow_but_steady_upload_is_not_cut(limited: ServerProcess) -> None:
    """About 2.7 KB/s for 3 s, longer than every limit: above the minimum rate, no long pause."""
    content = b"steady " * 1000
    body = multipart(content)
    with socket.create_connection(("127.0.0.1", limited.port), timeout=10) as sock:
        sock.sendall(upload_head(limited.port, len(body)))
        pieces = [body[i : i + 400] for i in range(0, len(body), 400)]
        for piece in pieces:
            time.sleep(3 * LIMIT_SECONDS / len(pieces))
            sock.sendall(piece)
        answer = _read_response(sock)
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer[:300]
    assert json.loads(payload)["bytes"] == len(content)


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_connections_past_the_cap_get_503(tmp_path: Path) -> None:
    server = ServerProcess(
        data_dir=tmp_path,
        env={"ASSISTANTD_MAX_CONNECTIONS": "4", "ASSISTANTD_EMBEDDED_MODEL": "false"},
    ).start()
    held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(4)]
    try:
        time.sleep(0.3)  # the server has accepted them
        response = httpx.get(f"{server.base_url}/models", timeout=10)
        assert response.status_code == 503
        assert response.headers["connection"] == "close"
        assert response.json()["error"]["code"] == "service_unavailable"
        for sock in held[:2]:
            sock.close()
        time.sleep(0.3)
        assert httpx.get(f"{server.base_url}/models", timeout=10).status_code == 200
    finally:
        for sock in held:
            sock.close()
        server.stop()
