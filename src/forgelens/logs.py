"""structlog set-up: pretty in a terminal, JSON in services; tokens never reach a line."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# GitHub token prefixes, GitLab personal tokens, Bearer/Basic headers, URL credentials.
# (A header value has a digit, capital or symbol: prose such as "token rejected" stays.)
_SECRET_RE = re.compile(
    r"(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_\-]{20,}"
    r"|(?i:bearer|token|basic)\s+(?=\S*[^a-z\s])[A-Za-z0-9._\-+/=]{8,}|(?<=://)[^/\s:@]+:[^/\s@]+(?=@))"
)


def redact(text: str) -> str:
    """Replace anything shaped like a credential with ``[REDACTED]``."""
    return _SECRET_RE.sub("[REDACTED]", text)


def _redact_processor(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if isinstance(value, str):
            event_dict[key] = redact(value)
    return event_dict


class _Stderr:
    """Whatever ``sys.stderr`` is at the time of writing (not at configure time): a process
    that swaps it (tests capturing output, a daemon) never writes to a closed stream."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(level: str = "INFO", json: bool | None = None) -> None:
    """Configure structlog once per process. ``json`` defaults to "stderr is not a terminal"."""
    json = not sys.stderr.isatty() if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
