"""Settings from the environment, a ``.env`` file and command-line flags (pydantic-settings).

Secrets are ``SecretStr`` and may also come from files (``GITHUB_TOKEN_FILE`` and the like) so
that Docker and Kubernetes secrets work without putting tokens in the environment.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_SECRET_FIELDS = (
    "github_token",
    "gitlab_token",
    "bitbucket_token",
    "gitea_token",
    "github_app_private_key",
)


class Settings(BaseSettings):
    """Every setting forgelens reads. Env names are the field names upper-cased."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field(
        default="duckdb:///forgelens.duckdb", validation_alias="FORGELENS_DATABASE_URL"
    )
    cache_dir: Path = Field(
        default=Path.home() / ".cache" / "forgelens", validation_alias="FORGELENS_CACHE_DIR"
    )
    log_level: str = "INFO"
    kafka_brokers: str | None = None
    redis_url: str | None = None

    github_token: SecretStr | None = None
    gitlab_token: SecretStr | None = None
    bitbucket_token: SecretStr | None = None
    gitea_token: SecretStr | None = None  # Gitea and Forgejo
    github_app_id: str | None = None
    github_app_private_key: SecretStr | None = None

    stuck_run_after_seconds: int = Field(
        default=2 * 3600, validation_alias="FORGELENS_STUCK_RUN_AFTER_SECONDS"
    )
    run_flush_seconds: float = Field(default=5.0, validation_alias="FORGELENS_RUN_FLUSH_SECONDS")

    @model_validator(mode="after")
    def _secrets_from_files(self) -> Settings:
        for name in _SECRET_FIELDS:
            path = os.environ.get(f"{name.upper()}_FILE")
            if getattr(self, name) is None and path:
                try:
                    value = Path(path).read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise ValueError(f"{name.upper()}_FILE={path} cannot be read: {exc}") from exc
                setattr(self, name, SecretStr(value))
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
