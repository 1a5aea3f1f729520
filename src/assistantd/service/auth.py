"""API keys and projects: authenticate a bearer token, and manage keys for the CLI."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from assistantd.clock import Clock
from assistantd.errors import AuthenticationError, InvalidRequestError
from assistantd.ids import new_id
from assistantd.service.caller import DEFAULT_PROJECT_ID
from assistantd.store import keys as key_store
from assistantd.store.database import Database

KEY_PREFIX = "sk-asd-"


@dataclass(frozen=True)
class Identity:
    project_id: str
    key_id: str | None


@dataclass(frozen=True)
class KeyInfo:
    id: str
    project: str
    name: str | None
    hint: str
    created_at: int
    revoked_at: int | None


@dataclass(frozen=True)
class NewKey:
    info: KeyInfo
    secret: str


def hash_key(secret: str) -> str:
    # Keys are 256-bit random strings, so a fast unsalted hash is enough to make a stolen
    # database useless for authentication.
    return hashlib.sha256(secret.encode()).hexdigest()


# At most this many tokens are remembered (random tokens must not fill memory); past it the
# oldest answers are forgotten first.
CACHE_LIMIT = 10_000


class AuthService:
    """Authenticates every request. Answers are remembered for `cache_seconds` (per process),
    so a key created or revoked elsewhere takes effect within that time."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        cache_seconds: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        # key hash -> (expires at, answer), oldest first: every answer lives equally long, so
        # this is also the order in which they expire.
        self._cache: OrderedDict[str, tuple[float, Identity | None]] = OrderedDict()

    @property
    def cached_answers(self) -> int:
        return len(self._cache)

    async def authenticate(self, authorization: str | None) -> Identity:
        """Map an `Authorization` header to a project. Until the first key is created the
        server is open (every caller is the default project)."""
        token = _bearer_token(authorization)
        key_hash = hash_key(token) if token else ""
        now = self._monotonic()
        cached = self._cache.get(key_hash)
        if cached is not None and cached[0] > now:
            identity = cached[1]
        else:
            identity = await self._lookup(key_hash)
            if self._cache_seconds > 0:
                self._remember(key_hash, now, identity)
        if identity is not None:
            return identity
        if token is None:
            raise AuthenticationError(
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        raise AuthenticationError(f"Incorrect API key provided: {_redact(token)}.")

    def _remember(self, key_hash: str, now: float, identity: Identity | None) -> None:
        """Cache an answer, forgetting the expired ones (they would only be looked up again)
        and, past the limit, the oldest: the cache holds at most the answers of the last
        `cache_seconds`, however many distinct tokens arrive."""
        cache = self._cache
        cache[key_hash] = (now + self._cache_seconds, identity)
        cache.move_to_end(key_hash)
        while len(cache) > CACHE_LIMIT:
            cache.popitem(last=False)
        while cache:
            oldest = next(iter(cache.values()))
            if oldest[0] > now:
                break
            cache.popitem(last=False)

    async def _lookup(self, key_hash: str) -> Identity | None:
        """The identity for a key hash; None means the key is not valid (and keys exist)."""
        async with self._db.read() as conn:
            row = await key_store.authenticate(conn, key_hash)
        if row["key_id"] is not None:
            return Identity(project_id=row["project_id"], key_id=row["key_id"])
        if not row["any_key"]:
            return Identity(project_id=DEFAULT_PROJECT_ID, key_id=None)
        return None

    async def any_key(self) -> bool:
        async with self._db.read() as conn:
            return await key_store.any_key(conn)

    async def active_key_count(self) -> int:
        async with self._db.read() as conn:
            return await key_store.count_active_keys(conn)

    async def create_key(self, project: str, name: str | None) -> NewKey:
        if not project or len(project) > 256:
            raise InvalidRequestError("A project name of 1 to 256 characters is required.")
        now = self._clock()
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = new_id("key")
        hint = f"{secret[:10]}...{secret[-4:]}"
        async with self._db.write() as conn:
            existing = await key_store.project_by_name(conn, project)
            if existing is None:
                project_id = new_id("project")
                try:
                    await key_store.insert_project(
                        conn, {"id": project_id, "name": project, "created_at": now}
                    )
                except key_store.ProjectExists as exc:  # created concurrently elsewhere
                    raise InvalidRequestError(f"Project '{project}' changed; retry.") from exc
            else:
                project_id = existing["id"]
            await key_store.insert_key(
                conn,
                {
                    "id": key_id,
                    "project_id": project_id,
                    "name": name,
                    "key_hash": hash_key(secret),
                    "key_hint": hint,
                    "created_at": now,
                    "revoked_at": None,
                },
            )
        info = KeyInfo(key_id, project, name, hint, now, None)
        return NewKey(info=info, secret=secret)

    async def list_keys(self) -> list[KeyInfo]:
        async with self._db.read() as conn:
            rows = await key_store.list_keys(conn)
        return [
            KeyInfo(
                row["id"],
                row["project_name"],
                row["name"],
                row["key_hint"],
                row["created_at"],
                row["revoked_at"],
            )
            for row in rows
        ]

    async def revoke_key(self, key_id: str) -> bool:
        async with self._db.write() as conn:
            return await key_store.revoke_key(conn, key_id, self._clock())


def _bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _redact(token: str) -> str:
    if len(token) <= 8:
        return "*" * len(token)
    return f"{token[:4]}{'*' * 8}{token[-4:]}"
