"""Local git: bare mirrors mined with one ``git log --numstat`` stream (``custom_etl``)."""

from __future__ import annotations

from forgelens.sources.git.source import (
    DATA_SOURCE,
    SOURCE,
    GitRepo,
    MineOptions,
    count_commits,
    existing_commits,
    mine,
    open_repo,
    ref_tips,
)

__all__ = [
    "DATA_SOURCE",
    "SOURCE",
    "GitRepo",
    "MineOptions",
    "count_commits",
    "existing_commits",
    "mine",
    "open_repo",
    "ref_tips",
]
