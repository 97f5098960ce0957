"""``forgelens worker --burst`` with a test-only "github" collector that mines a local git
repository (``FL_REPO``) and, while the file ``FL_HANG`` exists, hangs inside the run right
after its first batch is committed (it touches ``FL_STARTED`` first): a worker to kill -9."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from forgelens.cli import main
from forgelens.engine.collect import CollectOptions, CollectResult, collect
from forgelens.engine.progress import NullProgress, Progress
from forgelens.sources.spec import SourceSpec
from forgelens.store import Store
from tests.engine.collecthelp import swap_collector


class HangAfterFirstBatch(NullProgress):
    def advance(self, n: int = 1) -> None:
        if Path(os.environ["FL_HANG"]).exists():
            Path(os.environ["FL_STARTED"]).touch()
            time.sleep(120)


def local_git(
    store: Store, specs: list[SourceSpec], opts: CollectOptions, progress: Progress
) -> CollectResult:
    return collect(store, [f"git:{os.environ['FL_REPO']}"], opts, HangAfterFirstBatch())[0]


if __name__ == "__main__":
    mp = pytest.MonkeyPatch()
    swap_collector(mp, "github", local_git)
    sys.exit(main(["worker", "--burst", "--jobs", "1"]))
