"""KafkaSink against librdkafka's mock cluster: envelope, topics, keys, spool, dead letters."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from forgelens import records
from forgelens.sinks.kafka import KafkaSink
from forgelens.sinks.topics import Row
from tests.sinks.mock_cluster import MockCluster, envelope

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
REPO = "github:o/r"


def _commit(sha: str, message: str = "m") -> records.Commit:
    return records.Commit(REPO, sha, "A", "a@x", NOW, "A", "a@x", NOW, message, 1, 2, 1, False)


def _every_kind() -> list[object]:
    return [
        records.Repository(REPO, "github", "o/r", "r", owner="o"),
        _commit("c1"),
        records.CommitFile(REPO, "c1", "a.py", 1, 0, "added"),
        records.PullRequest(REPO, 7, "t", "open", NOW, NOW, labels=["bug"]),
        records.Review(REPO, 7, "rv1", "bob", "APPROVED", NOW),
        records.Comment(REPO, 7, "cm1", "bob", "lgtm", NOW),
        records.IssueComment(REPO, 3, "ic1", "ann", "+1", NOW),
        records.Issue(REPO, 3, "bug", "open", NOW, NOW),
        records.CiRun(REPO, "99", "ci", "completed", "success", NOW),
        records.Team("github", "o", "core"),
        Row("git_collection_runs", {"run_id": "github-2026-01-02-030405", "status": "running"}),
    ]


def _sink(cluster: MockCluster | str, tmp_path: Path, **config: object) -> KafkaSink:
    brokers = cluster if isinstance(cluster, str) else cluster.bootstrap
    return KafkaSink(
        brokers, tmp_path / "spool.jsonl", config={"message.timeout.ms": 2000, **config}
    )


def test_every_record_kind_lands_on_its_topic_in_the_seed_envelope(
    kafka_cluster: MockCluster, tmp_path: Path
) -> None:
    sink = _sink(kafka_cluster, tmp_path)
    sink.publish(_every_kind(), source="github")
    sink.flush()
    assert sink.stats.delivered == sink.stats.produced == 11
    assert sink.stats.spooled == sink.stats.dead_lettered == 0
    sink.close()

    topics = {
        "git.repositories": ["repository_updated"],
        "git.commits": ["commit_created", "commit_file_changed"],
        "git.pull_requests": ["pull_request_updated"],
        "git.reviews": ["review_submitted"],
        "git.comments": ["pr_comment_created", "issue_comment_created"],
        "git.issues": ["issue_updated"],
        "git.ci_runs": ["ci_run_updated"],
        "git.people": ["team_updated"],
        "git.collection_runs": ["collection_run_updated"],
    }
    msgs = kafka_cluster.read(list(topics), expect=11)
    assert len(msgs) == 11
    seen: dict[str, list[str]] = {}
    for msg in msgs:
        env = envelope(msg)
        assert set(env) == {"event_type", "timestamp", "source", "repository_id", "data"}
        assert env["source"] == "github"
        seen.setdefault(msg.topic(), []).append(env["event_type"])
        if msg.topic() not in ("git.people", "git.collection_runs"):
            assert msg.key() == REPO.encode()
            assert env["repository_id"] == REPO
        assert isinstance(env["data"]["_version"], int)
    assert {t: sorted(v) for t, v in seen.items()} == {t: sorted(v) for t, v in topics.items()}
    commit = next(
        envelope(m)
        for m in msgs
        if m.topic() == "git.commits" and m.value().find(b"commit_created") > 0
    )
    assert commit["data"]["sha"] == "c1"
    assert commit["data"]["authored_at"] == "2026-01-02T03:04:05+00:00"


def test_one_repository_keeps_its_order(kafka_cluster: MockCluster, tmp_path: Path) -> None:
    sink = _sink(kafka_cluster, tmp_path)
    shas = [f"s{i:03d}" for i in range(50)]
    sink.publish([_commit(s) for s in shas], source="github")
    sink.close()
    msgs = kafka_cluster.read(["git.commits"], expect=50)
    assert [envelope(m)["data"]["sha"] for m in msgs] == shas  # one key, one partition


def test_brokers_going_down_spools_and_the_next_run_resends(tmp_path: Path) -> None:
    first = MockCluster()
    sink = _sink(first, tmp_path)
    sink.publish([_commit("before")], source="git")
    sink.flush()
    assert sink.stats.delivered == 1

    first.down()  # broker failure: the cluster is gone
    sink.publish([_commit(f"during{i}") for i in range(4)], source="git")
    sink.flush()  # returns once every message is acknowledged or spooled
    assert (sink.stats.delivered, sink.stats.spooled) == (1, 4)
    sink.close()
    spool = tmp_path / "spool.jsonl"
    assert len(spool.read_text().splitlines()) == 4  # durable, one line per message

    second = MockCluster()  # the next run, brokers back
    again = _sink(second, tmp_path)
    assert again.resend() == 4
    assert (again.stats.delivered, again.stats.spooled) == (4, 0)
    again.close()
    assert again.spool.pending() == 0
    got = sorted(envelope(m)["data"]["sha"] for m in second.read(["git.commits"], expect=4))
    assert got == [f"during{i}" for i in range(4)]
    second.down()


def test_unreachable_brokers_lose_nothing(tmp_path: Path) -> None:
    sink = _sink("127.0.0.1:1", tmp_path, **{"message.timeout.ms": 500})
    sink.publish([_commit("a"), _commit("b")], source="git")
    sink.close()
    assert sink.stats.spooled == 2
    assert sink.spool.pending() == 2
    again = _sink("127.0.0.1:1", tmp_path, **{"message.timeout.ms": 500})
    assert again.resend() == 2  # still down: spooled again, not dropped
    again.close()
    assert again.spool.pending() == 2


def test_unserializable_and_oversized_records_go_to_the_dlq(
    kafka_cluster: MockCluster, tmp_path: Path
) -> None:
    bad = _commit("bad")
    bad.parents = [object()]  # type: ignore[list-item]
    huge = _commit("huge", "x" * 5000)
    sink = _sink(kafka_cluster, tmp_path, **{"message.max.bytes": 4000})
    sink.publish([_commit("good"), bad, huge], source="git")
    sink.close()
    assert sink.stats.dead_lettered == 2
    assert sink.stats.spooled == 0
    dead = [envelope(m) for m in kafka_cluster.read(["git.dlq"], expect=2)]
    errors = sorted(d["data"]["error"] for d in dead)
    assert "cannot serialize" in errors[0]
    assert "object is not JSON serializable" in errors[0]
    assert "larger than the brokers accept" in errors[1]
    assert all(d["repository_id"] == REPO and d["data"]["table"] == "commits" for d in dead)
    good = kafka_cluster.read(["git.commits"], expect=1)
    assert [envelope(m)["data"]["sha"] for m in good] == ["good"]


def test_sink_without_brokers_is_bad_input(tmp_path: Path) -> None:
    from forgelens.errors import BadInput
    from forgelens.sinks.kafka import open_kafka_sink

    with pytest.raises(BadInput, match="KAFKA_BROKERS"):
        open_kafka_sink(None, tmp_path)


def test_a_run_counts_dead_letters_as_errors_and_publishes_its_ledger(
    kafka_cluster: MockCluster, tmp_path: Path
) -> None:
    from forgelens.engine.runs import run_settings, start_run
    from forgelens.store import open_store

    bad = _commit("bad")
    bad.parents = [object()]  # type: ignore[list-item]
    store = open_store(f"duckdb:///{tmp_path / 'r.duckdb'}")
    sink = _sink(kafka_cluster, tmp_path)
    with start_run(store, "custom_etl", run_settings(), sink=sink):
        sink.publish([_commit("ok"), bad], source="git")
    rows = store.query("SELECT status, errors FROM git_collection_runs")
    store.close()
    sink.close()
    assert rows == [("completed", 1)]
    ledger = [envelope(m) for m in kafka_cluster.read(["git.collection_runs"], expect=2)]
    assert [e["data"]["status"] for e in ledger] == ["running", "completed"]
    assert ledger[-1]["data"]["errors"] == 1
