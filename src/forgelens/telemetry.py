"""Events any layer may report without importing the service: listeners subscribe here.

The forge HTTP client calls ``forge_call("github", 200)`` once per answer; the service's
metrics (``git_collector_forge_api_calls_total``) listen. No listener, no cost.
"""

from __future__ import annotations

from collections.abc import Callable

FORGE_CALL_LISTENERS: list[Callable[[str, int], None]] = []


def forge_call(forge: str, status: int) -> None:
    for listener in FORGE_CALL_LISTENERS:
        listener(forge, status)
