"""``forgelens collect github:...`` flags and messages, against the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from forgelens.cli import main
from forgelens.config import get_settings
from forgelens.store import open_store
from forgelens.testing.forge_sim import Budgets, SimSize
from tests.sources.simhelp import running, sim_for


@pytest.fixture(autouse=True)
def _no_ambient_token(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
    structlog.reset_defaults()  # main() bound logging to this test's captured stderr


def test_collect_with_every_forge_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"duckdb:///{tmp_path / 'c.duckdb'}"
    with running(sim_for(SimSize(repos=2, prs_per_repo=4))) as url:
        code = main(
            [
                "collect",
                "github:acme",
                "--api-url",
                url,
                "--api",
                "rest",
                "--pii",
                "hash",
                "--no-wait",
                "--concurrency",
                "2",
                "--db",
                db,
            ]
        )
    assert code == 0, capsys.readouterr().err
    store = open_store(db)
    try:
        assert store.query("SELECT count(*) FROM pull_requests") == [(8,)]
        settings = store.query("SELECT settings FROM git_collection_runs")[0][0]
    finally:
        store.close()
    assert '"api": "rest"' in settings
    assert '"pii": "hash"' in settings


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--api", "soap"], 2, "--api 'soap': use graphql or rest"),
        (["--pii", "blur"], 2, "--pii 'blur': use keep, hash or drop"),
    ],
)
def test_bad_flags_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    with running(sim_for()) as url:
        got = main(
            [
                "collect",
                "github:acme/service-0",
                "--api-url",
                url,
                *args,
                "--db",
                f"duckdb:///{tmp_path / 'x.duckdb'}",
            ]
        )
    assert got == code
    assert message in capsys.readouterr().err


def test_rejected_token_exit_code_and_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "x" * 36)
    get_settings.cache_clear()
    with running(sim_for(tokens={"the-right-one"})) as url:
        code = main(
            [
                "collect",
                "github:acme",
                "--api-url",
                url,
                "--db",
                f"duckdb:///{tmp_path / 'x.duckdb'}",
            ]
        )
    err = capsys.readouterr().err
    assert code == 3
    assert "GitHub token rejected for 127.0.0.1: check GITHUB_TOKEN" in err
    assert "x" * 36 not in err


def test_no_wait_fails_fast_with_exit_code_5(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    budgets = Budgets()
    budgets.set("anonymous", "graphql", remaining=0, reset_in=900)
    with running(sim_for(budgets=budgets)) as url:
        code = main(
            [
                "collect",
                "github:acme/service-0",
                "--api-url",
                url,
                "--no-wait",
                "--db",
                f"duckdb:///{tmp_path / 'x.duckdb'}",
            ]
        )
    assert code == 5
    assert "without --no-wait" in capsys.readouterr().err


def test_sim_serve_command_serves_until_stopped() -> None:
    import subprocess
    import sys

    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "forgelens", "sim", "serve", "--port", "0", "--prs", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" at ")[1].split()[0]
        repo = httpx.get(f"{url}/repos/acme/service-0", timeout=10).json()
        assert repo["full_name"] == "acme/service-0"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
