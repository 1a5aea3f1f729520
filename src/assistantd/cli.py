"""The `assistantd` command: serve, db upgrade, keys create|list|revoke."""

from __future__ import annotations

import asyncio
import logging
import os
import resource
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from assistantd import __version__
from assistantd.compose import ProcessRole, open_services
from assistantd.self_upstream import is_loopback, self_upstream_problem
from assistantd.service.auth import AuthService
from assistantd.settings import LogLevel, Settings, load_settings
from assistantd.store.migrate import upgrade

app = typer.Typer(
    help="assistantd: a self-hosted OpenAI Assistants API v2 server.\n\n"
    "Each option can also be set by the ASSISTANTD_* variable shown with it, or in the TOML "
    "file named by ASSISTANTD_CONFIG; a flag wins over the variable, the variable over the "
    "file. The defaults shown are the built-in ones.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help wraps at any width; rich's boxes cut variable names
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (each belongs to a project).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
sandbox_app = typer.Typer(
    help="code_interpreter's sandbox: bubblewrap and its own Python environment.",
    no_args_is_help=True,
)
app.add_typer(sandbox_app, name="sandbox")

T = TypeVar("T")


def _setting(
    name: str, help: str, *decls: str, shown_default: str | None = None, **more: Any
) -> Any:
    """An option for the setting `name`, naming its variable and built-in default. Unset, it
    passes None, and the settings read the variable, the TOML file, then the default."""
    default = Settings.model_fields[name].default
    return typer.Option(
        *decls,
        help=help,
        envvar=f"ASSISTANTD_{name.upper()}",
        show_envvar=True,
        show_default=shown_default or str(default),
        **more,
    )


DataDir = Annotated[Path | None, _setting("data_dir", "Folder for the SQLite file and blobs")]
DatabaseUrl = Annotated[
    str | None,
    _setting(
        "database_url",
        "SQLAlchemy URL, e.g. postgresql://user:pw@host/db",
        shown_default="a SQLite file in the data dir",
    ),
]
LogLevelOption = Annotated[
    LogLevel | None,
    _setting(
        "log_level",
        "debug, info, warning or error (any case)",
        metavar="LEVEL",
        case_sensitive=False,
    ),
]


def _settings(data_dir: Path | None, database_url: str | None, **more: object) -> Settings:
    settings = load_settings(data_dir=data_dir, database_url=database_url, **more)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _with_auth(settings: Settings, action: Callable[[AuthService], Awaitable[T]]) -> T:
    async def run() -> T:
        async with open_services(settings, role=ProcessRole.TOOL) as services:
            return await action(services.auth)

    return asyncio.run(run())


def _allow_open_files(connections: int) -> None:
    """Raise the soft limit on open files (often 1024) so `connections` sockets fit beside the
    database, blob and sandbox files; never above the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 1024
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@app.command()
def serve(
    host: Annotated[str | None, _setting("host", "Bind address")] = None,
    port: Annotated[
        int | None, _setting("port", "Port (0: any free one)", min=0, max=65535)
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    insecure_no_auth: Annotated[
        bool,
        _setting(
            "insecure_no_auth",
            "Allow a non-loopback bind with no API keys (anyone may call).",
            "--insecure-no-auth",  # no --no-insecure-no-auth: unset already means no
        ),
    ] = False,
    log_level: LogLevelOption = None,
    no_workers: Annotated[
        bool,
        typer.Option(
            "--no-workers",
            help="Serve only the API: runs and ingestion are executed by `assistantd worker` "
            "processes on the same PostgreSQL database.",
        ),
    ] = False,
) -> None:
    """Apply migrations and serve the API; once ready, print where and how to connect."""
    from assistantd.serving import serve_api

    settings = _settings(
        data_dir,
        database_url,
        host=host,
        port=port,
        insecure_no_auth=insecure_no_auth or None,
        log_level=log_level,
    )
    _configure_logging(settings)
    if no_workers and settings.resolved_database_url.startswith("sqlite"):
        typer.echo(
            "serve --no-workers needs PostgreSQL: on SQLite a streamed run is executed by the "
            "process that streams it, so every serving process must run workers.",
            err=True,
        )
        raise typer.Exit(code=2)
    problem = self_upstream_problem(settings, os.environ, settings.host, settings.port)
    if problem is not None:
        typer.echo(problem, err=True)
        raise typer.Exit(code=2)
    upgrade(settings.resolved_database_url)
    exposed = not is_loopback(settings.host) and not settings.insecure_no_auth
    if exposed and not _with_auth(settings, lambda auth: auth.any_key()):
        typer.echo(
            f"Refusing to listen on {settings.host}: no API key exists, so anyone who can "
            "reach this address could use the server. Create one with "
            "`assistantd keys create --project NAME`, or pass --insecure-no-auth.",
            err=True,
        )
        raise typer.Exit(code=2)
    _allow_open_files(settings.max_connections)
    serve_api(settings, os.environ, ProcessRole.API if no_workers else ProcessRole.ALL)


@app.command()
def worker(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, log_level: LogLevelOption = None
) -> None:
    """Execute runs and file ingestion from the database's queue, serving no API (next to
    `serve --no-workers` processes on PostgreSQL). SIGTERM hands unfinished runs back."""
    from assistantd.serving import run_worker

    settings = _settings(data_dir, database_url, log_level=log_level)
    _configure_logging(settings)
    upgrade(settings.resolved_database_url)
    run_worker(settings)


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    # One line per upstream request from the HTTP client is noise at info level.
    for noisy in ("httpx", "httpx2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Apply every pending migration."""
    settings = _settings(data_dir, database_url)
    upgrade(settings.resolved_database_url)
    typer.echo("database is up to date")


@keys_app.command("create")
def keys_create(
    project: Annotated[str, typer.Option(help="Project the key belongs to (created if new)")],
    name: Annotated[
        str | None, typer.Option(help="A label for the key", show_default="none")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a key. The secret is printed once and never stored."""
    settings = _settings(data_dir, database_url)
    upgrade(settings.resolved_database_url)
    new = _with_auth(settings, lambda auth: auth.create_key(project, name))
    typer.echo(f"id:      {new.info.id}")
    typer.echo(f"project: {new.info.project}")
    typer.echo(f"secret:  {new.secret}")


@keys_app.command("list")
def keys_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List keys (hints only, never secrets)."""
    settings = _settings(data_dir, database_url)
    upgrade(settings.resolved_database_url)
    for key in _with_auth(settings, lambda auth: auth.list_keys()):
        state = "revoked " + _date(key.revoked_at) if key.revoked_at else "active"
        typer.echo(
            f"{key.id}\t{key.project}\t{key.hint}\t{key.name or '-'}\t"
            f"created {_date(key.created_at)}\t{state}"
        )


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (key_...)")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    settings = _settings(data_dir, database_url)
    upgrade(settings.resolved_database_url)
    if not _with_auth(settings, lambda auth: auth.revoke_key(key_id)):
        typer.echo(f"no active key with id {key_id}", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"revoked {key_id}")


@sandbox_app.command("install")
def sandbox_install(
    python: Annotated[
        Path | None,
        typer.Option(
            help="Interpreter to build the environment from (>= 3.11)",
            show_default="/usr/bin/python3 when new enough, else this one",
        ),
    ] = None,
) -> None:
    """Install bubblewrap (with apt, when root) and build the sandbox's Python environment where
    the server looks for it (ASSISTANTD_SANDBOX_PYTHON), then check that sessions start."""
    from assistantd.sandbox.install import (
        InstallError,
        InstallPlan,
        build_environment,
        choose_python,
        ensure_bubblewrap,
        venv_of,
    )

    settings = load_settings()
    ensure_bubblewrap(typer.echo)
    plan = InstallPlan(venv=venv_of(settings.sandbox_python), base_python=choose_python(python))
    try:
        build_environment(plan, typer.echo)
    except InstallError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    _report_sandbox(settings)


@sandbox_app.command("check")
def sandbox_check() -> None:
    """Start one sandbox session, as the server does at start-up, and say whether it worked."""
    _report_sandbox(load_settings())


def _report_sandbox(settings: Settings) -> None:
    from assistantd.compose import build_sandbox

    async def probe() -> tuple[bool, str | None]:
        backend, _ = build_sandbox(settings)  # the server's own limits and paths
        try:
            result = await backend.probe()
        finally:
            await backend.aclose()
        return result.available, result.reason

    available, reason = asyncio.run(probe())
    if not available:
        typer.echo(f"code_interpreter unavailable: {reason}", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"code_interpreter available: {reason}")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _date(timestamp: int | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def main() -> None:
    app()
