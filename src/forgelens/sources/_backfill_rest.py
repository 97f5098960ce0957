"""What the REST forges' ``BackfillSource``s share (``sources/<forge>/backfill.py`` builds
GitLab's, Bitbucket Cloud's and Bitbucket Server's on it from each source's own listing, detail
fetching and client; GitHub's is ``sources/github/backfill.py``).

A chunk is one listing page of pull requests, newest update first, each with its notes or
activity, files and commits -- the same bundles an incremental sync stores.

- GitLab and Bitbucket Cloud chunks are windows of the update time: the resume token is the
  update time of the chunk's last pull request, and the next chunk asks for those updated at or
  before it (``updated_before`` / ``q=updated_on <= T``). So a chunk may have any size (the
  engine shrinks and grows it) and a long history never reaches GitLab's 50,000-row offset cap
  (HTTP 405). Pull requests updated exactly at that time are read again (the upserts make that
  harmless); when a whole page shares one update time, the next chunk reads the next page of
  the same window (token ``T|page``).
- Bitbucket Server pages by ``start`` offsets (no update filter exists), which any ``limit``
  continues.
- ``totals``: GitLab's ``x-total`` header (absent past 10,000 rows: then the newest ``iid``,
  which counts deleted merge requests too), Bitbucket Cloud's ``size``, and for Bitbucket
  Server (which reports no total) a count of the pull request ids, 1,000 a page.
- ``recheck`` re-reads each item and its details; 404/410 = the forge no longer has it.
- ``open_issue``: GitLab and Bitbucket Cloud issues; Bitbucket Server has no issue tracker.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from forgelens.errors import NotFound
from forgelens.logs import get_logger
from forgelens.sources._forge_common import RawPages, RestSource, cut
from forgelens.sources._ratelimit import best_budget
from forgelens.sources.base import Page, RepoRef
from forgelens.sources.http import RequestSpec

log = get_logger(__name__)


@dataclass(frozen=True)
class Window:
    """Where a time-window chunk starts: pull requests updated at or before ``before`` (None:
    the newest), page ``page`` of that listing."""

    before: str | None = None
    page: int = 1

    @classmethod
    def parse(cls, token: str | None) -> Window:
        if not token:
            return cls()
        before, _, page = token.partition("|")
        try:
            datetime.fromisoformat(before.replace("Z", "+00:00"))
            return cls(before, int(page or 1))
        except ValueError:  # not ours (another version's cursor): re-reading is harmless
            log.warning(
                "backfill cursor is not an update time: starting from the newest", cursor=token
            )
            return cls()

    def token(self) -> str:
        return f"{self.before}|{self.page}" if self.page > 1 else str(self.before)

    def after(self, last: datetime) -> Window:
        """The window after a page whose last (oldest) pull request changed at ``last``."""
        at = stamp(last)
        return Window(at, self.page + 1) if at == self.before else Window(at)


def stamp(value: datetime) -> str:
    """A cursor's time: UTC to the microsecond with a ``Z``, as GitLab's ``updated_before``
    reads it (Bitbucket Cloud's window turns it into BBQL's ``+00:00`` form)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def first_page(pages: RawPages, since: datetime | None) -> tuple[Page, datetime | None]:
    """The first page of ``pages`` cut at ``since``, and the change time of its last item."""
    try:
        items, errors, nxt = next(pages, ([], 0, None))
    finally:
        close = getattr(pages, "close", None)  # a generator: stop it before its next request
        if close is not None:
            close()
    page = next(cut(iter([(items, errors, nxt)]), since), Page([], 0))
    return page, (items[page.items - 1][0] if page.items else None)


S = TypeVar("S", bound=RestSource)


class RestBackfill(Generic[S]):
    """What the three REST forges share: the budget of the source's client, re-checks."""

    def __init__(self, source: S) -> None:
        self.source = source

    def budget(self) -> tuple[int | None, datetime | None]:
        return best_budget(self.source.client.tokens.credentials, "core")

    def recheck(self, ref: RepoRef, entity: str, numbers: list[int]) -> dict[int, list[Any]]:
        out: dict[int, list[Any]] = {}
        for n in numbers:
            try:
                out[n] = self._fresh(ref, entity, n)
            except NotFound:  # 404, or 410 gone
                continue
        return out

    def _fresh(self, ref: RepoRef, entity: str, number: int) -> list[Any]:
        raise NotImplementedError

    def _send(self, method: str, path: str, endpoint: str, **kw: Any) -> Any:
        return self.source.client.send(RequestSpec(method, path, endpoint, **kw))


class WindowBackfill(RestBackfill[S]):
    """GitLab and Bitbucket Cloud: chunks are update-time windows (see the module text)."""

    max_page = 100

    def pull_request_chunk(
        self, ref: RepoRef, resume: str | None, size: int, since: datetime | None = None
    ) -> Page:
        window = Window.parse(resume)
        page, last = first_page(
            self._listing(ref, window, max(1, min(self.max_page, size)), since), since
        )
        if page.resume is None or last is None:
            return replace(page, resume=None)
        return replace(page, resume=window.after(last).token())

    def _listing(self, ref: RepoRef, window: Window, size: int, since: datetime | None) -> RawPages:
        raise NotImplementedError
