"""``forgelens serve | worker | keys | retention``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from forgelens.cli import main
from forgelens.store import open_store


def test_keys_create_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"duckdb:///{tmp_path / 'k.duckdb'}"
    assert main(["keys", "create", "--role", "operator", "--name", "ci", "--db", db]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("fl_")
    assert main(["keys", "list", "-f", "json", "--db", db]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(k["role"], k["name"], k["revoked_at"]) for k in listed] == [("operator", "ci", None)]
    assert key not in json.dumps(listed)
    assert main(["keys", "revoke", listed[0]["key_id"], "--db", db]) == 0
    assert main(["keys", "revoke", "nope", "--db", db]) == 4
    assert main(["keys", "create", "--role", "root", "--db", db]) == 2
    err = capsys.readouterr().err
    assert "unknown role 'root'" in err
    assert "no API key 'nope'" in err
    store = open_store(db)
    actions = store.query("SELECT action FROM audit_log ORDER BY occurred_at")
    assert actions == [("keys.create",), ("keys.revoke",)]
    store.close()


def test_retention_apply_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"duckdb:///{tmp_path / 'r.duckdb'}"
    open_store(db).close()
    args = [
        "retention",
        "apply",
        "--policy",
        "audit_log=30d,issue_comments.body=1y",
        "--dry-run",
        "-f",
        "json",
        "--db",
        db,
    ]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(r["table"], r["action"], r["rows"]) for r in report] == [
        ("audit_log", "delete", 0),
        ("issue_comments", "anonymize", 0),
    ]
    assert main(["retention", "apply", "--policy", "bogus=1d", "--db", db]) == 2


def test_worker_needs_redis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["worker", "--db", f"duckdb:///{tmp_path / 'w.duckdb'}"]) == 2
    assert "needs REDIS_URL" in capsys.readouterr().err


def test_serve_answers_health_on_a_real_port(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "FORGELENS_DATABASE_URL": f"duckdb:///{tmp_path / 's.duckdb'}",
        "FORGELENS_SCHEDULE": "false",
    }
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "forgelens", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert answer.json()["status"] == "healthy"
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/runs").status_code == 401
    finally:
        proc.terminate()
        proc.wait(10)
        log = proc.stderr.read().decode() if proc.stderr else ""
        if proc.stderr is not None:
            proc.stderr.close()
    request_lines = [
        json.loads(line)
        for line in log.splitlines()
        if line.startswith("{") and '"request"' in line
    ]
    assert request_lines
    assert all("request_id" in line for line in request_lines)
