"""Parsing ``git log -z --raw --numstat`` output straight into columns.

The miner's hot loop: one pass over the NUL-separated tokens of each read, no per-row objects.
A :class:`MinedBatch` holds the columns of ``commits`` and ``commit_files`` for a run of
commits and turns them into Arrow tables of those columns (the engine shapes them into the
store's tables) or, for sinks and tests, into ``Commit``/``CommitFile`` records.

Stream layout per commit (``-z``): the header token ``\\x1e<fields>\\x1f...<message>``, then
for each changed file a raw entry (``:<modes> <shas> <status>`` and its path, or old and new
paths for renames and copies), then as many numstat entries (``<adds>\\t<dels>\\t<path>``,
or ``<adds>\\t<dels>\\t`` then old and new paths). Merge commits have no entries.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

import pyarrow as pa

from forgelens.errors import SourceError
from forgelens.records import Commit, CommitFile
from forgelens.trailers import coauthors

FORMAT = "%x1e%H%x1f%P%x1f%aN%x1f%aE%x1f%at%x1f%cN%x1f%cE%x1f%ct%x1f%B"
_TS = pa.timestamp("us", tz="UTC")
# The Arrow type of every column the miner fills, as the store's ``commits`` and
# ``commit_files`` declare it (a test in tests/engine holds the two together).
COLUMN_TYPES: dict[str, dict[str, pa.DataType]] = {
    "commits": {
        "repository_id": pa.string(),
        "sha": pa.string(),
        "author_name": pa.string(),
        "author_email": pa.string(),
        "authored_at": _TS,
        "committer_name": pa.string(),
        "committer_email": pa.string(),
        "committed_at": _TS,
        "message": pa.string(),
        "additions": pa.int64(),
        "deletions": pa.int64(),
        "files_changed": pa.int64(),
        "is_merge": pa.bool_(),
        "parents": pa.string(),
    },
    "commit_coauthors": {
        "repository_id": pa.string(),
        "sha": pa.string(),
        "position": pa.int32(),
        "name": pa.string(),
        "email": pa.string(),
    },
    "commit_files": {
        "repository_id": pa.string(),
        "sha": pa.string(),
        "path": pa.string(),
        "additions": pa.int64(),
        "deletions": pa.int64(),
        "change_type": pa.string(),
        "old_path": pa.string(),
    },
}
CHANGE_TYPES = {
    "A": "added",
    "M": "modified",
    "D": "deleted",
    "R": "renamed",
    "C": "copied",
    "T": "type_changed",
    "U": "unmerged",
    "X": "unknown",
}


def _latin1_fallback(err: UnicodeError) -> tuple[str, int]:
    """Decode the bytes that are not UTF-8 as ISO-8859-1, one character a byte.

    git stores paths, and messages and names without an ``encoding`` header, as the bytes it
    was given; old repositories hold Latin-1 ones. Replacing them with U+FFFD made different
    paths one (``\xc4.txt`` and ``\xd6.txt`` both ``\ufffd.txt``: one file row lost) and names
    unreadable; Latin-1 keeps them apart and reads right for the commonest legacy encoding.
    """
    if not isinstance(err, UnicodeDecodeError):
        raise err
    return err.object[err.start : err.end].decode("latin-1"), err.end


DECODE_ERRORS = "forgelens-latin1"
codecs.register_error(DECODE_ERRORS, _latin1_fallback)


class MinedBatch:
    """The columns of ``commits`` and ``commit_files`` for a run of parsed commits.

    The parser appends to Python lists; :meth:`seal` turns them into Arrow columns (several
    times smaller than the lists' str and int objects) and drops the lists, so a batch waiting
    in the miner's hand-off queue holds only Arrow buffers.
    """

    def __init__(self, repo_id: str, trailers: bool = True) -> None:
        self.repo_id = repo_id
        self.trailers = trailers  # read Co-authored-by trailers (commit_coauthors)
        self.sha: list[str] = []
        self.parents: list[str] = []  # JSON arrays, as the store keeps them
        self.merge: list[bool] = []
        self.author_name: list[str | None] = []
        self.author_email: list[str | None] = []
        self.authored_at: list[int | None] = []  # epoch microseconds
        self.committer_name: list[str | None] = []
        self.committer_email: list[str | None] = []
        self.committed_at: list[int | None] = []
        self.message: list[str] = []
        self.additions: list[int] = []
        self.deletions: list[int] = []
        self.files_changed: list[int] = []
        self.f_sha: list[str] = []
        self.f_path: list[str] = []
        self.f_old: list[str | None] = []
        self.f_kind: list[str] = []
        self.f_add: list[int | None] = []
        self.f_del: list[int | None] = []
        self._sealed: tuple[pa.Table, pa.Table] | None = None
        self._coauthors: pa.Table | None = None

    def __len__(self) -> int:
        return self._sealed[0].num_rows if self._sealed else len(self.sha)

    @property
    def file_count(self) -> int:
        return self._sealed[1].num_rows if self._sealed else len(self.f_sha)

    def seal(self) -> None:
        """Convert the parsed columns to Arrow now and release the Python lists."""
        if self._sealed is None:
            sealed = self.columns()
            self.coauthor_columns()
            for value in vars(self).values():
                if isinstance(value, list):
                    value.clear()
            self._sealed = sealed

    def columns(self) -> tuple[pa.Table, pa.Table]:
        """Arrow tables of the parsed ``commits`` and ``commit_files`` columns (the store's
        bookkeeping columns left out)."""
        if self._sealed is not None:
            return self._sealed
        n, m = len(self.sha), len(self.f_sha)
        commits: dict[str, Sequence[Any]] = {
            "repository_id": [self.repo_id] * n,
            "sha": self.sha,
            "author_name": self.author_name,
            "author_email": self.author_email,
            "authored_at": self.authored_at,
            "committer_name": self.committer_name,
            "committer_email": self.committer_email,
            "committed_at": self.committed_at,
            "message": self.message,
            "additions": self.additions,
            "deletions": self.deletions,
            "files_changed": self.files_changed,
            "is_merge": self.merge,
            "parents": self.parents,
        }
        files: dict[str, Sequence[Any]] = {
            "repository_id": [self.repo_id] * m,
            "sha": self.f_sha,
            "path": self.f_path,
            "additions": self.f_add,
            "deletions": self.f_del,
            "change_type": self.f_kind,
            "old_path": self.f_old,
        }
        return _table("commits", commits), _table("commit_files", files)

    def coauthor_columns(self) -> pa.Table:
        """The ``Co-authored-by`` trailers of the parsed messages (``commit_coauthors``'s
        columns; none when the batch was mined without trailers)."""
        if self._coauthors is None:
            sha: list[str] = []
            pos: list[int] = []
            names: list[str] = []
            emails: list[str] = []
            if self.trailers:
                for commit, message in zip(self.sha, self.message, strict=True):
                    for i, p in enumerate(coauthors(message)):
                        sha.append(commit)
                        pos.append(i)
                        names.append(p.name)
                        emails.append(p.email)
            cols: dict[str, Sequence[Any]] = {
                "repository_id": [self.repo_id] * len(sha),
                "sha": sha,
                "position": pos,
                "name": names,
                "email": emails,
            }
            self._coauthors = _table("commit_coauthors", cols)
        return self._coauthors

    def records(self) -> list[tuple[Commit, list[CommitFile]]]:
        """The same data as records (for sinks and tests; slower than :meth:`tables`)."""
        commits, files = (t.to_pydict() for t in self.columns())
        out: list[tuple[Commit, list[CommitFile]]] = []
        by_sha: dict[str, list[CommitFile]] = {}
        for i, sha in enumerate(files["sha"]):
            by_sha.setdefault(sha, []).append(
                CommitFile(
                    self.repo_id,
                    sha,
                    files["path"][i],
                    files["additions"][i],
                    files["deletions"][i],
                    files["change_type"][i],
                    files["old_path"][i],
                )
            )
        for i, sha in enumerate(commits["sha"]):
            parents = commits["parents"][i]
            commit = Commit(
                repository_id=self.repo_id,
                sha=sha,
                author_name=commits["author_name"][i],
                author_email=commits["author_email"][i],
                authored_at=commits["authored_at"][i],
                committer_name=commits["committer_name"][i],
                committer_email=commits["committer_email"][i],
                committed_at=commits["committed_at"][i],
                message=commits["message"][i],
                additions=commits["additions"][i],
                deletions=commits["deletions"][i],
                files_changed=commits["files_changed"][i],
                is_merge=commits["is_merge"][i],
                parents=parents[2:-2].split('", "') if parents != "[]" else [],
            )
            out.append((commit, by_sha.get(sha, [])))
        return out


def _table(name: str, values: Mapping[str, Sequence[Any]]) -> pa.Table:
    """The columns of ``values`` as an Arrow table typed as ``COLUMN_TYPES[name]``.

    Only ``pa.array`` conversions: no compute kernel (cast, take), whose first use loads
    Arrow's compute library and function registry (about 10 MB) into the collector.
    """
    cols = [(col, pa.array(values[col], typ)) for col, typ in COLUMN_TYPES[name].items()]
    return pa.Table.from_arrays([a for _, a in cols], names=[c for c, _ in cols])


def _int(text: str) -> int | None:
    return None if text == "-" else int(text)


# 9999-12-31T23:59:59Z: the last second Python's datetime (so every reader of the store) holds
_MAX_SECONDS = 253_402_300_799


def _micros(epoch: str) -> int | None:
    """Epoch microseconds of a ``%at``/``%ct`` field, or None when git had no usable date.

    git prints the header's digits as they are: nothing for a date it cannot parse (a
    negative or garbled one), and any number of digits for one from a broken tool, which
    overflowed Arrow's int64 (``OverflowError``: the whole run failed) or, past year 9999,
    came back from the store as a string instead of a datetime.
    """
    if not epoch.isdecimal():  # int() takes every decimal digit; isdigit() has ² too
        return None
    seconds = int(epoch)
    return seconds * 1_000_000 if seconds <= _MAX_SECONDS else None


class Incomplete(Exception):
    """The tokens end inside a commit: wait for the next read."""


def parse_tokens(toks: list[str], out: MinedBatch, final: bool, limit: int) -> int:
    """Parse whole commits from ``toks`` into ``out``; return the index of the first token
    not consumed (the start of an unfinished commit, or ``len(toks)``). Stops after ``out``
    holds ``limit`` commits. With ``final``, the tokens are the end of the stream."""
    n = len(toks)
    i = 0
    f_sha, f_path, f_old, f_kind = out.f_sha, out.f_path, out.f_old, out.f_kind
    f_add, f_del = out.f_add, out.f_del
    kinds = CHANGE_TYPES
    while i < n and len(out.sha) < limit:
        head = toks[i]
        if head[:1] == "\n":
            head = head.lstrip("\n")
        if not head:
            i += 1
            continue
        if head[0] != "\x1e":
            raise SourceError(f"unexpected git log output near {head[:80]!r}")
        j = i + 1
        raw: list[tuple[str, str, str | None]] = []
        try:
            while True:
                if j >= n:
                    if final:
                        break
                    raise Incomplete
                tok = toks[j]
                if tok[:1] == "\n":
                    tok = tok.lstrip("\n")
                if tok[:1] != ":":
                    break
                status = tok[tok.rfind(" ") + 1 :][:1]
                if status in "RC":
                    if j + 2 >= n:
                        raise Incomplete
                    raw.append((status, toks[j + 2], toks[j + 1]))
                    j += 3
                else:
                    if j + 1 >= n:
                        raise Incomplete
                    raw.append((status, toks[j + 1], None))
                    j += 2
            stats: list[tuple[int | None, int | None]] = []
            for _ in raw:
                if j >= n:
                    raise Incomplete
                a_txt, d_txt, path = toks[j].split("\t", 2)
                if not path:
                    if j + 2 >= n:
                        raise Incomplete
                    j += 2
                j += 1
                stats.append((_int(a_txt), _int(d_txt)))
        except Incomplete:
            if final:
                raise SourceError("git log output ended inside a commit") from None
            return i
        except ValueError as exc:
            raise SourceError(f"unexpected git log numstat near {toks[j][:80]!r}") from exc
        fields = head[1:].split("\x1f", 8)
        sha, parents = fields[0], fields[1].split()
        total_add = total_del = 0
        for (status, path, old), (adds, dels) in zip(raw, stats, strict=True):
            f_sha.append(sha)
            f_path.append(path)
            f_old.append(old)
            f_kind.append(kinds.get(status, "unknown"))
            f_add.append(adds)
            f_del.append(dels)
            total_add += adds or 0
            total_del += dels or 0
        out.sha.append(sha)
        out.parents.append('["' + '", "'.join(parents) + '"]' if parents else "[]")
        out.merge.append(len(parents) > 1)
        if fields[3] == "%aE":  # git could not split the author line: it printed the
            fields[2] = fields[3] = ""  # placeholders %aN and %aE themselves
        if fields[6] == "%cE":
            fields[5] = fields[6] = ""
        out.author_name.append(fields[2] or None)
        out.author_email.append(fields[3] or None)
        out.authored_at.append(_micros(fields[4]))
        out.committer_name.append(fields[5] or None)
        out.committer_email.append(fields[6] or None)
        out.committed_at.append(_micros(fields[7]))
        out.message.append(fields[8].rstrip("\n") if len(fields) > 8 else "")
        out.additions.append(total_add)
        out.deletions.append(total_del)
        out.files_changed.append(len(raw))
        i = j
    return i


def parse_stream(
    repo_id: str, stdout: IO[bytes], batch_size: int, read_size: int, trailers: bool = True
) -> Iterator[MinedBatch]:
    """Yield batches of at most ``batch_size`` commits parsed from a ``git log`` stream
    (with ``trailers``, each batch reads its messages' ``Co-authored-by`` trailers too)."""
    batch = MinedBatch(repo_id, trailers)
    pending: list[str] = []  # whole tokens of a commit not finished yet
    rest = b""  # bytes after the last NUL: the start of a token
    while True:
        chunk = stdout.read(read_size)
        final = not chunk
        data = rest + chunk
        if final:
            toks = [*pending, data.decode("utf-8", DECODE_ERRORS)] if data else pending
            rest = b""
        else:
            cut = data.rfind(b"\0")
            if cut < 0:
                rest = data
                continue
            toks = pending + data[:cut].decode("utf-8", DECODE_ERRORS).split("\0")
            rest = data[cut + 1 :]
        while True:
            used = parse_tokens(toks, batch, final, batch_size)
            toks = toks[used:]
            if len(batch) >= batch_size:
                yield batch
                batch = MinedBatch(repo_id, trailers)
                continue
            break
        pending = toks
        if final:
            break
    if len(batch):
        yield batch
