"""Server settings: `ASSISTANTD_*` environment variables, an optional TOML file, safe defaults."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class LogLevel(StrEnum):
    """`log_level` values (and `serve --log-level` choices)."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


def default_embedded_threads() -> int:
    """One thread on a small machine (the server needs the other core); at most four, past
    which a 135M-parameter model gains nothing."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    return 1 if cores <= 2 else min(4, cores)


class ModelRoute(BaseModel):
    """One entry of `[models."name"]` in the TOML file: where requests for that model go."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["openai", "embedded"] = Field(
        default="openai", description="an OpenAI-compatible upstream, or the embedded model"
    )
    base_url: str | None = Field(default=None, description="default: the default upstream")
    api_key: str | None = None
    model: str | None = Field(default=None, description="model name sent upstream")
    context_length: int | None = Field(default=None, ge=512)
    include_usage: bool = Field(default=True, description="send stream_options.include_usage")
    tools: bool = Field(default=True, description="the model can call functions")
    vision: bool = Field(default=True, description="the model accepts image parts")
    json_schema: bool = Field(default=True, description="the model honours response_format")
    file_search: Literal["engine", "model"] | None = Field(
        default=None,
        description="who runs file_search: the model, by calling it (default for openai), or "
        "the engine, on the run's first turn, with the user's message (default for embedded)",
    )
    # Limits of the route's upstream (see providers/routing.py RouteLimits); unset: no limit.
    # Embedded routes share one model and take `embedded_max_concurrent_runs` instead.
    max_concurrent_runs: int | None = Field(
        default=None, ge=1, description="runs of this route executing at once (all processes)"
    )
    requests_per_minute: int | None = Field(
        default=None, ge=1, description="model requests per minute (per worker process)"
    )
    tokens_per_minute: int | None = Field(
        default=None, ge=1, description="prompt and completion tokens per minute (per process)"
    )

    @model_validator(mode="after")
    def _embedded_takes_no_limits(self) -> ModelRoute:
        if self.provider == "embedded":
            given = [
                name
                for name in ("max_concurrent_runs", "requests_per_minute", "tokens_per_minute")
                if getattr(self, name) is not None
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)}: embedded routes share one local model, whose only "
                    "limit is embedded_max_concurrent_runs"
                )
        return self


class Settings(BaseSettings):
    """Every option has a default that is safe on a laptop."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANTD_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path(".assistantd")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is a SQLite file in the data dir",
    )
    database_pool_size: int = Field(
        default=10, ge=1, le=1000, description="PostgreSQL connections each process keeps open"
    )
    database_max_overflow: int = Field(
        default=10, ge=0, le=1000, description="more PostgreSQL connections at busy moments"
    )
    insecure_no_auth: bool = False
    require_beta_header: bool = Field(
        default=False, description="reject requests without 'OpenAI-Beta: assistants=v2'"
    )
    rate_limit_per_minute: int = Field(
        default=0, ge=0, description="requests per minute per API key; 0 = unlimited"
    )
    poll_after_ms: int = Field(default=500, ge=0)
    # Connection limits (slow or idle clients; see api/limits.py).
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="time for a request's line and headers to arrive"
    )
    body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="longest pause while a request body arrives"
    )
    body_min_bytes_per_second: int = Field(
        default=1024,
        ge=0,
        description="average body rate required after body_timeout_seconds; 0 = no minimum",
    )
    keepalive_seconds: int = Field(
        default=5, ge=1, description="an idle connection between requests is closed after this"
    )
    max_connections: int = Field(
        default=1000, ge=1, description="open connections served; past it requests get 503"
    )
    auth_cache_seconds: float = Field(
        default=1.0, ge=0, description="how long an API key check is remembered (per process)"
    )
    # The model upstream (runs). Unset: OPENAI_BASE_URL / OPENAI_API_KEY are used if present.
    upstream_base_url: str | None = None
    upstream_api_key: str | None = None
    upstream_model: str | None = Field(
        default=None, description="send this model name upstream whatever the run asks for"
    )
    upstream_context_length: int = Field(default=128_000, ge=512)
    upstream_timeout_seconds: float = Field(default=120.0, gt=0)
    upstream_retries: int = Field(default=3, ge=0, le=10)
    upstream_retry_base_seconds: float = Field(default=0.5, ge=0)
    upstream_file_search: Literal["engine", "model"] = Field(
        default="model", description="file_search on the default upstream route (see [models])"
    )
    upstream_max_concurrent_runs: int | None = Field(
        default=None, ge=1, description="default route: runs executing at once (all processes)"
    )
    upstream_requests_per_minute: int | None = Field(
        default=None, ge=1, description="default route: model requests per minute (per process)"
    )
    upstream_tokens_per_minute: int | None = Field(
        default=None, ge=1, description="default route: tokens per minute (per process)"
    )
    models: dict[str, ModelRoute] = Field(default_factory=dict)
    # The embedded model (llama.cpp), the default route when no upstream is configured.
    embedded_model: bool = Field(
        default=True, description="serve runs with the embedded model when no upstream is set"
    )
    embedded_model_path: Path | None = Field(
        default=None, description="a GGUF file; default: the packaged SmolLM2-135M-Instruct"
    )
    embedded_runtime: Literal["auto", "cyllama", "llama-cpp-python"] = Field(
        default="auto",
        description="llama.cpp binding: auto is cyllama's prebuilt wheel unless it is missing "
        "or the CPU lacks AVX2/FMA/F16C and llama-cpp-python (built from source) is installed",
    )
    embedded_threads: int = Field(
        default_factory=default_embedded_threads, ge=1, le=256, description="CPU threads"
    )
    embedded_context_length: int = Field(
        default=2048, ge=512, description="tokens; at most what the model was trained on"
    )
    embedded_max_tokens: int = Field(
        default=512, ge=1, description="answer length per turn when the run sets no budget"
    )
    embedded_max_concurrent_runs: int = Field(
        default=1,
        ge=1,
        le=64,
        description="runs on the embedded model executing at once (it answers one at a time)",
    )
    embedded_file_search: Literal["engine", "model"] = Field(
        default="engine", description="file_search on embedded routes (see [models])"
    )
    # Repetition penalties (llama.cpp, over the last 64 generated tokens) of prose answers and
    # of JSON replies (tool calls, response_format); 1.0 and 0.0 switch them off.
    embedded_repeat_penalty: float = Field(default=1.1, ge=1.0, le=2.0)
    embedded_frequency_penalty: float = Field(default=0.0, ge=0.0, le=2.0)
    embedded_presence_penalty: float = Field(default=0.0, ge=0.0, le=2.0)
    embedded_json_repeat_penalty: float = Field(default=1.0, ge=1.0, le=2.0)
    # The run engine.
    # Runs in flight are cheap tasks: the real limits are the model routes' (above).
    workers: int = Field(
        default=1000, ge=1, le=100_000, description="runs executed at once per process"
    )
    job_lease_seconds: float = Field(default=30.0, gt=0)
    job_poll_seconds: float = Field(default=1.0, gt=0)
    run_expires_seconds: int = Field(default=600, ge=1)
    stream_keepalive_seconds: float = Field(default=15.0, gt=0)
    # Files, vector stores and file_search.
    files_dir: Path | None = Field(default=None, description="default: <data_dir>/files")
    max_upload_mb: int = Field(default=512, ge=1, le=512, description="largest file upload")
    ingest_workers: int = Field(default=256, ge=1, le=1024, description="files ingested at once")
    embedding_threads: int = Field(
        default=2, ge=1, le=64, description="CPU threads (and batches at once) for embedding"
    )
    # Embeddings from an OpenAI-compatible /embeddings upstream instead of the local model.
    embedding_base_url: str | None = None
    embedding_api_key: str | None = None
    embedding_model: str | None = Field(default=None, description="model name sent upstream")
    thread_store_expiry_days: int = Field(default=7, ge=1, le=365)
    # code_interpreter sandbox (src/assistantd/sandbox/; `assistantd sandbox install` builds it).
    sandbox_python: Path = Field(
        default=Path(".venv-sandbox/bin/python"), description="the sandbox's own Python"
    )
    sandbox_idle_seconds: float = Field(
        default=3600.0, gt=0, description="a thread's session is closed after this long unused"
    )
    sandbox_max_sessions: int = Field(default=8, ge=1, le=256, description="live sessions at once")
    sandbox_memory_mb: int = Field(default=1024, ge=256, description="memory limit per session")
    sandbox_call_timeout_seconds: float = Field(default=120.0, gt=0, description="per call")
    sandbox_output_chars: int = Field(default=1 << 20, ge=1024, description="logs kept per call")
    sandbox_data_mb: int = Field(default=512, ge=16, description="size of /mnt/data per session")
    log_level: LogLevel = Field(default=LogLevel.INFO, description="any case: INFO works too")
    clock_offset_seconds: int = Field(
        default=0, description="shift the server's clock (for testing expiry); never in production"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_log_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("ASSISTANTD_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'assistantd.sqlite3').resolve()}"

    @property
    def resolved_files_dir(self) -> Path:
        return self.files_dir if self.files_dir is not None else self.data_dir / "files"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, the optional TOML file and explicit overrides."""
    clean = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**clean)
