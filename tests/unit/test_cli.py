"""Small pure parts of the CLI and settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistantd.cli import is_loopback
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
