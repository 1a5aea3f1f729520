"""The `assistantd` command: serve, db upgrade, keys create|list|revoke."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from assistantd import __version__
from assistantd.service.auth import AuthService
from assistantd.service.services import open_services
from assistantd.settings import Settings, load_settings
from assistantd.store.migrate import upgrade

app = typer.Typer(
    help="assistantd: a self-hosted OpenAI Assistants API v2 server.", no_args_is_help=True
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (each belongs to a project).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")

T = TypeVar("T")

DataDir = Annotated[
    Path | None, typer.Option(help="Folder for the SQLite file and blobs [default: ./.assistantd]")
]
DatabaseUrl = Annotated[
    str | None, typer.Option(help="SQLAlchemy URL, e.g. postgresql://user:pw@host/db")
]


def _settings(data_dir: Path | None, database_url: str | None, **more: object) -> Settings:
    settings = load_settings(data_dir=data_dir, database_url=database_url, **more)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _with_auth(settings: Settings, action: Callable[[AuthService], Awaitable[T]]) -> T:
    async def run() -> T:
        async with open_services(settings, run_workers=False) as services:
            return await action(services.auth)

    return asyncio.run(run())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: 8000]")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    insecure_no_auth: Annotated[
        bool, typer.Option(help="Allow a non-loopback bind with no API keys (anyone may call).")
    ] = False,
) -> None:
    """Apply migrations and serve the API."""
    import uvicorn

    from assistantd.api.app import create_app

    settings = _settings(
        data_dir,
        database_url,
        host=host,
        port=port,
        insecure_no_auth=insecure_no_auth or None,
    )
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    # One line per upstream request from the HTTP client is noise at info level.
    for noisy in ("httpx", "httpx2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
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
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Apply every pending migration."""
    settings = _settings(data_dir, database_url)
    upgrade(settings.resolved_database_url)
    typer.echo("database is up to date")


@keys_app.command("create")
def keys_create(
    project: Annotated[str, typer.Option(help="Project the key belongs to (created if new)")],
    name: Annotated[str | None, typer.Option(help="A label for the key")] = None,
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
