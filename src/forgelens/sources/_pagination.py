"""Paginators: how each forge says "there is another page". One loop (``HttpClient.paginate``)
drives them all.

A paginator turns (the request just sent, its response, its decoded body) into the next request
or ``None``, and can say which items a page holds. ``resume`` tokens are plain strings a caller
may store (a cursor table, a backfill chunk) and hand back later with ``Paginator.resume``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import httpx

_LINK_RE = re.compile(r'<([^>]+)>\s*;\s*rel="?([^",;]+)"?')


@dataclass(frozen=True)
class RequestSpec:
    """One request, as data: what to send and under which endpoint name to count it."""

    method: str
    url: str  # absolute or relative to the client's base URL
    endpoint: str  # accounting name, e.g. "GET /repos/{owner}/{repo}/pulls"
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    resource: str = "core"  # rate-limit bucket
    conditional: bool = False  # send If-None-Match from the ETag cache
    attempts: int | None = None  # retry budget for this request (default: the client policy)
    cost: int = 1  # points it is expected to spend (GraphQL: the last cost GitHub reported)


def parse_link_header(value: str | None) -> dict[str, str]:
    """``<url>; rel="next", <url>; rel="last"`` -> {"next": url, "last": url}."""
    return {rel: url for url, rel in _LINK_RE.findall(value or "")}


def _int(body: Any, key: str) -> int | None:
    value = body.get(key) if isinstance(body, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dig(body: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body


class Paginator(Protocol):
    def items(self, body: Any) -> list[Any]: ...

    def next(
        self, spec: RequestSpec, response: httpx.Response, body: Any
    ) -> RequestSpec | None: ...

    def token(self, spec: RequestSpec) -> str: ...

    def resume(self, spec: RequestSpec, token: str) -> RequestSpec: ...


@dataclass(frozen=True)
class LinkHeaderPaginator:
    """GitHub REST (and GitLab offset pages): follow ``Link: <...>; rel="next"``."""

    items_key: str | None = None  # e.g. "workflow_runs" when the list is wrapped

    def items(self, body: Any) -> list[Any]:
        found = body.get(self.items_key) if isinstance(body, dict) and self.items_key else body
        return found if isinstance(found, list) else []

    def next(self, spec: RequestSpec, response: httpx.Response, body: Any) -> RequestSpec | None:
        url = parse_link_header(response.headers.get("link")).get("next")
        if not url:
            return None
        return replace(spec, url=url, params={})  # the next URL carries every parameter

    def token(self, spec: RequestSpec) -> str:
        return str(httpx.URL(spec.url).copy_merge_params(spec.params))

    def resume(self, spec: RequestSpec, token: str) -> RequestSpec:
        return replace(spec, url=token, params={})


@dataclass(frozen=True)
class GraphQLCursorPaginator:
    """GraphQL connections: ``pageInfo { hasNextPage endCursor }`` at ``path`` in ``data``."""

    path: tuple[str, ...]  # e.g. ("repository", "pullRequests")
    after_var: str = "after"

    def connection(self, body: Any) -> dict[str, Any]:
        found = _dig(body, ("data", *self.path))
        return found if isinstance(found, dict) else {}

    def items(self, body: Any) -> list[Any]:
        nodes = self.connection(body).get("nodes")
        return [n for n in nodes if n is not None] if isinstance(nodes, list) else []

    def next(self, spec: RequestSpec, response: httpx.Response, body: Any) -> RequestSpec | None:
        info = self.connection(body).get("pageInfo") or {}
        if not info.get("hasNextPage") or not info.get("endCursor"):
            return None
        return self.resume(spec, str(info["endCursor"]))

    def token(self, spec: RequestSpec) -> str:
        return str((spec.json or {}).get("variables", {}).get(self.after_var) or "")

    def resume(self, spec: RequestSpec, token: str) -> RequestSpec:
        payload = dict(spec.json or {})
        payload["variables"] = {**payload.get("variables", {}), self.after_var: token or None}
        return replace(spec, json=payload)


@dataclass(frozen=True)
class NextPageHeaderPaginator:
    """GitLab: ``x-next-page`` holds the next page number (empty on the last page)."""

    header: str = "x-next-page"
    page_param: str = "page"

    def items(self, body: Any) -> list[Any]:
        return body if isinstance(body, list) else []

    def next(self, spec: RequestSpec, response: httpx.Response, body: Any) -> RequestSpec | None:
        page = response.headers.get(self.header, "").strip()
        return self.resume(spec, page) if page else None

    def token(self, spec: RequestSpec) -> str:
        return str(spec.params.get(self.page_param, 1))

    def resume(self, spec: RequestSpec, token: str) -> RequestSpec:
        return replace(spec, params={**spec.params, self.page_param: token})


@dataclass(frozen=True)
class StartLimitPaginator:
    """Bitbucket Server/DC: ``{values, isLastPage, nextPageStart}`` with ``start``/``limit``."""

    start_param: str = "start"

    def items(self, body: Any) -> list[Any]:
        values = body.get("values") if isinstance(body, dict) else None
        return values if isinstance(values, list) else []

    def next(self, spec: RequestSpec, response: httpx.Response, body: Any) -> RequestSpec | None:
        if not isinstance(body, dict) or body.get("isLastPage", True):
            return None
        start = body.get("nextPageStart")
        return None if start is None else self.resume(spec, str(start))

    def token(self, spec: RequestSpec) -> str:
        return str(spec.params.get(self.start_param, 0))

    def resume(self, spec: RequestSpec, token: str) -> RequestSpec:
        return replace(spec, params={**spec.params, self.start_param: token})


@dataclass(frozen=True)
class NextUrlPaginator:
    """Bitbucket Cloud: the body's ``next`` is the next page's full URL. Some lists (pipelines:
    BCLOUD-20639) send no ``next`` but ``page``/``pagelen``/``size``: while ``size`` says more
    items follow, the next page is asked for by number."""

    key: str = "next"

    def items(self, body: Any) -> list[Any]:
        values = body.get("values") if isinstance(body, dict) else None
        return values if isinstance(values, list) else []

    def next(self, spec: RequestSpec, response: httpx.Response, body: Any) -> RequestSpec | None:
        url = body.get(self.key) if isinstance(body, dict) else None
        if isinstance(url, str) and url:
            return replace(spec, url=url, params={})
        page, pagelen, size = (_int(body, k) for k in ("page", "pagelen", "size"))
        if page is None or not pagelen or size is None or not self.items(body):
            return None
        if page * pagelen >= size:
            return None
        return replace(spec, params={**spec.params, "page": page + 1})

    def token(self, spec: RequestSpec) -> str:
        return str(httpx.URL(spec.url).copy_merge_params(spec.params))

    def resume(self, spec: RequestSpec, token: str) -> RequestSpec:
        return replace(spec, url=token, params={})


def query_params(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))
