"""``forgelens report --html``: one self-contained file with the dashboards' numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from forgelens.store import open_store
from tests.cli.test_cli import forgelens
from tests.service.dashboard_store import dashboard_store


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "store.duckdb"
    dashboard_store(tmp_path_factory, path)
    return path


def test_report_is_one_self_contained_file_with_the_store_numbers(db: Path, tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{db}", read_only=True)
    try:
        repo = store.query("SELECT min(repo_name) FROM repo_prs")[0][0]
        merged = store.query(
            "SELECT count(*) FROM repo_prs WHERE repo_name = ? AND is_merged "
            "AND merged_at >= CAST(current_date - 89 AS TIMESTAMPTZ)",
            [repo],
        )[0][0]
    finally:
        store.close()
    out = tmp_path / "out" / "report.html"
    done = forgelens(
        "report",
        "--html",
        str(out),
        "--repo",
        repo,
        "--window",
        "90",
        db=db,
        cache=tmp_path / "cache",
    )
    assert done.returncode == 0, done.stderr
    html = out.read_text()
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', html)
    assert "<script src=" not in html
    assert "Chart.js v4.6.1" in html  # the library itself, inlined
    views = [
        json.loads(m)
        for m in re.findall(
            r'<script type="application/json" data-view="[^"]+">(.*?)</script>', html, re.S
        )
    ]
    assert [v["page"] for v in views] == [
        "engineering-lens",
        "what-shipped",
        "delivery",
        "ai-impact",
        "runs",
        "pipeline-runs",
    ]
    shipped = {c["key"]: c["value"] for c in views[1]["cards"]}
    assert shipped["merged"] == merged


def test_report_refuses_an_unknown_repository(db: Path, tmp_path: Path) -> None:
    done = forgelens(
        "report",
        "--html",
        str(tmp_path / "r.html"),
        "--repo",
        "no/such",
        db=db,
        cache=tmp_path / "cache",
    )
    assert done.returncode == 2
    assert "no analysed repository 'no/such'" in done.stderr
    assert not (tmp_path / "r.html").exists()
    bad = forgelens(
        "report",
        "--html",
        str(tmp_path / "r.html"),
        "--window",
        "5",
        db=db,
        cache=tmp_path / "cache",
    )
    assert bad.returncode == 2
    assert "--window must be one of" in bad.stderr
