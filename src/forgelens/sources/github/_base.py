"""Plumbing shared by the GitHub source's REST and GraphQL halves: the client, conditional GETs,
Link-paged lists, and one GraphQL call with its error handling (rate limits, missing
repositories, transient errors retried, partial data refused unless the caller asks for it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Self

from forgelens.errors import ForgeError, NotFound, RateLimited
from forgelens.logs import get_logger
from forgelens.records import Issue, Person
from forgelens.sources._forge_common import finish, older
from forgelens.sources._pagination import LinkHeaderPaginator
from forgelens.sources._ratelimit import Credential, backoff_delay
from forgelens.sources.base import PrBundle, RepoSnapshot
from forgelens.sources.github import _map as m
from forgelens.sources.http import HttpClient, RequestSpec, Response

log = get_logger(__name__)

LINK = LinkHeaderPaginator()
RUNS = LinkHeaderPaginator(items_key="workflow_runs")
FILE_CAP = 3000  # GitHub lists at most 3,000 files of a pull request
_BAD_ITEM = (KeyError, TypeError, ValueError, AttributeError)


def graphql_url(api_url: str) -> str:
    """``https://api.github.com`` -> ``.../graphql``; GHES ``https://h/api/v3`` -> ``https://h/api/graphql``."""
    base = api_url.rstrip("/")
    if base.endswith("/api/v3"):
        return base[: -len("/v3")] + "/graphql"
    return base + "/graphql"


# (change time, records) per item, errors, resume token of the next page
Items = tuple[list[tuple[datetime, list[Any]]], int, str | None]
PR_PAGE = 50


class GitHubBase:
    kind = m.SOURCE

    def __init__(self, client: HttpClient, *, api: str = "graphql", graphql_retries: int = 4):
        self.client = client
        self.api = api
        self.graphql_url = graphql_url(client.base_url)
        self.graphql_retries = graphql_retries
        self.pr_page = self.pr_page_max = PR_PAGE
        self._costs: dict[tuple[str, Any], int] = {}  # (operation, first) -> points it cost
        self._probed: dict[str, tuple[float, RepoSnapshot]] = {}  # full name -> (when, probe)
        # full name -> (when, the repository as the org's REST listing gave it)
        self._listed: dict[str, tuple[float, dict[str, Any]]] = {}
        self._pr_totals: dict[str, int] = {}  # full name -> pull requests the probe counted
        self._probe_lock = threading.Lock()

    @property
    def api_calls(self) -> int:
        return self.client.stats.total

    @property
    def requests_by_endpoint(self) -> dict[str, int]:
        return dict(self.client.stats.by_endpoint)

    def set_note(self, note: Callable[[str], None]) -> None:
        """Where the source says what it is waiting for (rate-limit resets, a failing host)."""
        self.client.note = note

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------------
    def _get(self, path: str, endpoint: str, *, conditional: bool = False, **params: Any) -> Any:
        spec = RequestSpec("GET", path, endpoint, params=params, conditional=conditional)
        return self.client.send(spec).json()

    def _pages(
        self,
        path: str,
        endpoint: str,
        resume: str | None = None,
        paginator: Any = LINK,
        *,
        conditional: bool = False,
        **params: Any,
    ) -> Iterator[tuple[list[Any], str | None]]:
        for _resp, items, nxt in self._responses(
            path, endpoint, resume, paginator, conditional=conditional, **params
        ):
            yield items, nxt

    def _responses(
        self,
        path: str,
        endpoint: str,
        resume: str | None = None,
        paginator: Any = LINK,
        *,
        conditional: bool = False,
        **params: Any,
    ) -> Iterator[tuple[Response, list[Any], str | None]]:
        """``_pages`` with each page's response (``from_cache``: the forge answered 304)."""
        spec = RequestSpec(
            "GET", path, endpoint, params={"per_page": 100, **params}, conditional=conditional
        )
        if resume:
            spec = paginator.resume(spec, resume)
        yield from self.client.paginate(spec, paginator)

    def graphql(
        self,
        document: str,
        operation: str,
        variables: dict[str, Any],
        attempts: int | None = None,
        *,
        partial: bool = False,
    ) -> tuple[Any, int]:
        """Run one query; return (data, errors accepted). Retries transient GraphQL errors,
        waits on RATE_LIMITED, raises ``NotFound`` for a missing repository. ``partial``: the
        caller can tell which parts are missing (a ``null`` node) and fetch them another way,
        so an answer with data and errors is returned at once with the number of errors."""
        attempt = limited = 0
        while True:
            response = self.client.send(
                self._graphql_spec(document, operation, variables, attempts)
            )
            body = response.json()
            if not isinstance(body, dict):
                raise ForgeError(f"GitHub GraphQL answered {operation} with something unusable")
            data, errors = body.get("data"), body.get("errors") or []
            self._note_budget(data, response.credential, (operation, variables.get("first")))
            if not errors:
                return data, 0
            types = {str(e.get("type")) for e in errors if isinstance(e, dict)}
            if "RATE_LIMITED" in types:
                limited += 1
                if limited > self.client.policy.max_attempts:
                    raise RateLimited(
                        f"GitHub GraphQL at {self.client.host} still answers RATE_LIMITED after "
                        f"{limited - 1} waits for the reset; try again later or add tokens "
                        "to GITHUB_TOKEN"
                    )
                self.client.wait_for_reset("graphql")
                continue
            if partial and isinstance(data, dict):
                log.debug("graphql partial data", operation=operation, types=sorted(types))
                return data, len(errors)
            missing_repo = not isinstance(data, dict) or data.get("repository") is None
            if "NOT_FOUND" in types and "owner" in variables and missing_repo:
                where = f"github:{variables['owner']}/{variables.get('name')}"
                raise NotFound(f"{where}: repository not found or the token has no access")
            attempt += 1
            first = errors[0].get("message") if isinstance(errors[0], dict) else errors[0]
            log.debug("graphql errors", operation=operation, types=sorted(types), attempt=attempt)
            if attempt < self.graphql_retries:
                self.client._sleep(
                    backoff_delay(
                        attempt,
                        base=self.client.policy.backoff_base,
                        cap=self.client.policy.backoff_cap,
                    )
                )
                continue
            # Partial data would leave holes behind the cursor: fail this repository instead;
            # its cursor stays at the last committed chunk and the next run resumes there.
            raise ForgeError(
                f"GitHub GraphQL {operation} kept returning errors ({str(first)[:200]}); "
                "collected data is kept and the next run resumes from here"
            )

    def _graphql_spec(
        self,
        document: str,
        operation: str,
        variables: dict[str, Any],
        attempts: int | None = None,
    ) -> RequestSpec:
        """The POST of one query, expected to cost what its shape cost last time."""
        payload = {"query": document, "variables": variables, "operationName": operation}
        shape = (operation, variables.get("first"))
        return RequestSpec(
            "POST",
            self.graphql_url,
            f"POST /graphql {operation}",
            json=payload,
            resource="graphql",
            attempts=attempts,
            cost=self._costs.get(shape, 1),
        )

    def _note_budget(self, data: Any, cred: Credential | None, shape: tuple[str, Any]) -> None:
        """Record the points left and what this shape of query (operation, page size) cost:
        the next one of its shape is expected to cost as much (shared budgets take it
        before sending)."""
        rate = data.get("rateLimit") if isinstance(data, dict) else None
        if isinstance(rate, dict) and isinstance(rate.get("cost"), int):
            self._costs[shape] = max(self._costs.get(shape, 1), rate["cost"])
        if isinstance(rate, dict) and isinstance(rate.get("remaining"), int):
            reset = m.ts(rate.get("resetAt"))
            self.client.update_budget(
                cred,
                "graphql",
                remaining=rate["remaining"],
                limit=int(rate.get("limit") or 0),
                reset_at=reset.timestamp() if reset else None,
            )


def next_cursor(info: Any, seen: set[str], operation: str) -> str | None:
    """The cursor of the page after this one (``pageInfo``), None on the last page. A cursor
    already followed would read the same pages forever: ``ForgeError``."""
    info = info if isinstance(info, dict) else {}
    cursor = info.get("endCursor") if info.get("hasNextPage") else None
    if not cursor:
        return None
    if str(cursor) in seen:
        raise ForgeError(
            f"GitHub GraphQL {operation} sent an endCursor back to the same page: stopped "
            "instead of reading it again; try again later"
        )
    seen.add(str(cursor))
    return str(cursor)


def _older(stamp: Any, since: datetime | None) -> bool:
    """``older`` at GitHub's whole-second stamps: the watermark's second is read again."""
    return older(m.ts(stamp), since, overlap=True)


def _finish(bundle: PrBundle, people: list[Person | None]) -> list[Any]:
    """The pull request's records and people (``finish``), its file list marked truncated
    when GitHub's 3,000-file cap cut it."""
    pr = bundle.pr
    if pr.changed_files is not None and pr.changed_files > len(bundle.files):
        pr.files_truncated = len(bundle.files) >= FILE_CAP or pr.changed_files > FILE_CAP
    return finish(bundle.records(), people)


def _issue_item(
    repo_id: str, issue: Issue, payload: dict[str, Any], comments: list[Any]
) -> tuple[datetime, list[Any]]:
    """An issue, its comments and the people on them (REST ``user`` or GraphQL ``author``)."""
    recs: list[Any] = [issue, m.person(payload.get("user") or payload.get("author"))]
    for c in comments:
        recs.append(m.issue_comment(repo_id, issue.number, c))
        recs.append(m.person(c.get("user") or c.get("author")))
    return issue.updated_at, [r for r in recs if r is not None]
