"""The demo's simulated organization: a generated one (``generate``) made to look like a real
history, so that every dashboard has something to show.

``anchored`` moves the history in time so that it ends at a given moment (the demo passes
"now"), ``realistic`` gives pull requests the shape of real work: each engineer mostly works in
one area of the code, files are touched again and again (ownership, hotspots), some changes
reach sensitive paths (migrations, auth, CI, lockfiles), and titles, branches and labels say
whether a change is a feature, a fix, a chore or docs. Both are deterministic: the same seed,
size and anchor give the same data. ``generate``'s own data is left as it is (tests compare
forges on it).
"""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta
from typing import Any

from forgelens.testing.forge_sim.dataset import Dataset, SimFile, SimRepo

AREAS = ("core", "api", "ui", "billing")
MODULES = ("models", "service", "views", "handlers", "utils", "cache", "schema", "client")
KINDS = (("feature", 45), ("fix", 30), ("chore", 15), ("docs", 10))
# kind -> (conventional prefix, plain verbs, branch prefix, label)
STYLE = {
    "feature": ("feat", ("Add", "Support", "Introduce", "Allow"), "feature", "enhancement"),
    "fix": ("fix", ("Fix", "Handle", "Correct", "Repair"), "fix", "bug"),
    "chore": ("chore", ("Bump", "Clean up", "Upgrade", "Tidy"), "chore", "chore"),
    "docs": ("docs", ("Document", "Explain", "Describe", "Write up"), "docs", "documentation"),
}
SUBJECTS = (
    "invoice export",
    "login throttling",
    "search filters",
    "webhook retries",
    "currency rounding",
    "session expiry",
    "bulk import",
    "audit trail",
    "rate limiter",
    "user settings page",
    "report caching",
    "payment refunds",
)
SENSITIVE = (
    "src/auth/session.py",
    "src/auth/permissions.py",
    ".github/workflows/ci.yml",
    "infra/main.tf",
)
LOCKFILE = "poetry.lock"


def anchored(ds: Dataset, ends: datetime) -> Dataset:
    """``ds`` moved by whole days so that its newest pull request, newest issue and newest CI
    run each fall in the day before ends; deployments and releases move with the pull requests
    they ship; repositories start before all of them."""
    groups: dict[str, tuple[list[Any], list[Any]]] = {  # (what sets the shift, what else moves)
        "prs": (
            [p for r in ds.repos for p in r.prs],
            [d for r in ds.repos for d in (*r.deployments, *r.releases)],
        ),
        "issues": ([i for r in ds.repos for i in r.issues], []),
        "runs": ([c for r in ds.repos for c in r.runs], []),
    }
    for items, along in groups.values():
        if not items:
            continue
        newest = max(t for item in items for t in _times(item))
        days = (ends - newest).days  # whole days: the times of day stay as generated
        for item in (*items, *along):
            _shift(item, timedelta(days=days))
    for repo in ds.repos:
        repo.deployments = [d for d in repo.deployments if d.updated_at <= ends]  # not yet
        repo.releases = [r for r in repo.releases if (r.published_at or r.created_at) <= ends]
        _restamp(repo)
    return ds


def realistic(ds: Dataset, seed: int = 1) -> Dataset:
    """Pull requests with the titles, branches, labels and file paths of real work (see the
    module docstring); the number of files and their line counts stay as generated."""
    people = sorted(p.login for p in ds.people if not p.is_bot)
    home = {login: AREAS[i % len(AREAS)] for i, login in enumerate(people)}
    for repo in ds.repos:
        rng = random.Random(f"forgelens-demo:{seed}:{repo.id}")
        migrations = 0
        for pr in repo.prs:
            kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
            prefix, verbs, branch, label = STYLE[kind]
            area = home.get(pr.author or "", rng.choice(AREAS))
            subject = rng.choice(SUBJECTS)
            if rng.random() < 0.5:
                pr.title = f"{prefix}: {subject}"
            else:
                pr.title = f"{rng.choice(verbs)} {subject}"
            pr.head = f"{branch}/{subject.replace(' ', '-')}-{pr.number}"
            pr.body = f"{rng.choice(verbs)} {subject} in {area}. Part of the {area} roadmap."
            pr.labels = [label] if rng.random() < 0.4 else []
            paths = _paths(rng, kind, area, len(pr.files))
            if kind in ("feature", "chore") and rng.random() < 0.15:
                if kind == "chore":
                    paths[0] = LOCKFILE
                elif rng.random() < 0.5:
                    migrations += 1
                    paths[0] = f"migrations/{migrations:04d}_{subject.replace(' ', '_')}.sql"
                else:
                    paths[0] = rng.choice(SENSITIVE)
            pr.files = _files(pr.files, paths)
            pr.changed_files = len(pr.files)
        repo._by_updated = None
    repo._history = None
    return ds


def _paths(rng: random.Random, kind: str, area: str, n: int) -> list[str]:
    """``n`` distinct paths for a change of ``kind`` by someone working in ``area``."""
    out: list[str] = []
    tries = 0
    while len(out) < n and tries < 20 * n:
        tries += 1
        where = area if rng.random() < 0.8 else rng.choice(AREAS)
        # a few modules of each area take most changes (hotspots); the rest are touched rarely
        module = MODULES[min(int(rng.expovariate(0.6)), len(MODULES) - 1)]
        roll = rng.random()
        if kind == "docs" and roll < 0.7:
            path = f"docs/{where}/{module}.md"
        elif roll < (0.35 if kind == "fix" else 0.25):
            path = f"tests/{where}/test_{module}.py"
        else:
            path = f"src/{where}/{module}.py"
        if path not in out:
            out.append(path)
    while len(out) < n:  # a huge pull request: generated files beyond the pools
        out.append(f"src/{area}/generated/part_{len(out):05d}.py")
    return out


def _files(files: list[SimFile], paths: list[str]) -> list[SimFile]:
    out = []
    for f, path in zip(files, paths, strict=True):
        added = path.startswith("migrations/") or "/generated/" in path
        status = "added" if added else ("modified" if f.status == "removed" else f.status)
        if status == "added":
            out.append(SimFile(path, f.additions, 0, status))
        else:
            out.append(SimFile(path, f.additions, f.deletions, status))
    return out


def _times(obj: Any) -> list[datetime]:
    out: list[datetime] = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, datetime):
            out.append(value)
        elif isinstance(value, list):
            out.extend(t for v in value if dataclasses.is_dataclass(v) for t in _times(v))
    return out


def _shift(obj: Any, delta: timedelta) -> None:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, datetime):
            setattr(obj, f.name, value + delta)
        elif isinstance(value, list):
            for v in value:
                if dataclasses.is_dataclass(v):
                    _shift(v, delta)


def _restamp(repo: SimRepo) -> None:
    """Creation before everything the repository holds; last update and push after it."""
    stamps = [t for x in (*repo.prs, *repo.issues, *repo.runs) for t in _times(x)]
    if not stamps:
        return
    repo.created_at = min(stamps) - timedelta(days=1)
    updates = [p.updated_at for p in repo.prs] + [i.updated_at for i in repo.issues]
    repo.updated_at = max([repo.created_at, *updates])
    pushes = [c.authored_at for p in repo.prs for c in p.commits]
    repo.pushed_at = max([repo.created_at, *pushes])
    repo._by_updated = None
    repo._history = None
