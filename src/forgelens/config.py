"""Settings from the environment, a ``.env`` file and command-line flags (pydantic-settings).

Secrets are ``SecretStr`` and may also come from files (``GITHUB_TOKEN_FILE`` and the like) so
that Docker and Kubernetes secrets work without putting tokens in the environment.

A forge's own settings (its token, ``GITEA_TOKEN``; its webhook secret,
``FORGELENS_GITHUB_WEBHOOK_SECRET``) are not fields here: its ``Forge`` descriptor names them
and ``Settings.secret`` / ``Settings.value`` read any of them by name, with the same rules (a
value given to ``Settings(...)``, else the environment, else ``.env``, else ``<NAME>_FILE``),
so a new forge needs no edit of this module.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_SECRET_FIELDS = ("github_app_private_key",)


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

    github_app_id: str | None = None
    github_app_private_key: SecretStr | None = None

    stuck_run_after_seconds: int = Field(
        default=2 * 3600, validation_alias="FORGELENS_STUCK_RUN_AFTER_SECONDS"
    )
    run_flush_seconds: float = Field(default=5.0, validation_alias="FORGELENS_RUN_FLUSH_SECONDS")

    # forge settings given by name to Settings(...) (upper-cased), and the .env file read
    _given: dict[str, Any] = PrivateAttr(default_factory=dict)
    _env_file: Any = PrivateAttr(default=None)

    def __init__(self, **values: Any) -> None:
        known = {n.upper() for n in type(self).model_fields} | {
            str(f.validation_alias).upper() for f in type(self).model_fields.values()
        }
        given = {k.upper(): v for k, v in values.items() if k.upper() not in known}
        given = {k: v for k, v in given.items() if not k.startswith("_")}
        super().__init__(**values)
        self._given = given
        self._env_file = values.get("_env_file", self.model_config.get("env_file"))

    def value(self, name: str) -> str | None:
        """The setting ``name`` (``GERRIT_USERNAME``, any case) a forge's descriptor names:
        given to ``Settings(...)`` (even as None), else the environment, else ``.env``, else the
        file ``<NAME>_FILE`` names (a Docker or Kubernetes secret)."""
        key = name.upper()
        if key in self._given:
            given = self._given[key]
            if isinstance(given, SecretStr):
                return given.get_secret_value()
            return None if given is None else str(given)
        if os.environ.get(key):
            return os.environ[key]
        if self._env_file and (found := _dotenv(str(self._env_file)).get(key)):
            return found
        path = os.environ.get(f"{key}_FILE")
        if not path:
            return None
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"{key}_FILE={path} cannot be read: {exc}") from exc

    def secret(self, name: str) -> SecretStr | None:
        """``value(name)`` kept secret: a token (``GITHUB_TOKEN``), a webhook secret."""
        found = self.value(name)
        return SecretStr(found) if found else None

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


def _dotenv(path: str) -> dict[str, str]:
    """The ``.env`` file's values by upper-cased name ({} when there is none)."""
    if not Path(path).is_file():
        return {}
    return {k.upper(): v for k, v in dotenv_values(path).items() if v is not None}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
