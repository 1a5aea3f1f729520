"""The `assistantd` command: serve, db upgrade, keys create|list|revoke."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import resource
import socket
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

import typer

from assistantd import __version__
from assistantd.providers.routing import upstream_urls
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


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_WILDCARDS = ("0.0.0.0", "::", "")

# What to do when a source points at the server itself, by source.
_SELF_UPSTREAM_ADVICE = {
    "OPENAI_BASE_URL": "Unset it in this shell (unset OPENAI_BASE_URL) or set "
    "ASSISTANTD_UPSTREAM_BASE_URL to your model's URL.",
    "ASSISTANTD_UPSTREAM_BASE_URL": "Set ASSISTANTD_UPSTREAM_BASE_URL to your model's URL, "
    "or serve on another port.",
    "ASSISTANTD_EMBEDDING_BASE_URL": "Set ASSISTANTD_EMBEDDING_BASE_URL to your embeddings "
    "server's URL, or unset it to use the built-in embedding model.",
}


def _addresses(host: str) -> set[IpAddress]:
    """What a host name resolves to (nothing if it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return set()
    found: set[IpAddress] = set()
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).partition("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_unspecified:  # connecting to 0.0.0.0 or :: reaches this host
            found |= {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
        else:
            found.add(address)
    return found


def _is_this_host(address: IpAddress) -> bool:
    """Loopback, or an address of one of this machine's interfaces (only those can be bound)."""
    if address.is_loopback:
        return True
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((str(address), 0))
    except OSError:
        return False
    return True


def points_at_self(url: str, host: str, port: int) -> bool:
    """Whether `url` would reach a server listening on `host`:`port` (this one)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        return False
    try:
        target_port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    if target_port != port:
        return False  # the common case, decided without a name lookup
    targets = _addresses(parts.hostname)
    if host in _WILDCARDS:
        # 0.0.0.0 listens on every IPv4 address of the machine; :: on every address.
        return any(
            _is_this_host(address) and (host != "0.0.0.0" or address.version == 4)
            for address in targets
        )
    return bool(targets & _addresses(host))


def self_upstream_problem(
    settings: Settings, environ: Mapping[str, str], host: str, port: int
) -> str | None:
    """Why the configured upstreams make the server call itself, if they do."""
    for upstream in upstream_urls(settings, environ):
        if not points_at_self(upstream.url, host, port):
            continue
        calls = "embedding" if "EMBEDDING" in upstream.source else "run"
        advice = _SELF_UPSTREAM_ADVICE.get(
            upstream.source, "Point that route's base_url at the model's URL."
        )
        return (
            f"{upstream.source} points at this server itself ({upstream.url}): the server "
            f"would call itself for every {calls}. {advice}"
        )
    return None


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
    from assistantd.api.limits import ConnectionLimits, guarded_protocol

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
    limits = ConnectionLimits(
        header_seconds=settings.header_timeout_seconds,
        body_idle_seconds=settings.body_timeout_seconds,
        body_min_bytes_per_second=settings.body_min_bytes_per_second,
        max_connections=settings.max_connections,
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        http=guarded_protocol(limits),
        timeout_keep_alive=settings.keepalive_seconds,
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
