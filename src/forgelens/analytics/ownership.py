"""File ownership (seed 002 ``author_file_ownership``): each author's share of lines changed.

For a window ending on ``end_date``: ``lines_owned`` = additions + deletions on the file in
the author's PRs merged in the window; ``total_lines`` = the same over every counted author;
``ownership_pct = 100 * lines_owned / total_lines``. Files with ``total_lines = 0`` (binary)
have no row. With ``--blame`` on a local git repository, a second set of rows with
``window_days = 0`` gives each author's share of the lines at HEAD (``git blame``).
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

from forgelens.analytics._ctx import SNAP_FILES, Ctx
from forgelens.analytics._sync import write_changed
from forgelens.analytics.engineer_lens import SnapshotPart, snapshot_parts
from forgelens.analytics.identity import email_alias
from forgelens.errors import SourceError

KEYS = ["username", "repo_name", "window_days", "end_date", "file_path"]
VALUES = ["ownership_pct", "lines_owned", "total_lines"]


def write_ownership(ctx: Ctx) -> None:
    """The rows at each end date of the files ``_fl_snap_files`` names (only the changed ones
    are written: an incremental run touches a few thousand files of a repository's history)."""
    with ctx.store.transaction():
        for part in snapshot_parts(ctx):
            _write_part(ctx, part)


def _write_part(ctx: Ctx, part: SnapshotPart) -> None:
    t = "author_file_ownership"
    named = part.named(ctx, SNAP_FILES, "f.repo_name", "path", "pf.path")
    mine = part.rows(ctx, SNAP_FILES, "ev.repo_name", "w.end_date", "path", "ev.path")
    write_changed(
        ctx,
        t,
        KEYS,
        VALUES,
        f"""
        WITH ev AS (
            SELECT f.username, f.repo_name, f.merged_day, pf.path,
                COALESCE(pf.additions, 0) + COALESCE(pf.deletions, 0) AS lines
            FROM pr_files pf
            JOIN (
                SELECT repository_id, pr_number, username, repo_name, merged_day
                FROM pr_facts
                WHERE counted AND is_merged
                  AND merged_day >= {part.first} AND merged_day <= {part.last}
            ) f ON pf.repository_id = f.repository_id AND pf.pr_number = f.pr_number
            WHERE {named}
        ),
        per AS (
            SELECT ev.username, ev.repo_name, w.window_days, w.end_date, ev.path,
                sum(ev.lines) AS owned
            FROM ev JOIN {part.windows} w
              ON ev.merged_day >= w.start_day AND ev.merged_day <= w.end_date
            WHERE {mine}
            GROUP BY ev.username, ev.repo_name, w.window_days, w.end_date, ev.path
        )
        SELECT username, repo_name, window_days, end_date, path,
            CAST(owned AS DOUBLE PRECISION) * 100.0 / total, owned, total, {ctx.stamp()}
        FROM (
            SELECT per.*,
                sum(owned) OVER (PARTITION BY repo_name, window_days, end_date, path)
                    AS total
            FROM per
        ) q
        WHERE total > 0
        """,
        part.table_scope(ctx, t, SNAP_FILES, "path", "file_path"),
    )


def blame_ownership(ctx: Ctx, repo_name: str, checkout: Path) -> int:
    """Rows with ``window_days = 0``: each author's share of the lines at HEAD (git blame)."""
    try:
        files = subprocess.run(
            ["git", "-C", str(checkout), "ls-files", "-z"],
            capture_output=True,
            check=True,
        ).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SourceError(
            f"{checkout} is not a git checkout: pass --blame PATH of a clone"
        ) from exc
    mapping = dict(ctx.store.query("SELECT alias, username FROM analytics_identity_map"))
    rows = []
    for path in filter(None, files.split("\0")):
        done = subprocess.run(
            ["git", "-C", str(checkout), "blame", "--line-porcelain", "HEAD", "--", path],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            continue
        owners: Counter[str] = Counter()
        for line in done.stdout.decode("utf-8", "replace").splitlines():
            if line.startswith("author-mail "):
                email = line[len("author-mail ") :].strip("<> ")
                owners[mapping.get(email_alias(email), email.lower())] += 1
        total = sum(owners.values())
        for user, n in owners.items():
            rows.append(
                {
                    "username": user,
                    "repo_name": repo_name,
                    "window_days": 0,
                    "end_date": ctx.end_date,
                    "file_path": path,
                    "ownership_pct": 100.0 * n / total,
                    "lines_owned": n,
                    "total_lines": total,
                    "updated_at": ctx.now,
                }
            )
    with ctx.store.transaction():
        ctx.store.execute(
            "DELETE FROM author_file_ownership WHERE repo_name = ? AND window_days = 0 "
            "AND end_date = ?",
            [repo_name, ctx.end_date],
        )
        ctx.store.upsert("author_file_ownership", rows, version=ctx.version)
    return len(rows)
