"""Kafka figures on librdkafka's mock cluster (real protocol, local sockets).

1. Messages/s that ``KafkaSink`` publishes (envelope + JSON + idempotent lz4 producer, every
   delivery acknowledged) versus raw librdkafka producing the same bytes: the ratio is the
   sink's own overhead.
2. End to end: a generated git repository collected with ``--sink kafka``, then
   ``forgelens consume`` into PostgreSQL, compared with a direct collection into PostgreSQL:
   the final tables must be equal.

    nice -n 10 .venv/bin/python benchmarks/kafka.py [--messages 200000] [--commits 2000]

Writes benchmarks/results/kafka.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import confluent_kafka

from forgelens import records
from forgelens.engine.consume import consume
from forgelens.engine.git_collect import GitCollectOptions, collect_git
from forgelens.sinks.kafka import DEFAULT_CONFIG, KafkaLog, KafkaSink
from forgelens.sinks.topics import encode
from forgelens.store import Store, open_store

PG_URL = os.environ.get("FORGELENS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
RESULTS = Path(__file__).parent / "results" / "kafka.json"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
# collection_cursors are the collector's own bookmark in its source, not published data
COMPARED = {
    "commits": "SELECT repository_id, sha, author_name, author_email, authored_at, "
    "committer_email, committed_at, message, additions, deletions, files_changed, is_merge, "
    "parents FROM commits ORDER BY repository_id, sha",
    "commit_files": "SELECT repository_id, sha, path, additions, deletions, change_type, "
    "old_path FROM commit_files ORDER BY repository_id, sha, path",
    "repositories": "SELECT id, source, full_name, name, url FROM repositories ORDER BY id",
    "git_collection_runs (count)": "SELECT count(*) FROM git_collection_runs",
}


def mock_cluster() -> tuple[Any, str]:
    holder = confluent_kafka.Producer({"test.mock.num.brokers": 1, "logger": KafkaLog()})
    brokers = holder.list_topics(timeout=10).brokers.values()
    return holder, ",".join(f"{b.host}:{b.port}" for b in brokers)


def bench_produce(n: int, tmp: Path) -> dict[str, float]:
    commits = [
        records.Commit(
            f"github:org/repo{i % 50}",
            f"{i:040x}",
            "Ann",
            "ann@example.com",
            NOW,
            "Ann",
            "ann@example.com",
            NOW,
            f"change {i}: tidy the module",
            i % 40,
            i % 9,
            3,
            False,
            [f"{i - 1:040x}"],
        )
        for i in range(n)
    ]
    holder, brokers = mock_cluster()
    sink = KafkaSink(brokers, tmp / "spool.jsonl")
    started = time.perf_counter()
    for i in range(0, n, 5000):
        sink.publish(commits[i : i + 5000], source="github")
    sink.flush()
    sink_s = time.perf_counter() - started
    assert sink.stats.delivered == n, sink.summary()
    sink.close()

    payloads = [encode(c, source="github", version=1) for c in commits]
    raw = confluent_kafka.Producer(
        {"bootstrap.servers": brokers, **DEFAULT_CONFIG, "logger": KafkaLog()}
    )
    started = time.perf_counter()
    for topic, key, value in payloads:
        while True:
            try:
                raw.produce(topic, value, key)
                break
            except BufferError:
                raw.poll(0.05)
    while len(raw) > 0:
        raw.flush(1.0)
    raw_s = time.perf_counter() - started
    del raw, holder
    return {
        "messages": n,
        "sink_messages_per_s": n / sink_s,
        "raw_produce_messages_per_s": n / raw_s,
        "ratio_sink_vs_raw": raw_s / sink_s,
    }


def make_repo(path: Path, commits: int) -> None:
    """A linear history: each commit edits 3 of 40 files (fast-import, no working tree)."""
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    lines: list[bytes] = []
    for i in range(1, commits + 1):
        msg = f"change {i}\n".encode()
        lines.append(b"commit refs/heads/main\n")
        lines.append(f"mark :{i}\n".encode())
        stamp = 1_700_000_000 + i * 60
        lines.append(f"author Dev{i % 7} <dev{i % 7}@example.com> {stamp} +0000\n".encode())
        lines.append(f"committer Dev{i % 7} <dev{i % 7}@example.com> {stamp} +0000\n".encode())
        lines.append(f"data {len(msg)}\n".encode() + msg)
        if i > 1:
            lines.append(f"from :{i - 1}\n".encode())
        for j in range(3):
            body = "".join(f"line {k} of rev {i}\n" for k in range(i % 30 + j)).encode()
            lines.append(f"M 100644 inline src/mod{(i * 3 + j) % 40}.py\n".encode())
            lines.append(f"data {len(body)}\n".encode() + body)
        lines.append(b"\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=b"".join(lines), check=True)


def table_rows(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    return {name: store.query(sql) for name, sql in COMPARED.items()}


def bench_end_to_end(commits: int, tmp: Path) -> dict[str, Any]:
    repo = tmp / "repo.git"
    make_repo(repo, commits)

    def opts(sink: KafkaSink | None = None) -> GitCollectOptions:
        return GitCollectOptions(cache_dir=tmp / "cache", jobs=1, sink=sink)

    schema = f"fl_bench_kafka_{os.getpid()}"
    direct = open_store(f"{PG_URL}?schema={schema}_direct")
    processed = open_store(f"{PG_URL}?schema={schema}_kafka")
    holder, brokers = mock_cluster()
    try:
        started = time.perf_counter()
        collect_git(direct, [str(repo)], opts())
        direct_s = time.perf_counter() - started

        scratch = open_store(f"duckdb:///{tmp / 'scratch.duckdb'}")
        sink = KafkaSink(brokers, tmp / "spool.jsonl")
        started = time.perf_counter()
        collect_git(scratch, [str(repo)], opts(sink))
        sink.close()
        publish_s = time.perf_counter() - started
        scratch.close()

        started = time.perf_counter()
        stats = consume(processed, brokers, idle_seconds=3, batch_size=5000)
        consume_s = time.perf_counter() - started
        a, b = table_rows(direct), table_rows(processed)
        equal = {name: a[name] == b[name] for name in COMPARED}
        for s in (direct, processed):
            s.execute(f'DROP SCHEMA IF EXISTS "{schema}_direct" CASCADE')
            s.execute(f'DROP SCHEMA IF EXISTS "{schema}_kafka" CASCADE')
    finally:
        direct.close()
        processed.close()
        del holder
    return {
        "commits": commits,
        "commit_files": len(a["commit_files"]),
        "messages": sink.stats.delivered,
        "direct_collect_s": direct_s,
        "collect_with_kafka_sink_s": publish_s,
        "consume_s": consume_s,
        "consume_busy_s": stats.busy_seconds,
        "consume_messages_per_s": stats.messages / stats.busy_seconds
        if stats.busy_seconds
        else None,
        "consumed_messages": stats.messages,
        "tables_equal": equal,
        "all_equal": all(equal.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--commits", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        produce = bench_produce(args.messages, Path(tmp))
        print(
            f"produce  KafkaSink {produce['sink_messages_per_s']:>9,.0f} msg/s | raw librdkafka "
            f"{produce['raw_produce_messages_per_s']:>9,.0f} msg/s = "
            f"{produce['ratio_sink_vs_raw']:.2f}x raw"
        )
        e2e = bench_end_to_end(args.commits, Path(tmp))
        print(
            f"e2e      {e2e['commits']} commits, {e2e['messages']} messages: direct collect "
            f"{e2e['direct_collect_s']:.1f}s | collect+kafka "
            f"{e2e['collect_with_kafka_sink_s']:.1f}s"
            f" | consume -> PostgreSQL {e2e['consume_busy_s']:.1f}s busy "
            f"({e2e['consume_messages_per_s'] or 0:,.0f} msg/s) | tables equal: {e2e['all_equal']}"
        )
    result = {
        "benchmark": "kafka",
        "machine": f"{platform.machine()} {os.cpu_count()} cores (shared)",
        "command": f"nice -n 10 .venv/bin/python benchmarks/kafka.py --messages {args.messages} "
        f"--commits {args.commits}",
        "produce": produce,
        "end_to_end": e2e,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
