"""Model routing: which upstream serves a model name, with what limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from assistantd.providers.base import ChatProvider
from assistantd.providers.openai_compat import OpenAICompatibleProvider
from assistantd.settings import Settings

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class Route:
    base_url: str
    api_key: str
    upstream_model: str | None
    context_length: int
    include_usage: bool
    tools: bool = True
    vision: bool = True
    json_schema: bool = True

    def missing_capability(self, *, tools: bool, images: bool, response_format: bool) -> str | None:
        """What a request needs that this route says its model cannot do, if anything."""
        if tools and not self.tools:
            return "tool calling"
        if images and not self.vision:
            return "image inputs"
        if response_format and not self.json_schema:
            return "response_format (JSON output)"
        return None

    def model_for(self, requested: str) -> str:
        return self.upstream_model or requested


class ModelRouter:
    """Resolves a model name to a route and a (shared) provider for it."""

    def __init__(self, routes: Mapping[str, Route], default: Route | None, timeout: float) -> None:
        self._routes = dict(routes)
        self._default = default
        self._timeout = timeout
        self._providers: dict[tuple[str, str, bool], ChatProvider] = {}

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str]) -> ModelRouter:
        base_url = settings.upstream_base_url or environ.get("OPENAI_BASE_URL")
        api_key = settings.upstream_api_key or environ.get("OPENAI_API_KEY")
        default = None
        if base_url or api_key:
            default = Route(
                base_url=base_url or OPENAI_DEFAULT_BASE_URL,
                api_key=api_key or "",
                upstream_model=settings.upstream_model,
                context_length=settings.upstream_context_length,
                include_usage=True,
            )
        routes = {}
        for name, entry in settings.models.items():
            if entry.base_url is None and default is None:
                raise ValueError(f"model route '{name}' has no base_url and no default upstream")
            routes[name] = Route(
                base_url=entry.base_url or (default.base_url if default else ""),
                api_key=entry.api_key
                if entry.api_key is not None
                else (default.api_key if default else ""),
                upstream_model=entry.model,
                context_length=entry.context_length or settings.upstream_context_length,
                include_usage=entry.include_usage,
                tools=entry.tools,
                vision=entry.vision,
                json_schema=entry.json_schema,
            )
        return cls(routes, default, settings.upstream_timeout_seconds)

    def resolve(self, model: str) -> tuple[Route, ChatProvider] | None:
        route = self._routes.get(model, self._default)
        if route is None:
            return None
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
        return route, provider

    async def close(self) -> None:
        for provider in self._providers.values():
            await provider.close()
        self._providers.clear()
