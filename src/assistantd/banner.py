"""The start-up banner: what a new user needs to know once the server answers, composed as text
from facts gathered at start-up (no I/O here, so every case can be tested directly)."""

from __future__ import annotations

import ipaddress
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from assistantd.providers.routing import OPENAI_DEFAULT_BASE_URL, DefaultUpstream

CREATE_KEY = "assistantd keys create --project NAME"
OPEN_MODE_KEY = "sk-local"
LABEL_WIDTH = 18
WIDTH = 100
ROUTES_SHOWN = 5
NAME_CHARS = 40
_GLUE = "\x00"  # stands for a space textwrap must not break at

# Query parameters that carry credentials in database or model URLs.
_SECRET_PARAM = re.compile(
    r"((?:^|&)(?:password|passwd|pwd|api[-_]?key|key|token|secret)=)[^&]*", re.IGNORECASE
)


@dataclass(frozen=True)
class Listener:
    """A bound socket's address, as the kernel reports it."""

    host: str
    port: int
    dual_stack: bool = False  # an IPv6 socket that also accepts IPv4 (IPV6_V6ONLY off)


@dataclass(frozen=True)
class BannerFacts:
    version: str
    listeners: tuple[Listener, ...]
    data_dir: Path
    database_url: str = field(repr=False)  # may hold a password: shown only through mask_url
    upstream: DefaultUpstream | None  # the default route, when it is an upstream
    embedded_model: str | None  # the default route, when it is the embedded model
    embedded_problem: str | None  # why the embedded model cannot load, if it cannot
    extra_routes: tuple[str, ...]  # `[models."..."]` names
    code_interpreter_problem: str | None  # None: available
    keys_exist: bool
    active_keys: int


def mask_url(url: str) -> str:
    """The URL with any password (userinfo or a credential-like query parameter) as ***."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return f"{url.partition(':')[0]}://(unparsable URL, not shown)"
    netloc = parts.netloc
    if password:  # an empty one (user:@host) hides nothing
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:***@{hostport}"
    query = _SECRET_PARAM.sub(r"\1***", parts.query)
    return parts._replace(netloc=netloc, query=query).geturl()


def describe_database(url: str) -> str:
    """`SQLite file /abs/path` or the backend's name and its URL with the password masked."""
    scheme = url.partition(":")[0].lower()
    if scheme.startswith("sqlite"):
        path = url.partition(":///")[2].partition("?")[0]
        if not path or path == ":memory:":
            return "SQLite in memory"
        return f"SQLite file {Path(path).absolute()}"  # relative: from the working directory
    backend = "PostgreSQL" if scheme.startswith("postgres") else scheme.partition("+")[0]
    return f"{backend} {mask_url(url)}"


def client_address(listeners: tuple[Listener, ...]) -> tuple[str, str]:
    """The `host:port` a client on this machine connects to, and where the server listens."""
    primary = next((ear for ear in listeners if ":" not in ear.host), listeners[0])
    if primary.host == "0.0.0.0" or (primary.host == "::" and primary.dual_stack):
        connect = "127.0.0.1"
    elif primary.host == "::":
        connect = "[::1]"
    else:
        connect = _bracketed(primary.host)
    where = ", ".join(f"{_bracketed(ear.host)}:{ear.port}" for ear in listeners)
    scope = _scope(listeners)
    return f"{connect}:{primary.port}", f"{where} ({scope})" if scope else where


def _scope(listeners: tuple[Listener, ...]) -> str | None:
    if all(_loopback(ear.host) for ear in listeners):
        return "this machine only"
    ipv4 = any(ear.host == "0.0.0.0" or (ear.host == "::" and ear.dual_stack) for ear in listeners)
    ipv6 = any(ear.host == "::" for ear in listeners)
    if not (ipv4 or ipv6):
        return None
    family = "all" if ipv4 and ipv6 else "all IPv4" if ipv4 else "all IPv6"
    return f"{family} interfaces; from another machine use this host's address"


def banner_text(facts: BannerFacts) -> str:
    """The block printed to stderr once the server is ready."""
    address, where = client_address(facts.listeners)
    base_url = f"http://{address}/v1"
    if facts.keys_exist:
        key = f"<your key>  # create one with {CREATE_KEY}"
    else:
        key = f"{OPEN_MODE_KEY}  # open mode: any non-empty key works"
    indent = " " * (LABEL_WIDTH + 2)
    lines = [
        "",
        f"assistantd {facts.version} is ready",
        *_row("SDK base URL", base_url),
        *_row("Listening on", where),
        *_row("Client shell", f"export OPENAI_BASE_URL={base_url}"),
        f"{indent}export OPENAI_API_KEY={key}",
        *_note(
            "Not in the shell that starts the server: there OPENAI_BASE_URL makes it refuse "
            "to start (its own address as upstream) and OPENAI_API_KEY alone sends runs to "
            "OpenAI."
        ),
        *_row("Data directory", str(facts.data_dir)),
        *_row("Database", describe_database(facts.database_url)),
        *_row("Default model", default_model(facts)),
        *[line for warning in route_warnings(facts) for line in _note(warning)],
    ]
    if facts.extra_routes:
        lines += _row("Other models", extra_routes(facts.extra_routes))
    lines += _row("code_interpreter", code_interpreter(facts), wrap=True)
    lines += _row("Auth", auth_mode(facts), wrap=True)
    return "\n".join([*lines, ""]) + "\n"


def banner_summary(facts: BannerFacts) -> str:
    """The same facts on one line, for log collectors."""
    address, where = client_address(facts.listeners)
    parts = [
        f"ready at http://{address}/v1",
        f"listening on {where}",
        f"version {facts.version}",
        f"data dir {facts.data_dir}",
        f"database {describe_database(facts.database_url)}",
        f"default model {default_model(facts)}",
    ]
    if facts.extra_routes:
        parts.append(f"other models {extra_routes(facts.extra_routes)}")
    parts += [f"code_interpreter {code_interpreter(facts)}", f"auth {auth_mode(facts)}"]
    return " ".join("; ".join(parts).split())  # reasons may span lines


def default_model(facts: BannerFacts) -> str:
    upstream = facts.upstream
    if upstream is not None:
        text = f"upstream {mask_url(upstream.base_url)} (from {upstream.url_source})"
        if upstream.key_source is None:
            return text + ", no API key"
        if upstream.key_source != upstream.url_source:
            return text + f", API key from {upstream.key_source}"
        return text
    if facts.embedded_model is not None:
        return f"embedded model {facts.embedded_model} (local, no network)"
    return (
        "none: no upstream is configured and the embedded model is off "
        "(ASSISTANTD_EMBEDDED_MODEL=false); runs fail until ASSISTANTD_UPSTREAM_BASE_URL is set"
    )


def route_warnings(facts: BannerFacts) -> list[str]:
    """What the user may not expect about the default route."""
    upstream = facts.upstream
    if upstream is None:
        return [f"! {facts.embedded_problem}"] if facts.embedded_problem else []
    if upstream.url_source == "OPENAI_API_KEY":
        return [
            "! OPENAI_API_KEY is set in this environment and no base URL is configured, so "
            f"every run goes to OpenAI ({OPENAI_DEFAULT_BASE_URL}) and is billed to that key. "
            "To use the embedded model instead, unset OPENAI_API_KEY in this shell; to use "
            "another model server, set ASSISTANTD_UPSTREAM_BASE_URL."
        ]
    warnings = []
    if upstream.url_source == "OPENAI_BASE_URL":
        warnings.append(
            "! The upstream comes from OPENAI_BASE_URL in this environment (an OpenAI SDK "
            "variable). Set ASSISTANTD_UPSTREAM_BASE_URL to choose it explicitly."
        )
    if upstream.key_source == "OPENAI_API_KEY":
        warnings.append(
            "! The upstream's API key comes from OPENAI_API_KEY in this environment "
            "(set ASSISTANTD_UPSTREAM_API_KEY to choose it explicitly)."
        )
    return warnings


def extra_routes(names: tuple[str, ...]) -> str:
    shown = [_shorten(name) for name in names[:ROUTES_SHOWN]]
    more = len(names) - len(shown)
    listed = ", ".join(shown) + (f", and {more} more" if more else "")
    return f"{len(names)} {'route' if len(names) == 1 else 'routes'} in [models]: {listed}"


def code_interpreter(facts: BannerFacts) -> str:
    if facts.code_interpreter_problem is None:
        return "available"
    return f"unavailable (runs using it fail): {facts.code_interpreter_problem}"


def auth_mode(facts: BannerFacts) -> str:
    if facts.keys_exist:
        if facts.active_keys == 0:
            return f"keys required, but every key is revoked: create one with {CREATE_KEY}"
        plural = "key" if facts.active_keys == 1 else "keys"
        return f"keys required ({facts.active_keys} active {plural})"
    if all(_loopback(ear.host) for ear in facts.listeners):
        reach = "loopback only"
    else:
        reach = "reachable from other machines (--insecure-no-auth): anyone may call"
    return f"open (no API keys; {reach}); to require keys: {CREATE_KEY}"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _shorten(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 3] + "..."


def _row(label: str, value: str, *, wrap: bool = False) -> list[str]:
    """A labelled line; only prose is wrapped (a URL or path stays on the label's line)."""
    first = f"  {label:<{LABEL_WIDTH}}"
    if not wrap:
        return [first + value]
    return _wrap(value, first, " " * len(first))


def _note(text: str) -> list[str]:
    indent = " " * (LABEL_WIDTH + 2)
    return _wrap(text, indent, indent + "  ")


def _wrap(text: str, first: str, rest: str) -> list[str]:
    # URLs, paths and the command stay whole, so they can be copied from the terminal.
    glued = " ".join(text.split()).replace(CREATE_KEY, CREATE_KEY.replace(" ", _GLUE))
    lines = textwrap.wrap(
        glued,
        width=WIDTH,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return [line.replace(_GLUE, " ") for line in lines]
