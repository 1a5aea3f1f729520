"""The start-up banner of a real `assistantd serve`: where to point the SDK, the data and the
database, which route the default model takes and where that came from (above all an
OPENAI_API_KEY left in the environment), code_interpreter, and the auth mode.

Every server here gets an explicit environment: ServerProcess drops the ASSISTANTD_* and
OPENAI_* variables of whoever runs the tests."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from assistantd import __version__
from tests.support.postgres import PostgresCluster
from tests.support.server import ServerProcess

READY = f"assistantd {__version__} is ready\n"
EMBEDDED = "embedded model smollm2-135m-instruct (local, no network)"
OPENAI_API_KEY_WARNING = (
    "! OPENAI_API_KEY is set in this environment and no base URL is configured, so every run "
    "goes to OpenAI (https://api.openai.com/v1) and is billed to that key. To use the embedded "
    "model instead, unset OPENAI_API_KEY in this shell; to use another model server, set "
    "ASSISTANTD_UPSTREAM_BASE_URL."
)
NOWHERE = "http://127.0.0.1:9/v1"  # never called: these servers run nothing


def row(label: str, value: str) -> str:
    return f"  {label:<18}{value}"


def flat(text: str) -> str:
    """Wrapped lines joined again, to find a sentence whatever the wrapping."""
    return " ".join(text.split())


def banner_of(server: ServerProcess, timeout: float = 30.0) -> str:
    """The banner block (it may be written just after the first request is answered)."""
    deadline = time.monotonic() + timeout
    while True:
        output = server.output()
        start = output.find(READY)
        end = output.find("\n\n", start)
        if start >= 0 and end >= 0:
            return output[start : end + 1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no complete banner in the server's output:\n{output[-5000:]}")
        time.sleep(0.05)


def health(server: ServerProcess) -> dict[str, object]:
    response = httpx.get(f"{server.base_url}/health", timeout=10)
    body: dict[str, object] = response.json()
    return body


def check_common(server: ServerProcess, banner: str) -> None:
    """What every banner says the same way: the URL, the client's variables, the data dir, and
    code_interpreter as `GET /v1/health` reports it."""
    url = f"http://127.0.0.1:{server.port}/v1"
    lines = banner.splitlines()
    assert lines[0] == f"assistantd {__version__} is ready"
    assert lines[1] == row("SDK base URL", url)
    assert lines[2] == row("Listening on", f"127.0.0.1:{server.port} (this machine only)")
    assert lines[3] == row("Client shell", f"export OPENAI_BASE_URL={url}")
    assert (
        "Not in the shell that starts the server: there OPENAI_BASE_URL makes it refuse to "
        "start (its own address as upstream) and OPENAI_API_KEY alone sends runs to OpenAI."
    ) in flat(banner)
    assert row("Data directory", str(server.data_dir.resolve())) in lines
    ci = health(server)["code_interpreter"]
    assert isinstance(ci, dict)
    if ci["available"]:
        assert row("code_interpreter", "available") in lines
    else:
        assert f"code_interpreter unavailable (runs using it fail): {ci['reason']}" in flat(banner)


@pytest.fixture
def started() -> Iterator[list[ServerProcess]]:
    servers: list[ServerProcess] = []
    yield servers
    for server in servers:
        server.stop()


def start(started: list[ServerProcess], server: ServerProcess, *extra: str) -> str:
    started.append(server)
    server.start(*extra)
    banner = banner_of(server)
    check_common(server, banner)
    return banner


def test_no_upstream_variables_name_the_embedded_model_and_open_mode_works_as_printed(
    tmp_path: Path, started: list[ServerProcess]
) -> None:
    server = ServerProcess(data_dir=tmp_path / "data")
    banner = start(started, server)
    lines = banner.splitlines()
    assert lines[4] == row(
        "", "export OPENAI_API_KEY=sk-local  # open mode: any non-empty key works"
    )
    assert (
        row("Database", f"SQLite file {(tmp_path / 'data').resolve()}/assistantd.sqlite3") in lines
    )
    assert row("Default model", EMBEDDED) in lines
    assert "Other models" not in banner
    assert flat(banner).endswith(
        "Auth open (no API keys; loopback only); to require keys: assistantd keys create "
        "--project NAME"
    )
    # The summary for log collectors: one INFO line.
    summary = [line for line in server.output().splitlines() if " assistantd ready at " in line]
    assert len(summary) == 1, server.output()
    assert " INFO assistantd ready at http://127.0.0.1:" in summary[0]
    assert f"; default model {EMBEDDED};" in summary[0]
    # What the banner tells a client to export works.
    base_url = re.search(r"export OPENAI_BASE_URL=(\S+)", banner)
    key = re.search(r"export OPENAI_API_KEY=(\S+)", banner)
    assert base_url
    assert key
    client = openai.OpenAI(base_url=base_url.group(1), api_key=key.group(1), max_retries=0)
    assert client.beta.assistants.list().data == []


def test_assistantd_upstream_base_url_and_extra_routes(
    tmp_path: Path, started: list[ServerProcess]
) -> None:
    config = tmp_path / "assistantd.toml"
    config.write_text(
        f'[models."fast"]\nbase_url = "{NOWHERE}"\n\n[models."local"]\nprovider = "embedded"\n'
    )
    secret = "sk-upstream-secret-b7f3"
    server = ServerProcess(
        data_dir=tmp_path / "data",
        env={
            "ASSISTANTD_UPSTREAM_BASE_URL": NOWHERE,
            "ASSISTANTD_UPSTREAM_API_KEY": secret,
            "ASSISTANTD_CONFIG": str(config),
        },
    )
    banner = start(started, server)
    lines = banner.splitlines()
    assert (
        row(
            "Default model",
            f"upstream {NOWHERE} (from ASSISTANTD_UPSTREAM_BASE_URL), API key from "
            "ASSISTANTD_UPSTREAM_API_KEY",
        )
        in lines
    )
    assert "!" not in banner, "nothing to warn about: both came from assistantd's own settings"
    assert row("Other models", "2 routes in [models]: fast, local") in lines
    assert secret not in server.output()


def test_only_openai_api_key_sends_runs_to_openai_and_says_so(
    tmp_path: Path, started: list[ServerProcess]
) -> None:
    secret = "sk-ambient-secret-9d2e"
    server = ServerProcess(data_dir=tmp_path / "data", env={"OPENAI_API_KEY": secret})
    banner = start(started, server)
    assert row("Default model", "upstream https://api.openai.com/v1 (from OPENAI_API_KEY)") in (
        banner.splitlines()
    )
    assert OPENAI_API_KEY_WARNING in flat(banner)
    assert secret not in server.output()


def test_openai_base_url_is_named_as_the_source(
    tmp_path: Path, started: list[ServerProcess]
) -> None:
    secret = "sk-client-secret-41aa"
    server = ServerProcess(
        data_dir=tmp_path / "data", env={"OPENAI_BASE_URL": NOWHERE, "OPENAI_API_KEY": secret}
    )
    banner = start(started, server)
    assert (
        row(
            "Default model",
            f"upstream {NOWHERE} (from OPENAI_BASE_URL), API key from OPENAI_API_KEY",
        )
        in banner.splitlines()
    )
    assert (
        "! The upstream comes from OPENAI_BASE_URL in this environment (an OpenAI SDK variable). "
        "Set ASSISTANTD_UPSTREAM_BASE_URL to choose it explicitly."
    ) in flat(banner)
    assert (
        "! The upstream's API key comes from OPENAI_API_KEY in this environment (set "
        "ASSISTANTD_UPSTREAM_API_KEY to choose it explicitly)."
    ) in flat(banner)
    assert secret not in server.output()


def test_code_interpreter_unavailable_gives_the_reason_and_log_level_applies(
    tmp_path: Path, started: list[ServerProcess]
) -> None:
    missing = tmp_path / "no-sandbox" / "python"
    server = ServerProcess(
        data_dir=tmp_path / "data", env={"ASSISTANTD_SANDBOX_PYTHON": str(missing)}
    )
    banner = start(started, server, "--log-level", "WARNING")
    reason = (
        f"the sandbox Python {missing.absolute()} does not exist "
        "(run `assistantd sandbox install` to create it)"
    )
    assert health(server)["code_interpreter"] == {"available": False, "reason": reason}
    assert f"code_interpreter unavailable (runs using it fail): {reason}" in flat(banner)
    # --log-level WARNING: the probe's warning is logged, no INFO line is, the banner still is.
    output = server.output()
    assert " WARNING assistantd code_interpreter unavailable" in output
    assert "INFO" not in output, output


def test_keys_created_before_start_mean_keys_required(
    tmp_path: Path, started: list[ServerProcess]
) -> None:
    server = ServerProcess(data_dir=tmp_path / "data")
    secrets = []
    for name in ("first", "second"):
        created = server.cli("keys", "create", "--project", "banner", "--name", name)
        assert created.returncode == 0, created.stderr
        found = re.search(r"secret:\s+(\S+)", created.stdout)
        assert found, created.stdout
        secrets.append(found.group(1))
    listed = server.cli("keys", "list")
    revoked_id = listed.stdout.splitlines()[1].split("\t")[0]
    assert server.cli("keys", "revoke", revoked_id).returncode == 0

    banner = start(started, server)
    lines = banner.splitlines()
    assert lines[4] == row(
        "",
        "export OPENAI_API_KEY=<your key>  # create one with assistantd keys create --project NAME",
    )
    assert lines[-1] == row("Auth", "keys required (1 active key)")
    assert not any(secret in server.output() for secret in secrets)
    client = openai.OpenAI(base_url=server.base_url, api_key=secrets[0], max_retries=0)
    assert client.beta.assistants.list().data == []


def test_wildcard_bind_shows_loopback_for_local_use(
    tmp_path: Path, started: list[ServerProcess]
) -> None:
    server = ServerProcess(data_dir=tmp_path / "data", host="0.0.0.0")
    started.append(server)
    server.start("--insecure-no-auth")
    lines = banner_of(server).splitlines()
    assert lines[1] == row("SDK base URL", f"http://127.0.0.1:{server.port}/v1")
    assert lines[2] == row(
        "Listening on",
        f"0.0.0.0:{server.port} (all IPv4 interfaces; from another machine use this host's "
        "address)",
    )
    assert flat("\n".join(lines)).endswith(
        "Auth open (no API keys; reachable from other machines (--insecure-no-auth): anyone may "
        "call); to require keys: assistantd keys create --project NAME"
    )


def test_postgresql_password_is_masked(
    tmp_path: Path, started: list[ServerProcess], postgres: PostgresCluster
) -> None:
    url = postgres.new_database()
    user, _, rest = url.partition("://")[2].partition("@")
    name, _, password = user.partition(":")
    if not password:
        # The test cluster trusts local connections: a password is accepted and ignored.
        password = "pg-secret-pw-7c1d"
        url = url.replace(f"://{user}@", f"://{name}:{password}@", 1)
    server = ServerProcess(data_dir=tmp_path / "data", database_url=url)
    banner = start(started, server)
    scheme = url.partition("://")[0]
    assert row("Database", f"PostgreSQL {scheme}://{name}:***@{rest}") in banner.splitlines()
    assert password not in server.output()
