"""The Data Processor: git -> Kafka (mock cluster) -> consume -> same store as a direct run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("confluent_kafka")

from forgelens.engine import consume as consume_mod
from forgelens.engine.consume import consume
from forgelens.engine.git_collect import GitCollectOptions, collect_git
from forgelens.sinks.kafka import KafkaSink
from forgelens.store import Store, open_store
from tests.conftest import git
from tests.sinks.mock_cluster import MockCluster

# a member that vanished is given up quickly (the default waits 45 s per rebalance)
FAST = {"session.timeout.ms": 3000, "heartbeat.interval.ms": 300}

SAME = {
    "commits": "SELECT repository_id, sha, author_email, authored_at, message, additions, "
    "deletions, files_changed, is_merge, parents FROM commits ORDER BY sha",
    "commit_files": "SELECT repository_id, sha, path, additions, deletions, change_type, old_path "
    "FROM commit_files ORDER BY sha, path",
    "repositories": "SELECT id, source, full_name, name FROM repositories",
    "runs": "SELECT run_id, status, commits_collected FROM git_collection_runs",
}


def _repo(make_repo: Any, commits: int = 8) -> Path:
    repo = make_repo("src")
    for i in range(commits):
        (repo / f"f{i % 3}.txt").write_text(f"line {i}\n" * (i + 1))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"change {i}")
    return repo


def _collect_with_sink(tmp_path: Path, repo: Path, sink: KafkaSink | None) -> Store:
    name = "with_sink" if sink else "direct"
    store = open_store(f"duckdb:///{tmp_path / (name + '.duckdb')}")
    opts = GitCollectOptions(cache_dir=tmp_path / "cache", jobs=1, batch_size=3, sink=sink)
    collect_git(store, [str(repo)], opts)
    return store


def _same(a: Store, b: Store) -> None:
    for name, sql in SAME.items():
        assert a.query(sql) == b.query(sql), name


def test_collect_to_kafka_then_consume_into_postgres_equals_direct(
    tmp_path: Path, make_repo: Any, kafka_cluster: MockCluster, pg_url: str
) -> None:
    repo = _repo(make_repo)
    sink = KafkaSink(kafka_cluster.bootstrap, tmp_path / "spool.jsonl")
    direct = _collect_with_sink(tmp_path, repo, sink)
    sink.close()
    assert sink.stats.spooled == 0
    assert sink.stats.delivered == sink.stats.produced > 8

    import confluent_kafka  # messages that are not ours, among the real ones

    producer = confluent_kafka.Producer({"bootstrap.servers": kafka_cluster.bootstrap})
    producer.produce("git.commits", b"not json")
    producer.produce("git.commits", b'{"event_type": "what_is_this", "data": {}}')
    producer.flush(10)

    processed = open_store(pg_url)
    stats = consume(processed, kafka_cluster.bootstrap, idle_seconds=3, batch_size=7)
    assert stats.messages == sink.stats.delivered + 2
    assert stats.invalid == 2  # sent to the DLQ; the processor went on
    assert len(kafka_cluster.read(["git.dlq"], expect=2)) == 2
    _same(direct, processed)
    assert processed.query("SELECT status FROM git_collection_runs") == [("completed",)]
    direct.close()
    processed.close()


def test_a_crash_before_the_offset_commit_re_reads_and_converges(
    tmp_path: Path, make_repo: Any, kafka_cluster: MockCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(make_repo, commits=5)
    sink = KafkaSink(kafka_cluster.bootstrap, tmp_path / "spool.jsonl")
    direct = _collect_with_sink(tmp_path, repo, sink)
    sink.close()
    target = open_store(f"duckdb:///{tmp_path / 'processed.duckdb'}")

    real_commit = consume_mod._commit

    def crash(consumer: Any, kafka: Any) -> None:
        raise SystemExit("killed between the store write and the offset commit")

    monkeypatch.setattr(consume_mod, "_commit", crash)
    with pytest.raises(SystemExit):
        consume(
            target,
            kafka_cluster.bootstrap,
            group_id="g1",
            batch_size=4,
            idle_seconds=2,
            config=FAST,
        )
    written = sum(
        target.query(f"SELECT count(*) FROM {t}")[0][0]
        for t in ("repositories", "commits", "commit_files", "git_collection_runs")
    )
    assert written > 0  # the batch reached the store, its offsets did not

    monkeypatch.setattr(consume_mod, "_commit", real_commit)
    stats = consume(target, kafka_cluster.bootstrap, group_id="g1", idle_seconds=3, config=FAST)
    assert stats.messages == sink.stats.delivered  # everything re-read from the start
    _same(direct, target)
    again = consume(target, kafka_cluster.bootstrap, group_id="g1", idle_seconds=2, config=FAST)
    assert again.messages == 0  # offsets are committed now
    direct.close()
    target.close()
