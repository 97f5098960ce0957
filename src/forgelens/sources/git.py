"""The local git miner (``data_source = custom_etl``).

Commits and per-file line stats come from one streamed ``git log -z --raw --numstat -M
--use-mailmap`` per job, parsed incrementally: memory stays flat whatever the history size.
Several jobs mine disjoint, contiguous slices of ``git rev-list`` with ``git log --no-walk
--stdin``, which yields the same records as one process (each commit is diffed against its
first parent either way).

A URL is mirrored once into the cache directory (``git clone --mirror``) and refreshed with
``git remote update`` on later runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from forgelens.errors import BadInput, Interrupted, NotARepository, SourceError
from forgelens.logs import redact
from forgelens.records import Commit, CommitFile, Repository, repository_id

SOURCE = "git"
DATA_SOURCE = "custom_etl"
_FORMAT = "%x1e%H%x1f%P%x1f%aN%x1f%aE%x1f%aI%x1f%cN%x1f%cE%x1f%cI%x1f%B"
_CHANGE_TYPES = {
    "A": "added",
    "M": "modified",
    "D": "deleted",
    "R": "renamed",
    "C": "copied",
    "T": "type_changed",
    "U": "unmerged",
    "X": "unknown",
}
_URL_RE = re.compile(r"^(https?|ssh|git|file)://|^[\w.-]+@[\w.-]+:")
_READ_CHUNK = 1 << 20


def _git(args: Sequence[str], cwd: Path | None = None, timeout: float = 600) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            timeout=timeout,
            check=False,
            env=_GIT_ENV,
        )
    except FileNotFoundError as exc:
        raise SourceError("git is not installed or not on PATH: install git") from exc
    except subprocess.TimeoutExpired as exc:
        raise SourceError(f"git {args[0]} took longer than {timeout:.0f}s") from exc
    if done.returncode != 0:
        msg = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SourceError(redact(f"git {args[0]} failed: {msg[-1] if msg else done.returncode}"))
    return done.stdout.decode("utf-8", "replace")


_GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": str(Path.home()),
}


def is_url(spec: str) -> bool:
    return bool(_URL_RE.match(spec))


def mirror_path(url: str, cache_dir: Path) -> Path:
    parts = urlsplit(url if "://" in url else "ssh://" + url.replace(":", "/", 1))
    host = (parts.hostname or "local").lower()
    path = parts.path.strip("/").removesuffix(".git") or "repo"
    digest = hashlib.sha256(url.encode()).hexdigest()[:8]
    return cache_dir / "mirrors" / host / f"{path}-{digest}.git"


def ensure_mirror(url: str, cache_dir: Path) -> Path:
    """Clone ``url`` as a bare mirror once; fetch on later calls. Returns the mirror's path."""
    target = mirror_path(url, cache_dir)
    if (target / "HEAD").exists():
        _git(["remote", "update", "--prune"], cwd=target, timeout=3600)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".partial")
    if tmp.exists():  # a clone interrupted earlier
        shutil.rmtree(tmp)
    try:
        _git(["clone", "--mirror", "--quiet", url, str(tmp)], timeout=3600)
    except SourceError as exc:
        raise SourceError(
            f"cannot clone {redact(url)}: {exc.message.removeprefix('git clone failed: ')}. "
            "Check the URL, your network and your credentials."
        ) from exc
    tmp.rename(target)
    return target


@dataclass(slots=True)
class GitRepo:
    """A local repository (working tree or bare) that we can mine."""

    path: Path
    full_name: str
    url: str | None = None

    @property
    def id(self) -> str:
        return repository_id(SOURCE, self.full_name)

    def record(self) -> Repository:
        head = _git(["symbolic-ref", "--quiet", "--short", "HEAD"], cwd=self.path).strip()
        return Repository(
            id=self.id,
            source=SOURCE,
            full_name=self.full_name,
            name=self.full_name.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"),
            default_branch=head or None,
            url=self.url or str(self.path),
        )


def open_repo(spec: str, cache_dir: Path) -> GitRepo:
    """Resolve ``git:PATH``, a bare path or a URL to a minable repository, or say why not."""
    spec = spec.removeprefix("git:")
    if is_url(spec):
        url = spec
        path = ensure_mirror(url, cache_dir)
        parts = urlsplit(url if "://" in url else "ssh://" + url.replace(":", "/", 1))
        full_name = f"{parts.hostname}/{parts.path.strip('/').removesuffix('.git')}"
        repo = GitRepo(path, full_name, url)
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise BadInput(f"{spec}: no such file or directory")
        if not path.is_dir():
            raise NotARepository(f"{spec} is a file, not a git repository")
        try:
            top = _git(["rev-parse", "--absolute-git-dir"], cwd=path).strip()
        except SourceError as exc:
            raise NotARepository(f"{spec} is not a git repository (git init or clone it)") from exc
        resolved = path.resolve()
        repo = GitRepo(resolved, str(resolved).lstrip("/"), None)
        if Path(top) == resolved or Path(top).parent != resolved:
            # bare repository or a subdirectory of a work tree: mine the whole repository
            root = Path(top) if Path(top).name != ".git" else Path(top).parent
            repo = GitRepo(root, str(root).lstrip("/"), None)
    if _git(["rev-parse", "--is-shallow-repository"], cwd=repo.path).strip() == "true":
        raise BadInput(
            f"{spec} is a shallow clone, so its history is incomplete: run "
            "`git fetch --unshallow` there, or collect the repository's URL instead"
        )
    if not _git(["rev-parse", "--all"], cwd=repo.path).strip():
        raise BadInput(f"{spec} has no commits yet: nothing to collect")
    return repo


@dataclass(slots=True)
class MineOptions:
    since: datetime | None = None
    until: datetime | None = None
    branches: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)  # commits already seen (their ancestors too)
    jobs: int = 1
    batch_size: int = 5000


def revisions(repo: GitRepo, opts: MineOptions) -> list[str]:
    """The ``git log`` revision arguments for ``opts`` (branches, exclusions, dates)."""
    args: list[str] = []
    if opts.branches:
        args += [_branch_ref(repo, b) for b in opts.branches]
    else:
        args += ["--branches", "--tags", "--remotes"]
    known = existing_commits(repo, opts.exclude)
    if known:
        args += ["--not", *known]
    if opts.since:
        args.append(f"--since={opts.since.isoformat()}")
    if opts.until:
        args.append(f"--until={opts.until.isoformat()}")
    return args


def _branch_ref(repo: GitRepo, name: str) -> str:
    for ref in (f"refs/heads/{name}", f"refs/remotes/{name}", name):
        try:
            _git(["rev-parse", "--verify", "--quiet", ref + "^{commit}"], cwd=repo.path)
            return ref
        except SourceError:
            continue
    raise BadInput(f"branch {name!r} does not exist in {repo.full_name}")


def existing_commits(repo: GitRepo, shas: Iterable[str]) -> list[str]:
    """The subset of ``shas`` that still exist as commits (a gc may have removed old tips)."""
    wanted = [s for s in shas if s]
    if not wanted:
        return []
    proc = subprocess.run(
        ["git", "cat-file", "--batch-check=%(objectname) %(objecttype)"],
        cwd=repo.path,
        input="\n".join(wanted).encode(),
        capture_output=True,
        check=False,
        env=_GIT_ENV,
    )
    out = proc.stdout.decode()
    return [line.split()[0] for line in out.splitlines() if line.endswith(" commit")]


def ref_tips(repo: GitRepo, opts: MineOptions) -> list[str]:
    """The commits the selected refs point at now: the incremental cursor for the next run."""
    args = [_branch_ref(repo, b) for b in opts.branches] or ["--branches", "--tags", "--remotes"]
    out = _git(["rev-parse", *args], cwd=repo.path)
    return sorted({line for line in out.split() if len(line) == 40 and not line.startswith("^")})


def _log_cmd(no_walk: bool, revs: Sequence[str]) -> list[str]:
    cmd = [
        "git",
        "-c",
        "core.quotepath=off",
        "log",
        "-z",
        "--raw",
        "--numstat",
        "-M",
        "--use-mailmap",
        "--no-abbrev",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        f"--format={_FORMAT}",
    ]
    return [*cmd, "--no-walk=unsorted", "--stdin"] if no_walk else [*cmd, *revs]


def _dt(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class _Parser:
    """Incremental parser of ``git log -z --raw --numstat`` output for one repository."""

    def __init__(self, repo_id: str) -> None:
        self.repo_id = repo_id
        self.commit: Commit | None = None
        self.raw: list[tuple[str, str, str | None]] = []  # (status, path, old_path)
        self.stats: list[tuple[int | None, int | None]] = []
        self.pending: list[str] = []  # tokens still owed to a rename entry
        self.state = ""

    def _finish(self) -> tuple[Commit, list[CommitFile]] | None:
        if self.commit is None:
            return None
        commit = self.commit
        files: list[CommitFile] = []
        adds = dels = 0
        for i, (status, path, old) in enumerate(self.raw):
            a, d = self.stats[i] if i < len(self.stats) else (None, None)
            adds += a or 0
            dels += d or 0
            files.append(
                CommitFile(
                    self.repo_id,
                    commit.sha,
                    path,
                    a,
                    d,
                    _CHANGE_TYPES.get(status[:1], "unknown"),
                    old,
                )
            )
        commit.additions, commit.deletions, commit.files_changed = adds, dels, len(files)
        self.commit, self.raw, self.stats = None, [], []
        return commit, files

    def feed(self, token: str) -> tuple[Commit, list[CommitFile]] | None:
        """Consume one NUL-separated token; return a finished commit when one completes."""
        if self.state == "raw_path":
            status = self.pending[0]
            if status[:1] in "RC":
                self.pending.append(token)
                self.state = "raw_new"
            else:
                self.raw.append((status, token, None))
                self.state = ""
            return None
        if self.state == "raw_new":
            self.raw.append((self.pending[0], token, self.pending[1]))
            self.state = ""
            return None
        if self.state == "stat_old":
            self.state = "stat_new"
            return None
        if self.state == "stat_new":
            self.state = ""
            return None
        token = token.lstrip("\n")
        if token.startswith("\x1e"):
            done = self._finish()
            fields = token[1:].split("\x1f", 8)
            sha, parents = fields[0], fields[1].split()
            self.commit = Commit(
                repository_id=self.repo_id,
                sha=sha,
                author_name=fields[2] or None,
                author_email=fields[3] or None,
                authored_at=_dt(fields[4]),
                committer_name=fields[5] or None,
                committer_email=fields[6] or None,
                committed_at=_dt(fields[7]),
                message=fields[8].rstrip("\n") if len(fields) > 8 else "",
                additions=0,
                deletions=0,
                files_changed=0,
                is_merge=len(parents) > 1,
                parents=parents,
            )
            return done
        if token.startswith(":"):
            self.pending = [token.rsplit(" ", 1)[-1]]
            self.state = "raw_path"
            return None
        if not token:
            return None
        a, d, path = token.split("\t", 2)
        self.stats.append((None if a == "-" else int(a), None if d == "-" else int(d)))
        if path == "":
            self.state = "stat_old"
        return None

    def close(self) -> tuple[Commit, list[CommitFile]] | None:
        return self._finish()


Batch = list[tuple[Commit, list[CommitFile]]]


def _stream(
    repo: GitRepo, cmd: list[str], stdin: bytes | None, batch_size: int, stop: threading.Event
) -> Iterator[Batch]:
    proc = subprocess.Popen(
        cmd,
        cwd=repo.path,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_GIT_ENV,
    )
    feeder = None
    if stdin is not None:
        assert proc.stdin is not None
        pipe = proc.stdin

        def feed() -> None:
            try:
                pipe.write(stdin)
                pipe.close()
            except (BrokenPipeError, OSError):
                pass

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
    parser = _Parser(repo.id)
    batch: Batch = []
    rest = b""
    assert proc.stdout is not None
    try:
        while chunk := proc.stdout.read(_READ_CHUNK):
            if stop.is_set():
                raise Interrupted("mining stopped")
            tokens = (rest + chunk).split(b"\0")
            rest = tokens.pop()
            for tok in tokens:
                done = parser.feed(tok.decode("utf-8", "replace"))
                if done:
                    batch.append(done)
                    if len(batch) >= batch_size:
                        yield batch
                        batch = []
        if rest:
            done = parser.feed(rest.decode("utf-8", "replace"))
            if done:
                batch.append(done)
        last = parser.close()
        if last:
            batch.append(last)
        if batch:
            yield batch
        err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
        if proc.wait() != 0:
            raise SourceError(f"git log failed in {repo.full_name}: {err.strip()[-300:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if feeder is not None:
            feeder.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):  # closed here, not by the GC (ResourceWarning)
            if stream is not None:
                stream.close()


def count_commits(repo: GitRepo, opts: MineOptions) -> int:
    return int(_git(["rev-list", "--count", *revisions(repo, opts)], cwd=repo.path).strip() or 0)


def mine(repo: GitRepo, opts: MineOptions) -> Iterator[Batch]:
    """Yield batches of (commit, files) for the history ``opts`` selects.

    Parsing runs in reader threads (one per git process) so that the consumer's store writes
    overlap with git's diffing; with ``jobs > 1`` each process mines one contiguous slice of
    ``git rev-list``.
    """
    revs = revisions(repo, opts)
    commands: list[tuple[list[str], bytes | None]]
    if opts.jobs <= 1:
        commands = [(_log_cmd(False, revs), None)]
    else:
        shas = _git(["rev-list", *revs], cwd=repo.path).split()
        size = max(1, -(-len(shas) // opts.jobs))
        commands = [
            (_log_cmd(True, []), "\n".join(shas[i : i + size]).encode())
            for i in range(0, len(shas), size)
        ]
    if not commands:
        return
    stop = threading.Event()
    out: queue.Queue[Batch | BaseException | None] = queue.Queue(maxsize=2 * len(commands) + 2)

    def work(cmd: list[str], stdin: bytes | None) -> None:
        try:
            for batch in _stream(repo, cmd, stdin, opts.batch_size, stop):
                while not stop.is_set():
                    try:
                        out.put(batch, timeout=0.2)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # handed to the consumer, which re-raises it
            out.put(exc)
        finally:
            out.put(None)

    threads = [threading.Thread(target=work, args=c, daemon=True) for c in commands]
    for t in threads:
        t.start()
    running = len(threads)
    try:
        while running:
            item = out.get()
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()
        while any(t.is_alive() for t in threads):
            with contextlib.suppress(queue.Empty):
                out.get(timeout=0.1)
