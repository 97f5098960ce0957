"""Two API replicas on one PostgreSQL store receive copies of the same webhook deliveries at
the same moment (a forge's retry of a slow delivery, sent by the load balancer elsewhere):
each delivery is handled once, every other copy is answered ``duplicate``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

import forgelens
from forgelens.store import open_store
from tests.service.conftest import SECRETS
from tests.service.test_webhooks import body_of, github_headers

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def replica(db: str, tmp_path: Path) -> Iterator[str]:
    """One ``forgelens serve`` process on ``db``; yields its base URL once it answers."""
    port = _free_port()
    env = {
        **os.environ,
        "FORGELENS_DATABASE_URL": db,
        "FORGELENS_CACHE_DIR": str(tmp_path / "cache"),
        "FORGELENS_SCHEDULE": "false",
        "FORGELENS_GITHUB_WEBHOOK_SECRET": SECRETS["github"],
        "PYTHONPATH": str(Path(forgelens.__file__).parents[1]),  # the code under test
    }
    env.pop("REDIS_URL", None)
    cmd = [sys.executable, "-m", "forgelens", "serve", "--port", str(port), "--db", db]
    log = tmp_path / f"replica-{port}.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/health", timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"the replica did not start: {tail}") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.mark.timeout(180)
def test_a_delivery_sent_to_two_replicas_at_once_is_handled_once(
    pg_url: str, tmp_path: Path
) -> None:
    body = body_of("github_ping")
    rounds, copies = 12, 3  # copies of each delivery per replica, all sent at one moment
    with replica(pg_url, tmp_path) as first, replica(pg_url, tmp_path) as second:
        answers: list[tuple[str, int, str]] = []
        lock = threading.Lock()
        for n in range(rounds):
            delivery = f"replicas-{n}"
            headers = github_headers(body, "ping", delivery)
            start = threading.Barrier(2 * copies)

            def send(
                url: str,
                delivery: str = delivery,
                headers: dict[str, str] = headers,
                start: threading.Barrier = start,
            ) -> None:
                with httpx.Client(base_url=url, timeout=30) as client:
                    start.wait()
                    answer = client.post("/api/v1/webhooks/github", content=body, headers=headers)
                with lock:
                    answers.append((delivery, answer.status_code, answer.json()["status"]))

            threads = [
                threading.Thread(target=send, args=(url,))
                for url in (first, second)
                for _ in range(copies)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
    handled = Counter(d for d, _code, status in answers if status != "duplicate")
    assert len(answers) == rounds * 2 * copies
    assert {d: handled[d] for d in handled if handled[d] != 1} == {}
    assert len(handled) == rounds
    assert {(code, status) for _d, code, status in answers} == {
        (202, "recorded"),
        (200, "duplicate"),
    }
    store = open_store(pg_url)
    try:
        rows = store.query("SELECT outcome, count(*) FROM webhook_deliveries GROUP BY outcome")
    finally:
        store.close()
    assert rows == [("recorded", rounds)]
