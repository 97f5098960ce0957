"""Settings of the service and workers (env ``FORGELENS_*`` plus the seed's ``REDIS_URL`` ...).

``ServiceSettings`` extends the one ``Settings`` tree, so every variable forgelens reads is
still declared in one place per area and documented in the README's service section.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from forgelens.config import Settings
from forgelens.engine.queue import QueueConfig

_F = "FORGELENS_"


class ServiceSettings(Settings):
    host: str = Field(default="127.0.0.1", validation_alias=_F + "HOST")
    port: int = Field(default=8000, validation_alias=_F + "PORT")
    cors_origins: str = Field(default="", validation_alias=_F + "CORS_ORIGINS")  # comma list
    # Self-hosted forges: "git.corp.example=github,gitlab.corp.example=gitlab" (host=kind).
    forge_hosts: str = Field(default="", validation_alias=_F + "FORGE_HOSTS")
    # Of those, the ones a job may reach at a private address: "git.corp.example,..."
    forge_private_hosts: str = Field(default="", validation_alias=_F + "FORGE_PRIVATE_HOSTS")
    docs: bool = Field(default=True, validation_alias=_F + "DOCS")  # /docs and /openapi.json
    metrics_public: bool = Field(default=False, validation_alias=_F + "METRICS_PUBLIC")
    rate_limit_per_minute: int = Field(default=600, validation_alias=_F + "RATE_LIMIT_PER_MINUTE")
    # Refused attempts (bad key, bad signature) per client address per minute; past it: 429.
    denied_per_minute: int = Field(default=60, validation_alias=_F + "DENIED_PER_MINUTE")
    webhook_max_bytes: int = Field(
        default=25 * 1024 * 1024, validation_alias=_F + "WEBHOOK_MAX_BYTES"
    )
    # Webhook secrets are no fields: each forge's descriptor names its own
    # (FORGELENS_GITHUB_WEBHOOK_SECRET, FORGELENS_GITLAB_WEBHOOK_TOKEN, ...; Webhooks.secrets),
    # read with Settings.secret like the forges' tokens.
    redis_prefix: str = Field(default="", validation_alias=_F + "REDIS_PREFIX")
    sync_interval_minutes: int = Field(default=60, validation_alias=_F + "SYNC_INTERVAL_MINUTES")
    backfill_interval_minutes: int = Field(
        default=30, validation_alias=_F + "BACKFILL_INTERVAL_MINUTES"
    )
    schedule: bool = Field(default=True, validation_alias=_F + "SCHEDULE")
    job_timeout_seconds: int = Field(default=3600, validation_alias=_F + "JOB_TIMEOUT_SECONDS")
    job_lease_extra_seconds: int = Field(
        default=10, validation_alias=_F + "JOB_LEASE_EXTRA_SECONDS"
    )
    job_max_tries: int = Field(default=5, validation_alias=_F + "JOB_MAX_TRIES")
    # Retention: "pr_comments.body=365d,issue_comments.body=365d,audit_log=730d" (see retention).
    retention: str = Field(default="audit_log=730d", validation_alias=_F + "RETENTION")

    def cors_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    def self_hosted(self) -> dict[str, str]:
        """{host: forge kind} of the self-hosted forges named in ``FORGELENS_FORGE_HOSTS``."""
        out: dict[str, str] = {}
        for item in self.forge_hosts.split(","):
            host, _, kind = item.strip().partition("=")
            if host:
                out[host.strip().lower()] = (kind or "github").strip()
        return out

    def queue_config(self) -> QueueConfig:
        return QueueConfig(
            redis_url=self.redis_url,
            prefix=self.redis_prefix,
            job_timeout_seconds=self.job_timeout_seconds,
            max_tries=self.job_max_tries,
            lease_extra_seconds=self.job_lease_extra_seconds,
            sync_interval_minutes=self.sync_interval_minutes,
            backfill_interval_minutes=self.backfill_interval_minutes,
            schedule=self.schedule,
            retention=self.retention,
            cache_dir=self.cache_dir,
            flush_seconds=self.run_flush_seconds,
            private_hosts=tuple(
                h.strip().lower() for h in self.forge_private_hosts.split(",") if h.strip()
            ),
        )


@lru_cache(maxsize=1)
def get_service_settings() -> ServiceSettings:
    return ServiceSettings()
