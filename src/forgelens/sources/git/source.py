"""The local git miner (``data_source = custom_etl``).

Commits and per-file line stats come from one streamed ``git log -z --raw --numstat -M
--use-mailmap`` per job, parsed incrementally: memory stays flat whatever the history size.
Several jobs mine disjoint, contiguous slices of ``git rev-list`` with ``git log --no-walk
--stdin``, which yields the same records as one process (each commit is diffed against its
first parent either way).

A URL is mirrored once into the cache directory (``git clone --mirror``) and refreshed with
``git fetch --prune`` on later runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from forgelens.errors import BadInput, Interrupted, NotARepository, SourceError
from forgelens.logs import redact
from forgelens.records import Repository, repository_id
from forgelens.sources.git._log import FORMAT, MinedBatch, parse_stream

SOURCE = "git"
DATA_SOURCE = "custom_etl"
_URL_RE = re.compile(r"^(https?|ssh|git|file)://|^[\w.-]+@[\w.-]+:")
_READ_CHUNK = 1 << 20


def _git(
    args: Sequence[str], cwd: Path | None = None, timeout: float = 600, stdin: bytes = b""
) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=stdin,
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
        reason = _first_error(done.stderr.decode("utf-8", "replace")) or f"exit {done.returncode}"
        raise SourceError(redact(f"git {args[0]} failed: {reason}"))
    return done.stdout.decode("utf-8", "replace")


def _first_error(stderr: str) -> str:
    """The line of git's stderr that says what went wrong (the first ``fatal:``/``error:``)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:", "ssh:")):
            return line.removeprefix("fatal: ").removeprefix("error: ")
    return lines[-1] if lines else ""


_REPO_VARS = {
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_COMMON_DIR",
}
# the user's environment (PATH, HOME, credentials helpers) minus variables that would point
# git at another repository (e.g. when forgelens runs from a git hook)
_GIT_ENV = {k: v for k, v in os.environ.items() if k not in _REPO_VARS} | {
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}


def is_url(spec: str) -> bool:
    return bool(_URL_RE.match(spec))


def _url_parts(url: str) -> tuple[str, str]:
    """(host, path) of a URL, scp-style ``user@host:path`` included; ``local`` for file://."""
    parts = urlsplit(url if "://" in url else "ssh://" + url.replace(":", "/", 1))
    host = (parts.hostname or "local").lower()
    return host, parts.path.strip("/").removesuffix(".git") or "repo"


def mirror_path(url: str, cache_dir: Path) -> Path:
    host, path = _url_parts(url)
    digest = hashlib.sha256(url.encode()).hexdigest()[:8]
    return cache_dir / "mirrors" / host / f"{path}-{digest}.git"


def ensure_mirror(url: str, cache_dir: Path) -> Path:
    """Clone ``url`` as a bare mirror once; fetch on later calls. Returns the mirror's path."""
    target = mirror_path(url, cache_dir)
    if (target / "HEAD").exists():
        try:
            _git(["fetch", "--prune", "--quiet", "origin"], cwd=target, timeout=3600)
        except SourceError as exc:
            raise SourceError(
                f"cannot update the mirror of {redact(url)} ({target}): "
                f"{exc.message.removeprefix('git fetch failed: ')}. "
                "Check the URL, your network and your credentials."
            ) from exc
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
        try:
            head = _git(["symbolic-ref", "--quiet", "--short", "HEAD"], cwd=self.path).strip()
        except SourceError:  # a detached HEAD names no branch
            head = ""
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
        host, name = _url_parts(url)
        repo = GitRepo(path, f"{host}/{name}", redact(url))
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise BadInput(f"{spec}: no such file or directory")
        if not path.is_dir():
            raise NotARepository(f"{spec} is a file, not a git repository")
        try:
            gitdir = Path(_git(["rev-parse", "--absolute-git-dir"], cwd=path).strip())
        except SourceError as exc:
            if "dubious ownership" in exc.message:  # git's safe.directory check
                raise BadInput(
                    f"git refuses to read {spec}: the repository belongs to another user. "
                    "If you trust it, run `git config --global --add safe.directory "
                    f"{path.resolve()}` (or collect it as the user who owns it)"
                ) from exc
            raise NotARepository(f"{spec} is not a git repository (git init or clone it)") from exc
        try:  # a work tree (or a directory inside one): mine the whole repository
            root = Path(_git(["rev-parse", "--show-toplevel"], cwd=path).strip())
        except SourceError:  # a bare repository, or inside a .git directory
            root = gitdir
            bare = _git(["rev-parse", "--is-bare-repository"], cwd=path).strip() == "true"
            if gitdir.name == ".git" and not bare:  # the same repository as its work tree
                root = gitdir.parent
        if not str(root):
            root = gitdir
        repo = GitRepo(root, str(root).lstrip("/"), None)
    if _git(["rev-parse", "--is-shallow-repository"], cwd=repo.path).strip() == "true":
        raise BadInput(
            f"{spec} is a shallow clone, so its history is incomplete: run "
            "`git fetch --unshallow` there, or collect the repository's URL instead"
        )
    if _is_partial_clone(repo):
        raise BadInput(
            f"{spec} is a partial clone (git clone --filter): the file contents of its history "
            "are not there, and git would download them one commit at a time: collect the "
            "repository's URL instead (forgelens keeps a full mirror of it)"
        )
    if not _git(["rev-parse", "--all"], cwd=repo.path).strip():
        raise BadInput(f"{spec} has no commits yet: nothing to collect")
    return repo


def _is_partial_clone(repo: GitRepo) -> bool:
    """Whether a promisor remote may hold objects the repository lacks."""
    pattern = r"^(extensions\.partialclone|remote\..*\.promisor)$"
    try:
        found = _git(["config", "--get-regexp", pattern], cwd=repo.path)
    except SourceError:  # exit 1: no such setting
        return False
    return any(line.split(" ", 1)[-1] not in ("", "false") for line in found.splitlines())


@dataclass(slots=True)
class MineOptions:
    since: datetime | None = None
    until: datetime | None = None
    branches: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)  # commits already seen (their ancestors too)
    jobs: int = 1
    batch_size: int = 5000
    trailers: bool = True  # read Co-authored-by trailers (commit_coauthors)


@dataclass(slots=True, frozen=True)
class Revisions:
    """What to mine: ``args`` (refs and dates, for the command line) and ``stdin`` (one
    ``^<id>`` line per commit already seen, given on stdin with ``--stdin`` because a
    repository with tens of thousands of tags would exceed the kernel's argument limit)."""

    args: list[str]
    stdin: bytes


def revisions(repo: GitRepo, opts: MineOptions) -> Revisions:
    """The revisions for ``opts``: its refs, dates and exclusions."""
    args = _refs(repo, opts)
    if opts.since:
        args.append(f"--since={opts.since.isoformat()}")
    if opts.until:
        args.append(f"--until={opts.until.isoformat()}")
    known = existing_commits(repo, opts.exclude)
    return Revisions(args, "".join(f"^{sha}\n" for sha in known).encode())


def _refs(repo: GitRepo, opts: MineOptions) -> list[str]:
    """The refs ``opts`` selects: the named branches, or every branch, tag and remote-tracking
    branch, and HEAD when it is a commit (a detached HEAD's commits are on no branch)."""
    if opts.branches:
        return [_branch_ref(repo, b) for b in opts.branches]
    refs = ["--branches", "--tags", "--remotes"]
    return [*refs, "HEAD"] if _is_commit(repo, "HEAD") else refs


def _is_commit(repo: GitRepo, rev: str) -> bool:
    try:
        _git(["rev-parse", "--verify", "--quiet", rev + "^{commit}"], cwd=repo.path)
    except SourceError:
        return False
    return True


def _branch_ref(repo: GitRepo, name: str) -> str:
    for ref in (f"refs/heads/{name}", f"refs/remotes/{name}", name):
        if _is_commit(repo, ref):
            return ref
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
    """The commits the selected refs point at now: the incremental cursor for the next run.

    Annotated tags are peeled to their commits and tags of trees or blobs left out (``git
    rev-parse`` gave the tag objects, which the next run could not exclude: it mined a
    commit reachable only from a tag again every time); ids of any length (SHA-256).
    """
    out = _git(["rev-list", "--no-walk", *_refs(repo, opts), "--"], cwd=repo.path)
    return sorted(set(out.split()))


def _log_cmd(no_walk: bool, revs: Sequence[str]) -> list[str]:
    """The miner's ``git log``. Every option a user's or the repository's git config could
    change is pinned, so the rows do not depend on who runs the miner: ``log.showSignature``
    (gpg output inside the stream), ``i18n.logOutputEncoding``/``i18n.commitEncoding``
    (messages in another encoding), ``log.showRoot`` (a root commit without its files),
    ``diff.ignoreSubmodules`` (gitlink rows dropped), ``diff.algorithm`` (other line counts),
    ``diff.renameLimit`` (renames seen as a deletion and an addition; 1000 is git's default),
    ``diff.renames``, ``color.*``, ``diff.external`` and textconv drivers."""
    cmd = [
        "git",
        "-c",
        "core.quotepath=off",
        "log",
        "-z",
        "--raw",
        "--numstat",
        "-M",
        "-l1000",
        "--root",
        "--use-mailmap",
        "--no-abbrev",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--no-show-signature",
        "--encoding=UTF-8",
        "--ignore-submodules=none",
        "--diff-algorithm=myers",
        f"--format={FORMAT}",
    ]
    # "--": a file named like a revision (HEAD, main) is no reason for git to refuse
    return [*cmd, "--no-walk=unsorted", "--stdin"] if no_walk else [*cmd, *revs, "--stdin", "--"]


Batch = MinedBatch


def _stream(
    repo: GitRepo,
    cmd: list[str],
    stdin: bytes,
    batch_size: int,
    stop: threading.Event,
    trailers: bool = True,
) -> Iterator[Batch]:
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            cmd,
            cwd=repo.path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=_GIT_ENV,
        )
        with proc:
            feeder = _feed(proc, stdin)
            try:
                assert proc.stdout is not None
                _widen_pipe(proc.stdout.fileno())
                for batch in parse_stream(repo.id, proc.stdout, batch_size, _READ_CHUNK, trailers):
                    if stop.is_set():
                        raise Interrupted("mining stopped")
                    yield batch
                if proc.wait() != 0:
                    errors.seek(0)
                    err = _first_error(errors.read().decode("utf-8", "replace"))
                    raise SourceError(f"git log failed in {repo.full_name}: {err[:300]}")
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                feeder.join(timeout=5)


def _widen_pipe(fd: int) -> None:
    """Give git a 1 MiB pipe (Linux; 64 KiB by default) so it keeps diffing while we parse
    or write a batch instead of blocking on a full pipe. Best effort elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    import fcntl

    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)


def _feed(proc: subprocess.Popen[bytes], data: bytes) -> threading.Thread:
    """Write ``data`` to the process's stdin from a thread (git reads it while we read it)."""
    assert proc.stdin is not None
    pipe = proc.stdin

    def feed() -> None:
        try:
            pipe.write(data)
            pipe.close()
        except (BrokenPipeError, OSError):
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    return feeder


def count_commits(repo: GitRepo, opts: MineOptions) -> int:
    revs = revisions(repo, opts)
    args = ["rev-list", "--count", *revs.args, "--stdin", "--"]
    out = _git(args, cwd=repo.path, stdin=revs.stdin)
    return int(out.strip() or 0)


def _slices(repo: GitRepo, revs: Revisions, jobs: int) -> list[bytes]:
    """``git rev-list`` cut into ``jobs`` contiguous slices (newline-separated ids, as bytes:
    about 41 bytes a commit, so even a huge history stays small)."""
    done = subprocess.run(
        ["git", "rev-list", *revs.args, "--stdin", "--"],
        cwd=repo.path,
        input=revs.stdin,
        capture_output=True,
        check=False,
        env=_GIT_ENV,
    )
    if done.returncode != 0:
        reason = _first_error(done.stderr.decode("utf-8", "replace"))
        raise SourceError(f"git rev-list failed in {repo.full_name}: {reason}")
    out = done.stdout
    if not out:
        return []
    width = out.index(b"\n") + 1  # every line is one object id and a newline
    lines = len(out) // width
    size = -(-lines // jobs) * width
    return [out[i : i + size] for i in range(0, len(out), size)]


def mine(repo: GitRepo, opts: MineOptions) -> Iterator[Batch]:
    """Yield batches of (commit, files) for the history ``opts`` selects.

    Parsing runs in reader threads (one per git process) so that the consumer's store writes
    overlap with git's diffing; with ``jobs > 1`` each process mines one contiguous slice of
    ``git rev-list``.
    """
    revs = revisions(repo, opts)
    commands: list[tuple[list[str], bytes]]
    if opts.jobs <= 1:
        commands = [(_log_cmd(False, revs.args), revs.stdin)]
    else:
        commands = [(_log_cmd(True, []), chunk) for chunk in _slices(repo, revs, opts.jobs)]
    if not commands:
        return
    stop = threading.Event()
    out: queue.Queue[Batch | BaseException | None] = queue.Queue(maxsize=len(commands))

    def work(cmd: list[str], stdin: bytes) -> None:
        try:
            for batch in _stream(repo, cmd, stdin, opts.batch_size, stop, opts.trailers):
                batch.seal()  # Arrow, not Python objects, waits in the queue
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
