"""The Kafka commands as a user runs them: collect --sink kafka, sink status/flush, consume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("confluent_kafka")

from forgelens.sinks.kafka import KafkaSink
from forgelens.sinks.topics import Row
from forgelens.store import open_store
from tests.conftest import git
from tests.sinks.mock_cluster import MockCluster


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forgelens", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, **env},
    )


def test_spool_flush_collect_and_consume_from_the_command_line(
    tmp_path: Path, make_repo: Any, kafka_cluster: MockCluster, pg_url: str
) -> None:
    cache = tmp_path / "cache"
    down = KafkaSink("127.0.0.1:1", cache / "kafka-spool.jsonl", config={"message.timeout.ms": 300})
    down.publish([Row("git_collection_runs", {"run_id": "r-1", "status": "failed"})], source="x")
    down.close()
    env = {"FORGELENS_CACHE_DIR": str(cache), "KAFKA_BROKERS": kafka_cluster.bootstrap}

    status = _cli("sink", "status", env=env)
    assert "1 message(s) spooled" in status.stdout, status.stderr
    flushed = _cli("sink", "flush", env=env)
    assert flushed.returncode == 0, flushed.stderr
    assert "re-sent 1 message(s): 1 acknowledged, 0 still spooled" in flushed.stdout

    repo = make_repo("r")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    db = f"duckdb:///{tmp_path / 'c.duckdb'}"
    collected = _cli("collect", f"git:{repo}", "--db", db, env=env)  # KAFKA_BROKERS: on
    assert collected.returncode == 0, collected.stderr
    assert "'spooled': 0" in collected.stdout
    assert "'delivered': " in collected.stdout

    processor = subprocess.Popen(  # runs until stopped, as a service would
        [sys.executable, "-m", "forgelens", "consume", "--db", pg_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    store = open_store(pg_url)
    deadline = time.monotonic() + 60
    done_sql = (
        "SELECT (SELECT count(*) FROM commits) + (SELECT count(*) FROM git_collection_runs "
        "WHERE run_id = 'r-1' OR status = 'completed')"
    )
    while time.monotonic() < deadline and store.query(done_sql)[0][0] < 3:
        time.sleep(0.3)
    processor.send_signal(signal.SIGTERM)  # docker stop: finish the batch, commit, exit 0
    out, err = processor.communicate(timeout=30)
    assert processor.returncode == 0, err
    assert "consumed:" in out
    assert store.query("SELECT message FROM commits") == [("first",)]
    runs = store.query("SELECT run_id, status FROM git_collection_runs ORDER BY run_id")
    store.close()
    assert ("r-1", "failed") in runs
    assert any(status == "completed" for _, status in runs)


def test_unknown_sink_is_a_one_line_error(tmp_path: Path) -> None:
    done = _cli(
        "collect",
        "git:.",
        "--sink",
        "rabbit",
        "--db",
        f"duckdb:///{tmp_path / 'x.duckdb'}",
        env={},
    )
    assert done.returncode == 2
    assert "unknown sink 'rabbit'" in done.stderr
