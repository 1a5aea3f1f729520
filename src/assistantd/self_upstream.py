"""Addresses that are this server's own: loopback binds, and configured upstreams that would
make the server call itself (the README's client variables left in the serving shell)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit

from assistantd.providers.routing import upstream_urls
from assistantd.settings import Settings


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
