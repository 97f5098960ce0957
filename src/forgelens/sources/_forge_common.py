"""Helpers shared by the GitLab and Bitbucket sources: timestamps, the "stop at the watermark"
page cutter, people de-duplication and the client factory every non-GitHub source uses.

Sources yield ``(items, errors, resume)`` where each item is ``(change time, records)``;
``cut`` turns that into ``Page``s that stop at ``since`` (a forge without a server-side update
filter, such as Bitbucket Server, relies on it to end an incremental pass).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

import httpx
from pydantic import SecretStr

from forgelens.errors import BadInput, NotFound
from forgelens.logs import get_logger
from forgelens.records import Person, Review
from forgelens.sources._pagination import Paginator, RequestSpec
from forgelens.sources._ratelimit import Credential, TokenPool
from forgelens.sources.base import Page
from forgelens.sources.http import ClientPolicy, EtagCache, ForgeProfile, HttpClient

if TYPE_CHECKING:
    from forgelens.sources.forge import SourceOptions

log = get_logger(__name__)

Item = tuple[datetime, list[Any]]
RawPages = Iterator[tuple[list[Item], int, str | None]]
BAD_ITEM = (KeyError, TypeError, ValueError, AttributeError)


def ts(value: Any) -> datetime | None:
    """ISO-8601 text (``Z`` or offset) -> aware UTC datetime; anything else -> None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def logins(users: Any, login: Callable[[Any], str | None]) -> list[str] | None:
    """The logins of a forge's list of users (``login`` reads one; a team or a ghost has none
    and is left out), None when the answer carries no list (unknown, not empty)."""
    if not isinstance(users, list):
        return None
    return [name for name in map(login, users) if name]


def ms(value: Any) -> datetime | None:
    """A Bitbucket Server / Data Center time -> aware UTC datetime: epoch milliseconds (a
    number, or its digits as text), or ISO-8601 text, which Data Center 10 sends in webhook
    payloads (``"2026-08-19T17:27:55.266Z"``) where earlier versions sent milliseconds."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, str):
        return ts(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


def req(value: datetime | None, what: str) -> datetime:
    if value is None:
        raise ValueError(f"missing timestamp: {what}")
    return value


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def intval(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def older(changed: datetime | None, since: datetime | None, *, overlap: bool = False) -> bool:
    """Already read by the pass that set the watermark ``since``.

    The cursor rule: a pass reads from a closed start, re-reads what may share the boundary
    and dedupes by natural key (the upserts). Which items may share it depends on how finely
    the forge stamps changes: to the millisecond (GitLab, Bitbucket), an item changed exactly
    at ``since`` is the change that set the watermark, already stored, so it is older and an
    unchanged repository reads nothing; to the second (GitHub, Gitea: ``overlap``), another
    change may share the watermark's second, so only items changed before it are older and the
    boundary second is read again."""
    if since is None or changed is None:
        return False
    return changed < since if overlap else changed <= since


def finish(records: list[Any], people: list[Person | None]) -> list[Any]:
    """The records followed by each distinct person once."""
    seen: dict[str, Person] = {}
    for p in people:
        if p is not None:
            seen.setdefault(p.login, p)
    return [*records, *seen.values()]


def withdraw(
    reviews: list[Review],
    withdrawals: list[tuple[str | None, datetime | None]],
    merged_at: datetime | None,
) -> None:
    """Mark DISMISSED each approval its author took back (``withdrawals``: author, when),
    as GitHub does for a dismissed review: each withdrawal ends the author's latest approval
    given before it. A withdrawal after the merge leaves the approval standing (it stood
    when the pull request merged); one whose time is unknown counts as before the merge."""
    for who, when in sorted(withdrawals, key=lambda w: (w[1] is None, w[1] or _EPOCH)):
        if who is None or (merged_at is not None and when is not None and when > merged_at):
            continue
        given = [
            r
            for r in reviews
            if r.author == who
            and r.state == "APPROVED"
            and (when is None or r.submitted_at is None or r.submitted_at <= when)
        ]
        if given:
            latest = max(given, key=lambda r: r.submitted_at or _EPOCH)
            latest.state = "DISMISSED"


_EPOCH = datetime.fromtimestamp(0, UTC)


def cut(pages: RawPages, since: datetime | None, *, overlap: bool = False) -> Iterator[Page]:
    """(items with their change time, errors, resume) -> Pages stopped at ``since``.

    Where it stops is ``older``'s rule: items changed exactly at ``since`` are read again
    only with ``overlap`` (forges that stamp whole seconds: GitHub)."""
    for items, errors, nxt in pages:
        records: list[Any] = []
        people: dict[str, Person] = {}
        high: datetime | None = None
        count, done = 0, False
        for changed, recs in items:
            if older(changed, since, overlap=overlap):
                done = True
                break
            count += 1
            high = changed if high is None or changed > high else high
            for r in recs:
                if isinstance(r, Person):
                    people.setdefault(r.login, r)
                else:
                    records.append(r)
        records.extend(people.values())
        yield Page(records, count, high, None if done else nxt, errors, done)
        if done:
            return


def tls_verify(ca_bundle: object) -> ssl.SSLContext | bool:
    """``--ca-bundle PATH`` -> an SSL context trusting that bundle (default: system CAs)."""
    if not ca_bundle:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_bundle))
    except (OSError, ssl.SSLError) as exc:
        raise BadInput(
            f"--ca-bundle {ca_bundle}: cannot be read as PEM certificates ({exc})"
        ) from exc


def api_root(opts: SourceOptions, default_url: str, suffix: str = "") -> str:
    """The API root: ``--api-url`` (with the forge's ``suffix`` when missing) or the public
    default; ``BadInput`` for anything but an http(s) URL."""
    api_url = (opts.api_url or default_url).rstrip("/")
    if not api_url.startswith(("https://", "http://")):
        raise BadInput(f"--api-url {api_url!r}: give a URL such as {default_url}")
    if suffix and not api_url.endswith(suffix):
        api_url += suffix
    return api_url


def make_client(
    opts: SourceOptions,
    *,
    default_url: str,
    profile: ForgeProfile | None,
    token: SecretStr | None,
    etags: EtagCache | None = None,
    transport: httpx.BaseTransport | None = None,
    suffix: str = "",
    tokens: TokenPool | None = None,
    refresh: Callable[[Credential], None] | None = None,
) -> HttpClient:
    """The HTTP client of a forge source, from ``--api-url``, ``--ca-bundle`` ... and the
    forge's token setting (one or several, comma-separated); ``tokens`` and ``refresh``
    replace the setting's pool (GitHub App installation tokens)."""
    api_url = api_root(opts, default_url, suffix)
    policy = ClientPolicy.from_extra(opts.extra)
    return HttpClient(
        api_url,
        tokens=tokens if tokens is not None else TokenPool.from_setting(token),
        profile=profile,
        policy=policy,
        etags=etags,
        transport=transport,
        refresh=refresh,
        verify=tls_verify(opts.extra.get("ca_bundle")),
    )


class RestSource:
    """Plumbing of a REST forge source: one client, GET helpers and page iteration with the
    forge's paginator. Subclasses set ``paginator``; ``page_params`` ask for the largest page."""

    paginator: Paginator
    overlap = False  # True: the forge stamps whole seconds (see ``older``)

    def __init__(self, client: HttpClient, page_params: dict[str, Any]) -> None:
        self.client = client
        self.page_params = dict(page_params)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @property
    def api_calls(self) -> int:
        return self.client.stats.total

    def set_note(self, note: Callable[[str], None]) -> None:
        """Where the client says what it waits for (the progress bar)."""
        self.client.note = note

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self.client.close()

    def fetch_items(
        self,
        items: list[dict[str, Any]],
        changed: Callable[[dict[str, Any]], datetime | None],
        since: datetime | None,
        fetch: Callable[[dict[str, Any]], Item],
        *,
        ordered: bool = True,
    ) -> tuple[list[Item], int, bool]:
        """Fetch the details of each listed item newer than ``since`` -- several at once, the
        client bounding the requests in flight -- in list order. Returns (items, errors,
        reached ``since``). An item ``fetch`` cannot map, or that is gone (404) by the time
        its details are read, is skipped and counted.

        ``ordered``: the list comes newest change first, so the first item at or before
        ``since`` ends it. A list in another order that the server already cut at ``since``
        to the second (Gitea's issues, newest *created* first) is not ``ordered``: an item of
        the watermark's second that was read before is skipped, its details not fetched
        again, and the list goes on."""
        fresh: list[dict[str, Any]] = []
        reached = False
        for item in items:
            if older(changed(item), since, overlap=self.overlap):
                if not ordered:
                    continue
                reached = True
                break
            fresh.append(item)

        def one(item: dict[str, Any]) -> Item | None:
            try:
                return fetch(item)
            except BAD_ITEM as exc:
                log.warning("item skipped", error=repr(exc))
                return None
            except NotFound as exc:  # deleted after it was listed (a 404 for its details)
                log.warning("item gone since it was listed, skipped", reason=exc.message)
                return None

        workers = self.client.policy.concurrency
        if workers <= 1 or len(fresh) <= 1:
            done = [one(i) for i in fresh]
        else:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(workers, thread_name_prefix="forge-fetch")
            done = list(self._pool.map(one, fresh))
        out = [d for d in done if d is not None]
        return out, len(done) - len(out), reached

    def detail_pages(
        self,
        path: str,
        endpoint: str,
        resume: str | None,
        params: dict[str, Any],
        since: datetime | None,
        changed: Callable[[dict[str, Any]], datetime | None],
        fetch: Callable[[dict[str, Any]], Item],
        *,
        ordered: bool = True,
    ) -> RawPages:
        """List ``path`` newest change first (``ordered``; else see ``fetch_items``) and fetch
        each item's details until ``since``."""
        for items, nxt in self._pages(path, endpoint, resume, **params):
            out, errors, reached = self.fetch_items(items, changed, since, fetch, ordered=ordered)
            yield out, errors, None if reached else nxt
            if reached:
                return

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, endpoint: str, **params: Any) -> Any:
        return self.client.send(RequestSpec("GET", path, endpoint, params=params)).json()

    def _pages(
        self, path: str, endpoint: str, resume: str | None = None, **params: Any
    ) -> Iterator[tuple[list[Any], str | None]]:
        """(dict items, resume token of the next page) per page; ``resume`` continues."""
        spec = RequestSpec("GET", path, endpoint, params={**self.page_params, **params})
        if resume:
            spec = self.paginator.resume(spec, resume)
        for _resp, items, nxt in self.client.paginate(spec, self.paginator):
            yield [i for i in items if isinstance(i, dict)], nxt

    def _all(self, path: str, endpoint: str, **params: Any) -> list[Any]:
        return [i for items, _ in self._pages(path, endpoint, **params) for i in items]

    def _all_or_none(self, path: str, endpoint: str, **params: Any) -> list[Any] | None:
        """``_all`` of one item's sub-list the forge may no longer have (a pull request's
        commits or diff after its branch, fork or commits were deleted: a 404 although the
        pull request exists); None then, so that the item is kept without that list."""
        try:
            return self._all(path, endpoint, **params)
        except NotFound as exc:
            log.warning("sub-list gone, item kept without it", path=path, reason=exc.message)
            return None
