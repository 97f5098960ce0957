"""Analytics settings: risk weights, sensitive-path globs, thresholds, windows, bots.

Defaults are documented in ``docs/metrics.md``. Override any of them with a TOML file
(``forgelens analyze all --config analytics.toml``), for example::

    high_risk_threshold = 0.6
    [risk_weights]
    sensitive_paths = 0.3
    [sensitive_globs]
    payments = ["**/payments/**"]

A change of configuration makes the next incremental run recompute every repository (the
configuration's hash is kept in ``analytics_state``).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from forgelens.errors import BadInput

DEFAULT_RISK_WEIGHTS: dict[str, float] = {
    "size_lines": 0.15,
    "size_files": 0.10,
    "sensitive_paths": 0.20,
    "few_tests": 0.10,
    "no_approval": 0.15,
    "low_ownership": 0.15,
    "hotspot": 0.10,
    "large_revert": 0.05,
}

DEFAULT_SENSITIVE_GLOBS: dict[str, list[str]] = {
    "migrations": ["**/migrations/**", "**/migrate/**", "**/*.sql"],
    "auth": ["**/auth/**", "**/*auth*", "**/*login*", "**/*permission*", "**/*session*"],
    "security": ["**/security/**", "**/*secret*", "**/*crypto*", "**/*password*"],
    "ci": [
        ".github/workflows/**",
        ".gitlab-ci.yml",
        "**/Jenkinsfile",
        ".circleci/**",
        "azure-pipelines.yml",
        "bitbucket-pipelines.yml",
    ],
    "infrastructure": [
        "**/*.tf",
        "**/terraform/**",
        "**/Dockerfile",
        "**/docker-compose*.yml",
        "**/k8s/**",
        "**/helm/**",
        "**/kubernetes/**",
    ],
    "lockfiles": [
        "**/package-lock.json",
        "**/yarn.lock",
        "**/pnpm-lock.yaml",
        "**/poetry.lock",
        "**/uv.lock",
        "**/Cargo.lock",
        "**/go.sum",
        "**/Gemfile.lock",
        "**/composer.lock",
    ],
}

DEFAULT_TEST_GLOBS: list[str] = [
    "**/test/**",
    "**/tests/**",
    "**/__tests__/**",
    "**/spec/**",
    "**/test_*",
    "**/*_test.*",
    "**/*.test.*",
    "**/*.spec.*",
    "**/*Test.java",
]

DEFAULT_DOC_GLOBS: list[str] = ["**/*.md", "**/*.rst", "**/*.txt", "**/docs/**", "**/LICENSE*"]

DEFAULT_BOTS: list[str] = [
    "dependabot",
    "dependabot-preview",
    "renovate",
    "renovate-bot",
    "github-actions",
    "snyk-bot",
    "greenkeeper",
    "codecov",
    "mergify",
    "pre-commit-ci",
]


@dataclass(frozen=True)
class AnalyticsConfig:
    """Every tunable number of the analytics, with its documented default."""

    windows: tuple[int, ...] = (7, 14, 30, 90)
    risk_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RISK_WEIGHTS))
    high_risk_threshold: float = 0.5
    size_lines_cap: int = 1000
    size_files_cap: int = 50
    few_tests_min_code_lines: int = 50
    few_tests_ratio: float = 0.1
    low_ownership_share: float = 0.1
    history_days: int = 90
    hotspot_changes: int = 10
    large_revert_lines: int = 200
    top_risky_files: int = 5
    feature_threshold: float = 0.5
    # embedding classifier (the [ai] extra; docs/metrics.md "Features by embedding")
    ai_features: bool = False
    ai_weak_rules: list[str] = field(default_factory=lambda: ["title", "none"])
    ai_neighbours: int = 7
    ai_min_similarity: float = 0.25
    ai_learn_limit: int = 1000
    sensitive_globs: dict[str, list[str]] = field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_SENSITIVE_GLOBS.items()}
    )
    test_globs: list[str] = field(default_factory=lambda: list(DEFAULT_TEST_GLOBS))
    doc_globs: list[str] = field(default_factory=lambda: list(DEFAULT_DOC_GLOBS))
    bots: list[str] = field(default_factory=lambda: list(DEFAULT_BOTS))
    include_bots: bool = False
    # addresses never used to merge identities, beyond identity.GENERIC_EMAILS (fnmatch patterns)
    generic_emails: list[str] = field(default_factory=list)
    duckdb_memory_limit: str = "3GB"
    dora: dict[str, Any] = field(default_factory=dict)  # [dora]: dora_model.Rules overrides

    def config_hash(self) -> str:
        """A short hash of every setting: a change means every repository is recomputed."""
        blob = json.dumps(asdict(self), sort_keys=True, default=list)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @classmethod
    def load(cls, path: Path | None) -> AnalyticsConfig:
        """Defaults, overridden by the TOML file at ``path`` (when given)."""
        if path is None:
            return cls()
        try:
            data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise BadInput(
                f"analytics config {path}: {exc}; fix the file or drop --config"
            ) from exc
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BadInput(
                f"analytics config {path}: unknown setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        base = cls()
        merged: dict[str, Any] = {}
        for key, value in data.items():
            if key == "risk_weights":
                bad = sorted(set(value) - set(DEFAULT_RISK_WEIGHTS))
                if bad:
                    raise BadInput(
                        f"analytics config {path}: unknown risk weight(s) {', '.join(bad)}; "
                        f"known: {', '.join(DEFAULT_RISK_WEIGHTS)}"
                    )
                merged[key] = {**base.risk_weights, **{k: float(v) for k, v in value.items()}}
            elif key == "sensitive_globs":
                merged[key] = {**base.sensitive_globs, **value}
            elif key == "windows":
                merged[key] = tuple(int(w) for w in value)
            else:
                merged[key] = value
        if any(w < 1 for w in merged.get("windows", base.windows)):
            raise BadInput(f"analytics config {path}: windows must be whole days >= 1")
        return cls(**{**asdict(base), **merged})
