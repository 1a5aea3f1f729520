"""Model routing: which provider serves a model name, with what limits and capabilities."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from assistantd.providers.base import ChatProvider
from assistantd.providers.embedded import EmbeddedConfig, EmbeddedProvider
from assistantd.providers.embedded_turn import Repetition
from assistantd.providers.model_file import embedded_model_id
from assistantd.providers.openai_compat import OpenAICompatibleProvider
from assistantd.providers.prompted_tools import PromptedToolsProvider
from assistantd.settings import Settings

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"

# Model names in code written for the hosted API. Any name reaches the default route; these
# are the ones `GET /v1/models` lists for it, so clients that check a model exists find them.
KNOWN_ALIASES = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-4-turbo",
    "gpt-4-turbo-preview",
    "gpt-4-1106-preview",
    "gpt-4-0125-preview",
    "gpt-4",
    "gpt-3.5-turbo",
    "gpt-3.5-turbo-1106",
    "o1",
    "o3-mini",
    "o3",
    "o4-mini",
)

ProviderKind = Literal["openai", "embedded"]
FileSearchMode = Literal["engine", "model"]


@dataclass(frozen=True)
class UpstreamUrl:
    """An upstream base URL the settings point at, and where it was configured."""

    source: str  # as the user wrote it: an environment variable or a TOML entry
    url: str


def upstream_urls(settings: Settings, environ: Mapping[str, str]) -> list[UpstreamUrl]:
    """Every upstream URL the server will call, with the same fallbacks as `from_settings`."""
    found = []
    if settings.upstream_base_url:
        found.append(UpstreamUrl("ASSISTANTD_UPSTREAM_BASE_URL", settings.upstream_base_url))
    elif environ.get("OPENAI_BASE_URL"):
        found.append(UpstreamUrl("OPENAI_BASE_URL", environ["OPENAI_BASE_URL"]))
    for name, entry in settings.models.items():
        if entry.provider == "openai" and entry.base_url:
            found.append(UpstreamUrl(f'[models."{name}"] base_url', entry.base_url))
    if settings.embedding_base_url:
        found.append(UpstreamUrl("ASSISTANTD_EMBEDDING_BASE_URL", settings.embedding_base_url))
    return found


@dataclass(frozen=True)
class DefaultUpstream:
    """The upstream for model names no `[models]` entry claims, and where its parts came from
    (names of settings or environment variables; values of keys are never kept here)."""

    base_url: str
    url_source: str
    key_source: str | None  # None: requests go without an API key


def default_upstream(settings: Settings, environ: Mapping[str, str]) -> DefaultUpstream | None:
    """The default upstream, if any: ASSISTANTD_UPSTREAM_* first, then the OpenAI SDK's own
    variables; a key alone means OpenAI's API (as the SDK would do)."""
    key_source = None
    if settings.upstream_api_key:
        key_source = "ASSISTANTD_UPSTREAM_API_KEY"
    elif environ.get("OPENAI_API_KEY"):
        key_source = "OPENAI_API_KEY"
    if settings.upstream_base_url:
        return DefaultUpstream(
            settings.upstream_base_url, "ASSISTANTD_UPSTREAM_BASE_URL", key_source
        )
    if environ.get("OPENAI_BASE_URL"):
        return DefaultUpstream(environ["OPENAI_BASE_URL"], "OPENAI_BASE_URL", key_source)
    if key_source is not None:
        return DefaultUpstream(OPENAI_DEFAULT_BASE_URL, key_source, key_source)
    return None


DEFAULT_GROUP = "default"
EMBEDDED_GROUP = "embedded"


@dataclass(frozen=True)
class RouteLimits:
    """What an upstream can take. Runs past `max_concurrent_runs` wait `queued` (counted over
    every process on the database); the per-minute budgets are kept by each worker process."""

    max_concurrent_runs: int | None = None
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    @property
    def unlimited(self) -> bool:
        return (
            self.max_concurrent_runs is None
            and self.requests_per_minute is None
            and self.tokens_per_minute is None
        )


@dataclass(frozen=True)
class Route:
    base_url: str
    api_key: str
    upstream_model: str | None
    context_length: int
    include_usage: bool
    tools: bool = True  # native tool calling; without it, calls are emulated
    vision: bool = True
    json_schema: bool = True
    provider: ProviderKind = "openai"
    # "engine": the engine searches on the run's first turn and the model only answers (for
    # models that cannot drive tools reliably); "model": the model calls file_search itself.
    file_search: FileSearchMode = "model"
    # The routes sharing one set of limits: a `[models]` name, the default route, or every
    # embedded route (they share one model).
    group: str = DEFAULT_GROUP
    limits: RouteLimits = RouteLimits()

    @property
    def emulates_tools(self) -> bool:
        """Tool calls and results reach the model as text, not through native tool calling."""
        return self.provider == "embedded" or not self.tools

    def missing_capability(self, *, tools: bool, images: bool, response_format: bool) -> str | None:
        """What a request needs that this route says its model cannot do, if anything.

        Tools are never missing: a model without tool calling gets them emulated (a grammar
        for the embedded model, prompted JSON for an upstream)."""
        del tools
        if images and not self.vision:
            return "image inputs"
        if response_format and not self.json_schema:
            return "response_format (JSON output)"
        return None

    def model_for(self, requested: str) -> str:
        return self.upstream_model or requested


class ModelRouter:
    """Resolves a model name to a route and a (shared) provider for it."""

    def __init__(
        self,
        routes: Mapping[str, Route],
        default: Route | None,
        timeout: float,
        embedded: ChatProvider | None = None,
        embedded_name: str | None = None,
    ) -> None:
        self._routes = dict(routes)
        self._default = default
        self._timeout = timeout
        self._embedded = embedded
        self._embedded_name = embedded_name
        self._providers: dict[tuple[str, str, bool], ChatProvider] = {}
        self._emulating: dict[tuple[str, str, bool, bool], ChatProvider] = {}

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str]) -> ModelRouter:
        origin = default_upstream(settings, environ)
        upstream = None
        if origin is not None:
            upstream = Route(
                base_url=origin.base_url,
                api_key=settings.upstream_api_key or environ.get("OPENAI_API_KEY") or "",
                upstream_model=settings.upstream_model,
                context_length=settings.upstream_context_length,
                include_usage=True,
                file_search=settings.upstream_file_search,
                limits=RouteLimits(
                    settings.upstream_max_concurrent_runs,
                    settings.upstream_requests_per_minute,
                    settings.upstream_tokens_per_minute,
                ),
            )
        embedded_route = Route(
            base_url="",
            api_key="",
            upstream_model=None,
            context_length=settings.embedded_context_length,
            include_usage=True,
            vision=False,
            provider="embedded",
            file_search=settings.embedded_file_search,
            group=EMBEDDED_GROUP,
            limits=RouteLimits(max_concurrent_runs=settings.embedded_max_concurrent_runs),
        )
        routes = {}
        for name, entry in settings.models.items():
            if entry.provider == "embedded":
                routes[name] = replace(
                    embedded_route, file_search=entry.file_search or embedded_route.file_search
                )
                continue
            if entry.base_url is None and upstream is None:
                raise ValueError(f"model route '{name}' has no base_url and no default upstream")
            routes[name] = Route(
                base_url=entry.base_url or (upstream.base_url if upstream else ""),
                api_key=entry.api_key
                if entry.api_key is not None
                else (upstream.api_key if upstream else ""),
                upstream_model=entry.model,
                context_length=entry.context_length or settings.upstream_context_length,
                include_usage=entry.include_usage,
                tools=entry.tools,
                vision=entry.vision,
                json_schema=entry.json_schema,
                file_search=entry.file_search or "model",
                group=name,
                limits=RouteLimits(
                    entry.max_concurrent_runs, entry.requests_per_minute, entry.tokens_per_minute
                ),
            )
        default = upstream
        if default is None and settings.embedded_model:
            default = embedded_route
        embedded = None
        if any(route.provider == "embedded" for route in [*routes.values(), default] if route):
            embedded = EmbeddedProvider(
                EmbeddedConfig(
                    model_path=settings.embedded_model_path,
                    n_threads=settings.embedded_threads,
                    n_ctx=settings.embedded_context_length,
                    max_tokens=settings.embedded_max_tokens,
                    runtime=settings.embedded_runtime,
                    prose=Repetition(
                        repeat=settings.embedded_repeat_penalty,
                        frequency=settings.embedded_frequency_penalty,
                        presence=settings.embedded_presence_penalty,
                    ),
                    json=Repetition(repeat=settings.embedded_json_repeat_penalty),
                )
            )
        embedded_name = embedded_model_id(settings.embedded_model_path) if embedded else None
        return cls(routes, default, settings.upstream_timeout_seconds, embedded, embedded_name)

    def resolve(self, model: str) -> tuple[Route, ChatProvider] | None:
        route = self._routes.get(model, self._default)
        if route is None:
            return None
        return route, self._provider_for(route)

    def group_of(self, model: str) -> str | None:
        """The limit group of the route serving `model` (None: no route serves it)."""
        route = self._routes.get(model, self._default)
        return None if route is None else route.group

    def group_limits(self) -> dict[str, RouteLimits]:
        """Every route group's limits."""
        routes = [*self._routes.values(), *([self._default] if self._default else [])]
        return {route.group: route.limits for route in routes}

    def names(self) -> list[str]:
        """The model names worth listing: configured routes, then, when a default route takes
        every other name, the default model's own name and the well-known aliases."""
        listed = dict.fromkeys(self._routes)
        if self._default is not None:
            own: str | None = self._default.upstream_model
            if self._default.provider == "embedded":
                own = self._embedded_name
            if own:
                listed.setdefault(own)
            for alias in KNOWN_ALIASES:
                listed.setdefault(alias)
        return list(listed)

    def routable(self, model: str) -> bool:
        return model in self._routes or self._default is not None

    def _provider_for(self, route: Route) -> ChatProvider:
        if route.provider == "embedded":
            assert self._embedded is not None, "from_settings creates it for embedded routes"
            return self._embedded
        key = (route.base_url, route.api_key, route.include_usage)
        provider = self._providers.get(key)
        if provider is None:
            provider = OpenAICompatibleProvider(
                route.base_url,
                route.api_key,
                timeout_seconds=self._timeout,
                include_usage=route.include_usage,
            )
            self._providers[key] = provider
        if route.tools:
            return provider
        emulated_key = (*key, route.json_schema)
        wrapper = self._emulating.get(emulated_key)
        if wrapper is None:
            wrapper = PromptedToolsProvider(provider, json_mode=route.json_schema)
            self._emulating[emulated_key] = wrapper
        return wrapper

    async def close(self) -> None:
        for provider in self._providers.values():
            await provider.close()
        self._providers.clear()
        self._emulating.clear()
        if self._embedded is not None:
            await self._embedded.close()
