"""A synthetic git history built with ``git fast-import`` (benchmarks and kill -9 tests).

The stream is generated in Python: commits by a pool of authors, each changing a few files
among a few thousand paths with realistic edits (line replacements and inserts), new files,
deletions, renames with and without edits, binary files, and a merged side branch now and
then. The same ``seed`` always gives the same repository.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

_WORDS = [
    "alpha", "beta", "gamma", "delta", "value", "result", "index", "count", "item", "node",
    "config", "client", "server", "request", "response", "buffer", "cache", "token", "parse",
    "render", "update", "fetch", "store", "query", "batch",
]  # fmt: skip
_EPOCH = 1_600_000_000


def _line(rng: random.Random) -> bytes:
    n = rng.randint(2, 9)
    return (" " * 4 * rng.randint(0, 3) + " ".join(rng.choices(_WORDS, k=n)) + "\n").encode()


def _data(blob: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(blob), blob)


class _History:
    def __init__(self, rng: random.Random, paths: int) -> None:
        self.rng = rng
        self.files: dict[str, list[bytes]] = {}
        self.binaries: set[str] = set()
        self.max_paths = paths
        self.serial = 0

    def new_path(self) -> str:
        self.serial += 1
        d = self.rng.randrange(max(1, self.max_paths // 25))
        ext = self.rng.choice([".py", ".py", ".js", ".md", ".go", ".txt"])
        return f"src/pkg{d}/module_{self.serial}{ext}"

    def edit(self, lines: list[bytes]) -> None:
        for _ in range(self.rng.randint(1, 4)):
            at = self.rng.randrange(len(lines) + 1)
            roll = self.rng.random()
            if roll < 0.45 and lines:
                lines[min(at, len(lines) - 1)] = _line(self.rng)
            elif roll < 0.85:
                lines[at:at] = [_line(self.rng) for _ in range(self.rng.randint(1, 6))]
            elif len(lines) > 3:
                del lines[min(at, len(lines) - 2) : min(at, len(lines) - 2) + 2]

    def changes(self) -> Iterator[bytes]:
        """fast-import file commands for one commit."""
        rng = self.rng
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4, 6])):
            roll = rng.random()
            text = [p for p in self.files if p not in self.binaries]
            if roll < 0.12 or len(text) < 20:
                if len(self.files) >= self.max_paths and text:
                    victim = rng.choice(text)
                    del self.files[victim]
                    yield b"D %s\n" % victim.encode()
                    continue
                path = self.new_path()
                self.files[path] = [_line(rng) for _ in range(rng.randint(5, 120))]
                yield b"M 100644 inline %s\n" % path.encode() + _data(b"".join(self.files[path]))
            elif roll < 0.15:
                victim = rng.choice(text)
                del self.files[victim]
                yield b"D %s\n" % victim.encode()
            elif roll < 0.20:
                old = rng.choice(text)
                new = self.new_path()
                self.files[new] = self.files.pop(old)
                yield b"R %s %s\n" % (old.encode(), new.encode())
                if rng.random() < 0.5:
                    self.edit(self.files[new])
                    blob = b"".join(self.files[new])
                    yield b"M 100644 inline %s\n" % new.encode() + _data(blob)
            elif roll < 0.23:
                path = (
                    rng.choice(sorted(self.binaries))
                    if self.binaries and rng.random() < 0.6
                    else f"assets/img_{rng.randrange(self.max_paths // 10 + 1)}.png"
                )
                self.binaries.add(path)
                self.files[path] = []
                blob = b"\x89PNG\r\n\x1a\n\0" + rng.randbytes(rng.randint(200, 4000))
                yield b"M 100644 inline %s\n" % path.encode() + _data(blob)
            else:
                path = rng.choice(text)
                self.edit(self.files[path])
                yield b"M 100644 inline %s\n" % path.encode() + _data(b"".join(self.files[path]))


# Trailer blocks of AI-assisted and pair-programmed commits (benchmarks/ai_attribution.py)
_TRAILERS = (
    "\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n",
    "\n\n\U0001f916 Generated with [Claude Code](https://claude.com/claude-code)\n\n"
    "Co-Authored-By: Claude <noreply@anthropic.com>\n",
    "\n\nCo-authored-by: Cursor Agent <cursoragent@cursor.com>\n",
    "\n\nCo-authored-by: Dev 07 <dev07@example.com>\nSigned-off-by: Dev 01 <dev01@example.com>\n",
    "\n\nMade-with: Cursor\n",
)


def fast_import_stream(
    commits: int, paths: int = 3000, seed: int = 7, trailer_share: float = 0.0
) -> Iterator[bytes]:
    """The ``git fast-import`` input for ``commits`` commits (merges included); with
    ``trailer_share``, that share of the messages end in a trailer block (its own random
    stream: the history is otherwise the one without)."""
    rng = random.Random(seed)
    trng = random.Random(seed + 1)
    hist = _History(rng, paths)
    authors = [(f"Dev {i:02d}", f"dev{i:02d}@example.com") for i in range(40)]
    when = _EPOCH
    mark = 0
    main_tip = side_tip = 0
    made = 0
    while made < commits:
        on_side = side_tip != 0 or (made > 10 and rng.random() < 0.02)
        merge = side_tip != 0 and rng.random() < 0.3
        mark += 1
        made += 1
        when += rng.randint(60, 7200)
        name, email = rng.choice(authors)
        branch = b"refs/heads/side" if on_side and not merge else b"refs/heads/main"
        head = b"commit %s\nmark :%d\n" % (branch, mark)
        head += b"author %s <%s> %d +0000\n" % (name.encode(), email.encode(), when)
        head += b"committer %s <%s> %d +0000\n" % (name.encode(), email.encode(), when)
        body = "details " * rng.randint(0, 20)
        msg_text = f"{rng.choice(_WORDS)}: change {made}\n\n{body}"
        if trailer_share and trng.random() < trailer_share:
            msg_text += trng.choice(_TRAILERS)
        msg = msg_text.encode()
        head += _data(msg)
        if merge:  # main has not moved since the fork: the side's tree is the merged tree
            head += b"from :%d\nmerge :%d\n" % (side_tip, main_tip)
            yield head + b"\n"
            main_tip, side_tip = mark, 0
            continue
        if on_side:
            head += b"from :%d\n" % (side_tip or main_tip)
        elif main_tip:
            head += b"from :%d\n" % main_tip
        yield head + b"".join(hist.changes()) + b"\n"
        if on_side:
            side_tip = mark
        else:
            main_tip = mark


def build_repo(
    path: Path, commits: int, paths: int = 3000, seed: int = 7, trailer_share: float = 0.0
) -> Path:
    """Create a bare repository at ``path`` from the synthetic stream; returns ``path``."""
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    proc = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done"], cwd=path, stdin=subprocess.PIPE
    )
    assert proc.stdin is not None
    for chunk in fast_import_stream(commits, paths, seed, trailer_share):
        proc.stdin.write(chunk)
    proc.stdin.write(b"done\n")
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("git fast-import failed")
    return path


def cached_repo(work: Path, commits: int, trailer_share: float = 0.0) -> Path:
    """The synthetic repository of ``commits`` commits under ``work``, built once (a ``ready``
    file marks it done) and, as a maintained repository would be, packed with a commit-graph."""
    suffix = "-trailers" if trailer_share else ""
    repo = work / f"synthetic-{commits}{suffix}.git"
    if (repo / "ready").exists():
        return repo
    if repo.exists():
        subprocess.run(["rm", "-rf", str(repo)], check=True)
    started = time.monotonic()
    build_repo(repo, commits, trailer_share=trailer_share)
    subprocess.run(["git", "gc", "--quiet"], cwd=repo, check=True)
    (repo / "ready").write_text("built\n")
    print(f"built {repo} in {time.monotonic() - started:.1f}s")
    return repo
