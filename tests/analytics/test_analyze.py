"""Behaviour a user relies on: identities, edge cases, force-refresh scope, config, summaries."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from forgelens import records as R
from forgelens.analytics import AnalyticsConfig, AnalyzeOptions, analyze
from forgelens.errors import BadInput
from forgelens.store import Store
from forgelens.store import sql as _sql

T0 = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
GH = R.repository_id("github", "octo/app")
GL = R.repository_id("gitlab", "grp/svc")


def base_records() -> list[Any]:
    return [
        R.Repository(id=GH, source="github", full_name="octo/app", name="app"),
        R.Repository(id=GL, source="gitlab", full_name="grp/svc", name="svc"),
        R.PullRequest(
            repository_id=GH,
            number=1,
            title="feat: login",
            state="merged",
            created_at=T0,
            updated_at=T0,
            author="alice",
            forge_id="501",
            merged_at=T0 + timedelta(hours=2),
            additions=10,
            deletions=2,
        ),
        R.PullRequest(
            repository_id=GL,
            number=7,
            title="Add cache",
            state="merged",
            created_at=T0,
            updated_at=T0,
            author="asmith",
            forge_id="gid://7",
            merged_at=T0 + timedelta(days=1),
            additions=5,
            deletions=0,
        ),
        R.PullRequest(
            repository_id=GH,
            number=2,
            title="Old thing",
            state="closed",
            created_at=T0,
            updated_at=T0,
            author=None,
        ),  # deleted user, no files
        R.PullRequest(
            repository_id=GH,
            number=3,
            title="bump",
            state="merged",
            created_at=T0,
            updated_at=T0,
            author="renovate[bot]",
            merged_at=T0 + timedelta(hours=1),
        ),
        R.Review(
            repository_id=GH,
            pr_number=1,
            review_id="1",
            author="rita",
            state="APPROVED",
            submitted_at=T0 + timedelta(hours=1),
        ),
        R.PrCommit(
            repository_id=GH,
            pr_number=1,
            sha="a1",
            author_email="501+alice@users.noreply.github.com",
            authored_at=T0,
        ),
        R.PrCommit(
            repository_id=GL, pr_number=7, sha="b1", author_email="al@old.example", authored_at=T0
        ),
    ]


def run(store: Store, **kw: Any) -> Any:
    kw.setdefault("end_date", date(2026, 3, 31))
    return analyze(store, AnalyzeOptions(**kw))


def test_identities_merge_logins_emails_and_flag_bots(store: Store, tmp_path: Path) -> None:
    store.write_records(base_records())
    ident = tmp_path / "identities.yml"
    ident.write_text(
        "people:\n  alice-smith:\n    display_name: Alice Smith\n"
        "    logins: [github:alice, gitlab:asmith]\n"
    )
    mailmap = tmp_path / ".mailmap"
    mailmap.write_text("Alice <alice@new.example> <al@old.example>\n")
    run(store, identities_file=ident, mailmaps=[mailmap])
    authors = {r["username"]: r for r in store.query_dicts("SELECT * FROM authors")}
    assert authors["alice-smith"]["display_name"] == "Alice Smith"
    assert authors["renovate[bot]"]["is_bot"] is True
    assert "rita" in authors  # reviewer-only people are authors too
    assert "ghost" not in authors
    daily = store.query(
        "SELECT username, repo_name, sum(prs_merged) FROM author_metrics_daily GROUP BY 1, 2 "
        "ORDER BY 2"
    )
    assert daily == [("alice-smith", "grp/svc", 1), ("alice-smith", "octo/app", 1)]
    assert store.query("SELECT author FROM repo_prs WHERE pr_number = 2") == [("ghost",)]
    # the noreply address and the mailmapped address belong to the merged person
    emails = dict(store.query("SELECT alias, username FROM analytics_identity_map"))
    assert emails["email:501+alice@users.noreply.github.com"] == "alice-smith"
    assert emails["email:al@old.example"] == emails["email:alice@new.example"]


def test_identities_follow_new_evidence_between_runs(store: Store, tmp_path: Path) -> None:
    """A later run merges what new commits link and names, and applies a changed overrides
    file, though the authors themselves are already known."""
    store.write_records(base_records())
    run(store)
    alias = dict(store.query("SELECT alias, username FROM analytics_identity_map"))
    assert alias["email:al@old.example"] == "al@old.example"  # no login seen with it yet
    commit = R.PrCommit(repository_id=GL, pr_number=7, sha="b2", authored_at=T0)
    store.write_records(
        [dataclasses.replace(commit, author_email="al@old.example", author_login="asmith")]
    )
    run(store)
    alias = dict(store.query("SELECT alias, username FROM analytics_identity_map"))
    assert alias["email:al@old.example"] == "asmith"
    store.write_records(
        [
            dataclasses.replace(
                commit,
                repository_id=GH,
                pr_number=1,
                sha="a2",
                author_email="501+alice@users.noreply.github.com",
                author_name="Alice Liddell",
            )
        ]
    )
    run(store)
    names = dict(store.query("SELECT username, display_name FROM authors"))
    assert names["alice"] == "Alice Liddell"
    ident = tmp_path / "identities.yml"
    ident.write_text("people:\n  alice-smith:\n    logins: [github:alice, gitlab:asmith]\n")
    run(store, identities_file=ident)
    alias = dict(store.query("SELECT alias, username FROM analytics_identity_map"))
    assert alias["login:gitlab:asmith"] == alias["login:github:alice"] == "alice-smith"


def test_merged_across_midnight_counts_on_utc_days(store: Store) -> None:
    store.write_records(base_records())
    run(store)
    rows = store.query(
        "SELECT day, prs_submitted, prs_merged FROM author_metrics_daily "
        "WHERE repo_name = 'octo/app' ORDER BY day"
    )
    assert rows == [(date(2026, 3, 10), 1, 0), (date(2026, 3, 11), 0, 1)]


def test_window_before_history_is_empty_not_an_error(store: Store) -> None:
    store.write_records(base_records())
    run(store, end_date=date(2026, 1, 1))
    assert store.query("SELECT count(*) FROM author_metrics_window")[0][0] == 0
    assert store.query("SELECT count(*) FROM author_metrics_daily")[0][0] > 0


def test_force_refresh_touches_one_repository_only(store: Store) -> None:
    store.write_records(base_records())
    run(store)
    where = "repo_name IN ('octo/app', 'grp/svc')"
    _sql.update(store, "author_metrics_daily", "prs_merged = 99", where, [])  # any store
    result = run(store, repos=["octo/app"], force_refresh=True)
    assert result.modes == {"full": 1}
    assert store.query(
        "SELECT repo_name, max(prs_merged) FROM author_metrics_daily GROUP BY 1 ORDER BY 1"
    ) == [("grp/svc", 99), ("octo/app", 1)]


def test_incremental_run_skips_unchanged_repositories(store: Store) -> None:
    store.write_records(base_records())
    run(store)
    again = run(store)
    assert again.prs == 0
    assert again.modes == {"skip": 2}
    store.write_records(
        [
            R.PullRequest(
                repository_id=GL,
                number=8,
                title="Add more",
                state="open",
                created_at=T0,
                updated_at=T0,
                author="asmith",
            )
        ]
    )
    third = run(store)
    assert third.modes == {"incremental": 1, "skip": 1}
    assert third.prs == 1


def test_unknown_repository_is_a_clear_error(store: Store) -> None:
    store.write_records(base_records())
    with pytest.raises(BadInput, match="no repository nope/nope"):
        run(store, repos=["nope/nope"])


def test_config_file_overrides_and_rejects_unknown_keys(tmp_path: Path) -> None:
    good = tmp_path / "a.toml"
    good.write_text("high_risk_threshold = 0.7\n[risk_weights]\nhotspot = 0.3\n")
    cfg = AnalyticsConfig.load(good)
    assert cfg.high_risk_threshold == 0.7
    assert cfg.risk_weights["hotspot"] == 0.3
    assert cfg.risk_weights["size_lines"] == 0.15
    bad = tmp_path / "b.toml"
    bad.write_text("hotspot_weight = 1\n")
    with pytest.raises(BadInput, match="unknown setting"):
        AnalyticsConfig.load(bad)


class _Llm(BaseHTTPRequestHandler):
    calls: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append({"auth": self.headers["Authorization"], "body": body})
        out = json.dumps({"choices": [{"message": {"content": "Adds login. Safe."}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def llm_server() -> Iterator[str]:
    _Llm.calls = []
    server = HTTPServer(("127.0.0.1", 0), _Llm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


def test_llm_summaries_are_cached_by_content(
    store: Store, llm_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server)
    store.write_records(base_records())
    first = run(store, target="what_shipped", llm_summaries=True, llm_limit=2)
    assert first.llm_calls == 2
    assert _Llm.calls[0]["auth"] == "Bearer sk-test"
    summaries = [r[0] for r in store.query("SELECT pr_summary FROM repo_prs")]
    assert summaries.count("Adds login. Safe.") == 2
    again = run(store, target="what_shipped", llm_summaries=True, llm_limit=2, force_refresh=True)
    assert again.llm_calls == 0  # same content hash: served from pr_summary_cache
    assert len(_Llm.calls) == 2


def test_extractive_summary_names_first_sentence_and_areas(store: Store) -> None:
    recs = base_records()
    recs[2] = R.PullRequest(
        repository_id=GH,
        number=1,
        title="feat: login",
        state="open",
        created_at=T0,
        updated_at=T0,
        author="alice",
        body="<!-- template -->\nAdds a login form. More text.",
    )
    recs.append(
        R.PrFile(
            repository_id=GH,
            pr_number=1,
            path="src/web/login.py",
            additions=30,
            deletions=0,
            change_type="added",
        )
    )
    store.write_records(recs)
    run(store, target="what_shipped")
    summary = store.query("SELECT pr_summary FROM repo_prs WHERE pr_number = 1")[0][0]
    assert summary == "feat: login: Adds a login form (areas: src/web)"


def test_top_risky_files_rank_by_score_then_path_and_reasons_are_json(store: Store) -> None:
    lines = {
        "db/migrations/1.sql": 5,  # sensitive: the highest score
        "c/big.py": 900,
        "b/x/one.py": 12,  # ties with a/x/two.py: the path decides
        "a/x/two.py": 12,
        "z/q/r.py": 4,  # fifth: cut by top_risky_files = 4
        "README.md": 1,  # scores 0.000: never listed
    }
    recs = [*base_records()[:2], dataclasses.replace(base_records()[2], body="Tidy up the code.")]
    recs += [
        R.PrFile(GH, 1, path=p, additions=n, deletions=0, change_type="modified")
        for p, n in lines.items()
    ]
    store.write_records(recs)
    odd = 'mig"ra\\tions'  # a category name JSON must escape
    cfg = AnalyticsConfig(top_risky_files=4, sensitive_globs={odd: ["**/migrations/**"]})
    run(store, target="what_shipped", config=cfg)
    top, reasons, summary = store.query(
        "SELECT top_risky_files, risk_reasons, pr_summary FROM repo_prs WHERE pr_number = 1"
    )[0]
    reasons = {r["factor"]: r for r in json.loads(str(reasons))}
    assert reasons["sensitive_paths"]["detail"] == odd
    assert reasons["size_files"] == {
        "factor": "size_files",
        "contribution": 0.012,
        "detail": "6 files changed",
    }
    ranked = [(f["path"], f["score"], f["reasons"]) for f in json.loads(str(top))]
    assert ranked == [
        ("db/migrations/1.sql", 0.335, [f"sensitive:{odd}"]),
        ("c/big.py", 0.225, []),
        ("a/x/two.py", 0.003, []),
        ("b/x/one.py", 0.003, []),
    ]
    assert summary == "feat: login: Tidy up the code (areas: c, a/x, b/x)"


def test_blame_gives_head_line_ownership(store: Store, make_repo: Any) -> None:
    from tests.conftest import git

    repo = make_repo("blamed")
    (repo / "a.py").write_text("one\ntwo\nthree\n")
    git(repo, "add", "a.py")
    git(repo, "commit", "-qm", "first")
    (repo / "a.py").write_text("one\ntwo\nthree\nfour\n")
    bob = {"GIT_AUTHOR_NAME": "Bob", "GIT_AUTHOR_EMAIL": "bob@example.com"}
    git(repo, "commit", "-qam", "second", env=bob)
    store.write_records(base_records())
    run(store, target="engineer_lens", repos=["octo/app"], blame=repo)
    got = store.query(
        "SELECT username, file_path, lines_owned, total_lines, ownership_pct "
        "FROM author_file_ownership WHERE window_days = 0 ORDER BY username"
    )
    assert got == [("ann@example.com", "a.py", 3, 4, 75.0), ("bob@example.com", "a.py", 1, 4, 25.0)]


def test_blame_needs_one_repository(store: Store, tmp_path: Path) -> None:
    store.write_records(base_records())
    with pytest.raises(BadInput, match="--blame needs exactly one --repo"):
        run(store, blame=tmp_path)
