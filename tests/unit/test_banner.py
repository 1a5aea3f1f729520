"""The start-up banner's text, from facts: binds, auth modes, routes and their sources, masking."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from assistantd.banner import (
    BannerFacts,
    Listener,
    banner_summary,
    banner_text,
    client_address,
    describe_database,
    mask_url,
)
from assistantd.providers.routing import DefaultUpstream, default_upstream
from assistantd.settings import load_settings

OPEN = BannerFacts(
    version="9.9.9",
    listeners=(Listener("127.0.0.1", 8000),),
    data_dir=Path("/srv/assistantd"),
    database_url="sqlite+aiosqlite:////srv/assistantd/assistantd.sqlite3",
    upstream=None,
    embedded_model="smollm2-135m-instruct",
    embedded_problem=None,
    extra_routes=(),
    code_interpreter_problem=None,
    keys_exist=False,
    active_keys=0,
)


def facts(**changes: object) -> BannerFacts:
    return dataclasses.replace(OPEN, **changes)  # type: ignore[arg-type]


def flat(text: str) -> str:
    return " ".join(text.split())


def test_the_whole_banner_in_open_mode_on_loopback() -> None:
    assert banner_text(OPEN) == (
        "\n"
        "assistantd 9.9.9 is ready\n"
        "  SDK base URL      http://127.0.0.1:8000/v1\n"
        "  Listening on      127.0.0.1:8000 (this machine only)\n"
        "  Client shell      export OPENAI_BASE_URL=http://127.0.0.1:8000/v1\n"
        "                    export OPENAI_API_KEY=sk-local  # open mode: any non-empty key works\n"
        "                    Not in the shell that starts the server: there OPENAI_BASE_URL makes "
        "it refuse\n"
        "                      to start (its own address as upstream) and OPENAI_API_KEY alone "
        "sends runs to\n"
        "                      OpenAI.\n"
        "  Data directory    /srv/assistantd\n"
        "  Database          SQLite file /srv/assistantd/assistantd.sqlite3\n"
        "  Default model     embedded model smollm2-135m-instruct (local, no network)\n"
        "  code_interpreter  available\n"
        "  Auth              open (no API keys; loopback only); to require keys:\n"
        "                    assistantd keys create --project NAME\n"
        "\n"
    )


@pytest.mark.parametrize(
    ("listeners", "connect", "where"),
    [
        (
            (Listener("0.0.0.0", 8000),),
            "127.0.0.1:8000",
            "0.0.0.0:8000 (all IPv4 interfaces; from another machine use this host's address)",
        ),
        (
            (Listener("::", 8000),),  # asyncio binds :: with IPV6_V6ONLY: IPv4 does not reach it
            "[::1]:8000",
            "[::]:8000 (all IPv6 interfaces; from another machine use this host's address)",
        ),
        (
            (Listener("::", 8000, dual_stack=True),),
            "127.0.0.1:8000",
            "[::]:8000 (all interfaces; from another machine use this host's address)",
        ),
        (
            (Listener("0.0.0.0", 8000), Listener("::", 8000)),  # --host "" binds both
            "127.0.0.1:8000",
            "0.0.0.0:8000, [::]:8000 (all interfaces; from another machine use this host's "
            "address)",
        ),
        ((Listener("::1", 8001),), "[::1]:8001", "[::1]:8001 (this machine only)"),
        (
            (Listener("::1", 8000), Listener("127.0.0.1", 8000)),  # localhost: IPv4 first
            "127.0.0.1:8000",
            "[::1]:8000, 127.0.0.1:8000 (this machine only)",
        ),
        ((Listener("192.0.2.7", 80),), "192.0.2.7:80", "192.0.2.7:80"),
    ],
)
def test_client_address(listeners: tuple[Listener, ...], connect: str, where: str) -> None:
    assert client_address(listeners) == (connect, where)


def test_wildcard_and_ipv6_binds_in_the_banner() -> None:
    lines = banner_text(facts(listeners=(Listener("0.0.0.0", 8123),))).splitlines()
    assert lines[2] == "  SDK base URL      http://127.0.0.1:8123/v1"
    assert lines[4] == "  Client shell      export OPENAI_BASE_URL=http://127.0.0.1:8123/v1"
    ipv6 = banner_text(facts(listeners=(Listener("::1", 8123),))).splitlines()
    assert ipv6[2] == "  SDK base URL      http://[::1]:8123/v1"
    assert ipv6[3] == "  Listening on      [::1]:8123 (this machine only)"


def test_open_mode_reachable_from_other_machines_says_anyone_may_call() -> None:
    text = flat(banner_text(facts(listeners=(Listener("0.0.0.0", 8000),))))
    assert text.endswith(
        "Auth open (no API keys; reachable from other machines (--insecure-no-auth): anyone may "
        "call); to require keys: assistantd keys create --project NAME"
    )


@pytest.mark.parametrize(
    ("active", "auth"),
    [
        (1, "  Auth              keys required (1 active key)"),
        (3, "  Auth              keys required (3 active keys)"),
        (
            0,
            "  Auth              keys required, but every key is revoked: create one with "
            "assistantd keys create --project NAME",
        ),
    ],
)
def test_keys_mode(active: int, auth: str) -> None:
    text = banner_text(facts(keys_exist=True, active_keys=active))
    lines = text.splitlines()
    assert lines[5] == (
        "                    export OPENAI_API_KEY=<your key>  # create one with assistantd keys "
        "create --project NAME"
    )
    assert flat(text).endswith(flat(auth))
    assert "sk-local" not in text


def test_upstream_from_openai_api_key_alone_is_called_out() -> None:
    upstream = DefaultUpstream("https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_API_KEY")
    text = banner_text(facts(upstream=upstream, embedded_model=None))
    assert "  Default model     upstream https://api.openai.com/v1 (from OPENAI_API_KEY)\n" in text
    assert (
        "! OPENAI_API_KEY is set in this environment and no base URL is configured, so every "
        "run goes to OpenAI (https://api.openai.com/v1) and is billed to that key."
    ) in flat(text)


def test_upstream_without_a_key_and_with_a_password_in_its_url() -> None:
    upstream = DefaultUpstream(
        "http://me:hunter2@models.internal:8080/v1", "ASSISTANTD_UPSTREAM_BASE_URL", None
    )
    text = banner_text(facts(upstream=upstream, embedded_model=None))
    assert (
        "  Default model     upstream http://me:***@models.internal:8080/v1 "
        "(from ASSISTANTD_UPSTREAM_BASE_URL), no API key\n"
    ) in text
    assert "hunter2" not in text
    assert "hunter2" not in banner_summary(facts(upstream=upstream, embedded_model=None))
    assert "!" not in text


def test_no_default_route_and_a_missing_embedded_model() -> None:
    text = banner_text(facts(embedded_model=None))
    assert (
        "  Default model     none: no upstream is configured and the embedded model is off "
        "(ASSISTANTD_EMBEDDED_MODEL=false); runs fail until ASSISTANTD_UPSTREAM_BASE_URL is set\n"
    ) in text
    missing = flat(banner_text(facts(embedded_problem="The model file is not installed.")))
    assert (
        "Default model embedded model smollm2-135m-instruct (local, no network) "
        "! The model file is not installed." in missing
    )


def test_extra_routes_are_counted_and_truncated() -> None:
    names = ("a", "b", "c", "d", "e", "f", "g", "x" * 60)
    text = banner_text(facts(extra_routes=names))
    assert "  Other models      8 routes in [models]: a, b, c, d, e, and 3 more\n" in text
    long_name = banner_text(facts(extra_routes=("x" * 60,)))
    assert f"  Other models      1 route in [models]: {'x' * 37}...\n" in long_name


def test_code_interpreter_unavailable_shows_the_reason() -> None:
    text = banner_text(facts(code_interpreter_problem="bubblewrap (bwrap) is not installed"))
    assert (
        "  code_interpreter  unavailable (runs using it fail): bubblewrap (bwrap) is not "
        "installed\n"
    ) in text


def test_summary_is_one_line_without_secrets() -> None:
    summary = banner_summary(
        facts(
            database_url="postgresql+psycopg://app:s3cret@db.internal:5432/assistantd",
            code_interpreter_problem="line one\nline two",
            extra_routes=("fast",),
        )
    )
    assert summary == (
        "ready at http://127.0.0.1:8000/v1; listening on 127.0.0.1:8000 (this machine only); "
        "version 9.9.9; data dir /srv/assistantd; database PostgreSQL "
        "postgresql+psycopg://app:***@db.internal:5432/assistantd; default model embedded model "
        "smollm2-135m-instruct (local, no network); other models 1 route in [models]: fast; "
        "code_interpreter unavailable (runs using it fail): line one line two; auth open (no API "
        "keys; loopback only); to require keys: assistantd keys create --project NAME"
    )
    assert "s3cret" not in repr(facts(database_url="postgresql://a:s3cret@h/d"))


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:s3cret@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("postgresql://app:p%40ss@word@db/x", "postgresql://app:***@db/x"),  # '@' in a password
        ("postgresql://app@db/x", "postgresql://app@db/x"),
        ("postgresql://postgres:@/x?host=/tmp/s", "postgresql://postgres:@/x?host=/tmp/s"),
        (
            "postgresql://db/x?user=app&password=s3cret&sslmode=require",
            "postgresql://db/x?user=app&password=***&sslmode=require",
        ),
        (
            "https://api.example.com/v1?api-key=abc&x=1",
            "https://api.example.com/v1?api-key=***&x=1",
        ),
        ("http://[::1:8000/v1", "http://(unparsable URL, not shown)"),
        ("https://api.openai.com/v1", "https://api.openai.com/v1"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    ("url", "described"),
    [
        ("sqlite+aiosqlite:////data/a.sqlite3", "SQLite file /data/a.sqlite3"),
        ("sqlite:////data/a.sqlite3?timeout=5", "SQLite file /data/a.sqlite3"),
        ("sqlite://", "SQLite in memory"),
        ("sqlite+aiosqlite:///:memory:", "SQLite in memory"),
        ("postgresql://u:pw@h/d", "PostgreSQL postgresql://u:***@h/d"),
        ("postgres://u:pw@h/d", "PostgreSQL postgres://u:***@h/d"),
        ("mysql+aiomysql://u:pw@h/d", "mysql mysql+aiomysql://u:***@h/d"),
    ],
)
def test_describe_database(url: str, described: str) -> None:
    assert describe_database(url) == described


def test_relative_sqlite_path_is_shown_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert describe_database("sqlite:///rel/a.db") == f"SQLite file {tmp_path}/rel/a.db"


@pytest.mark.parametrize(
    ("settings", "environ", "expected"),
    [
        ({}, {}, None),
        (
            {},
            {"OPENAI_API_KEY": "k"},
            DefaultUpstream("https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_API_KEY"),
        ),
        (
            {"upstream_api_key": "k"},
            {},
            DefaultUpstream(
                "https://api.openai.com/v1",
                "ASSISTANTD_UPSTREAM_API_KEY",
                "ASSISTANTD_UPSTREAM_API_KEY",
            ),
        ),
        (
            {},
            {"OPENAI_BASE_URL": "http://m/v1"},
            DefaultUpstream("http://m/v1", "OPENAI_BASE_URL", None),
        ),
        (
            {"upstream_base_url": "http://a/v1"},
            {"OPENAI_BASE_URL": "http://m/v1", "OPENAI_API_KEY": "k"},
            DefaultUpstream("http://a/v1", "ASSISTANTD_UPSTREAM_BASE_URL", "OPENAI_API_KEY"),
        ),
        (
            {"upstream_base_url": "http://a/v1", "upstream_api_key": "mine"},
            {"OPENAI_API_KEY": "k"},
            DefaultUpstream(
                "http://a/v1", "ASSISTANTD_UPSTREAM_BASE_URL", "ASSISTANTD_UPSTREAM_API_KEY"
            ),
        ),
    ],
)
def test_default_upstream_sources(
    settings: dict[str, str],
    environ: dict[str, str],
    expected: DefaultUpstream | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (
        "ASSISTANTD_UPSTREAM_BASE_URL",
        "ASSISTANTD_UPSTREAM_API_KEY",
        "ASSISTANTD_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    assert default_upstream(load_settings(**settings), environ) == expected
