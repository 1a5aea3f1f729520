"""Small pure parts of the CLI and settings."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from assistantd.self_upstream import is_loopback, points_at_self, self_upstream_problem
from assistantd.settings import load_settings
from assistantd.store.database import async_url, sync_url


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.5.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.4", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_database_urls() -> None:
    assert async_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert async_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert async_url("sqlite:////tmp/x.db") == "sqlite+aiosqlite:////tmp/x.db"
    assert sync_url("sqlite+aiosqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert sync_url("postgresql+asyncpg://u@h/db") == "postgresql+psycopg://u@h/db"


def test_settings_defaults_env_and_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ASSISTANTD_PORT", "ASSISTANTD_HOST", "ASSISTANTD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    defaults = load_settings()
    assert (defaults.host, defaults.port) == ("127.0.0.1", 8000)
    assert defaults.resolved_database_url.startswith("sqlite+aiosqlite:///")
    assert defaults.resolved_database_url.endswith(".assistantd/assistantd.sqlite3")

    config = tmp_path / "assistantd.toml"
    config.write_text("port = 9001\nrate_limit_per_minute = 5\n")
    monkeypatch.setenv("ASSISTANTD_CONFIG", str(config))
    monkeypatch.setenv("ASSISTANTD_HOST", "127.0.0.2")
    settings = load_settings()
    assert (settings.host, settings.port, settings.rate_limit_per_minute) == ("127.0.0.2", 9001, 5)
    assert load_settings(port=9002).port == 9002, "explicit options win over env and file"


@pytest.mark.parametrize(
    ("url", "host", "port", "expected"),
    [
        ("http://127.0.0.1:8000/v1", "127.0.0.1", 8000, True),
        ("http://localhost:8000/v1", "127.0.0.1", 8000, True),
        ("http://127.0.0.1:8000/v1", "localhost", 8000, True),
        ("http://0.0.0.0:8000/v1", "127.0.0.1", 8000, True),  # connecting to 0.0.0.0 is local
        ("http://127.0.0.1:8000/v1", "0.0.0.0", 8000, True),
        ("http://[::1]:8000/v1", "::", 8000, True),
        ("http://127.0.0.1/v1", "127.0.0.1", 80, True),  # the scheme's default port
        ("https://127.0.0.1/v1", "127.0.0.1", 443, True),
        ("http://127.0.0.1:8001/v1", "127.0.0.1", 8000, False),  # another port: the model
        ("http://127.0.0.2:8000/v1", "127.0.0.1", 8000, False),  # another loopback address
        ("http://[::1]:8000/v1", "127.0.0.1", 8000, False),  # we listen on IPv4 only
        ("http://[::1]:8000/v1", "0.0.0.0", 8000, False),
        ("http://192.0.2.7:8000/v1", "0.0.0.0", 8000, False),  # not an address of this host
        ("http://no-such-host.invalid:8000/v1", "0.0.0.0", 8000, False),
        ("http://127.0.0.1:8000/v1", "127.0.0.1", 0, False),  # a random port is never reused
        ("not a url", "127.0.0.1", 8000, False),
    ],
)
def test_points_at_self(url: str, host: str, port: int, expected: bool) -> None:
    assert points_at_self(url, host, port) is expected


def test_an_address_of_this_host_on_a_wildcard_bind_is_self() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # sends nothing: this only picks a local address
        except OSError:
            pytest.skip("no IPv4 route: this machine has no non-loopback address to try")
        local = probe.getsockname()[0]
    assert points_at_self(f"http://{local}:8000/v1", "0.0.0.0", 8000)
    assert not points_at_self(f"http://{local}:8000/v1", "127.0.0.1", 8000)


def test_self_upstream_problem_names_the_source_and_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ASSISTANTD_UPSTREAM_BASE_URL", "ASSISTANTD_CONFIG", "ASSISTANTD_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    environ = {"OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"}
    assert self_upstream_problem(settings, environ, "127.0.0.1", 8000) == (
        "OPENAI_BASE_URL points at this server itself (http://127.0.0.1:8000/v1): the server "
        "would call itself for every run. Unset it in this shell (unset OPENAI_BASE_URL) or "
        "set ASSISTANTD_UPSTREAM_BASE_URL to your model's URL."
    )
    assert self_upstream_problem(settings, environ, "127.0.0.1", 8001) is None

    # ASSISTANTD_UPSTREAM_BASE_URL wins over OPENAI_BASE_URL, as in routing.
    elsewhere = load_settings(upstream_base_url="http://127.0.0.1:9999/v1")
    assert self_upstream_problem(elsewhere, environ, "127.0.0.1", 8000) is None
    itself = load_settings(upstream_base_url="http://localhost:8000/v1")
    problem = self_upstream_problem(itself, {}, "127.0.0.1", 8000)
    assert problem is not None
    assert problem.startswith("ASSISTANTD_UPSTREAM_BASE_URL points at this server itself")

    routed = load_settings(
        upstream_base_url="http://127.0.0.1:9999/v1",
        models={"local": {"base_url": "http://127.0.0.1:8000/v1"}},
    )
    problem = self_upstream_problem(routed, {}, "127.0.0.1", 8000)
    assert problem is not None
    assert problem.startswith('[models."local"] base_url points at this server itself')

    embeddings = load_settings(embedding_base_url="http://127.0.0.1:8000/v1")
    problem = self_upstream_problem(embeddings, {}, "127.0.0.1", 8000)
    assert problem is not None
    assert "would call itself for every embedding" in problem
