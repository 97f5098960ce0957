"""Shared helpers for tests that run the simulated forge on a real socket."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from forgelens.config import Settings
from forgelens.engine.collect import CollectOptions
from forgelens.sources.github import GitHubSource, from_options
from forgelens.sources.http import ClientPolicy
from forgelens.testing.forge_sim import ForgeSim, SimSize, generate, serve


def sim_for(size: SimSize | None = None, seed: int = 1, **kwargs: Any) -> ForgeSim:
    return ForgeSim(generate(seed, size or SimSize(repos=2, prs_per_repo=12)), **kwargs)


@contextmanager
def running(sim: ForgeSim) -> Iterator[str]:
    with serve(sim) as url:
        yield url


def options(url: str, **extra: Any) -> CollectOptions:
    return CollectOptions(api_url=url, extra={"concurrency": 1, **extra}, flush_seconds=0.0)


def github(url: str, token: str | None = None, fast: bool = True, **extra: Any) -> GitHubSource:
    settings = Settings(github_token=token) if token else Settings(github_token=None)
    source = from_options(options(url, **extra), settings=settings)
    if fast:  # no real sleeping in tests
        source.client._sleep = lambda _s: None
        source.client.policy = ClientPolicy(
            **{**source.client.policy.__dict__, "secondary_wait": 0.0, "backoff_base": 0.0}
        )
    return source
