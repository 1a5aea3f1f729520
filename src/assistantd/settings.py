"""Server settings: `ASSISTANTD_*` environment variables, an optional TOML file, safe defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


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
    insecure_no_auth: bool = False
    require_beta_header: bool = Field(
        default=False, description="reject requests without 'OpenAI-Beta: assistants=v2'"
    )
    rate_limit_per_minute: int = Field(
        default=0, ge=0, description="requests per minute per API key; 0 = unlimited"
    )
    poll_after_ms: int = Field(default=500, ge=0)
    log_level: str = "info"

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


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, the optional TOML file and explicit overrides."""
    clean = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**clean)
