"""The simulator's ASGI app: one dataset, one renderer per forge API, shared faults, rate-limit
budgets and ETags.

Every request goes through the same pipeline: find the renderer by path prefix, authenticate,
maybe inject a fault, let the renderer answer, charge the budget (a 304 costs nothing), add the
forge's rate-limit headers, maybe truncate the body. Renderers only map the dataset to their
forge's JSON shapes (``github.py``; GitLab and Bitbucket are added the same way).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

from forgelens.testing.forge_sim.dataset import Dataset
from forgelens.testing.forge_sim.faults import Budget, Budgets, Faults
from forgelens.testing.forge_sim.secondary import SecondaryLimits

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class SimRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    base_url: str  # scheme://host[:port] as the client addressed us
    token: str | None = None

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def url(self, path: str, **params: object) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items() if v is not None)
        return f"{self.base_url}{path}" + (f"?{query}" if query else "")


@dataclass
class SimResponse:
    status: int
    body: Any = None  # JSON-able, or bytes
    headers: dict[str, str] = field(default_factory=dict)
    resource: str = "core"
    cost: int = 1
    after_spend: Callable[[Budget], None] | None = None  # e.g. fill GraphQL ``rateLimit``
    nodes: int = 0  # GraphQL: nodes in the answer (the server work secondary limits weigh)

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode()


class Renderer(Protocol):
    prefix: str

    def token(self, req: SimRequest) -> str | None: ...

    def accepts(self, req: SimRequest) -> bool:
        """Credentials of the forge's own (e.g. GitHub App tokens), besides ``tokens``."""
        ...

    def handle(self, req: SimRequest) -> SimResponse: ...

    def unauthorized(self, req: SimRequest) -> SimResponse: ...

    def primary_limit(self, req: SimRequest, resp: SimResponse, budget: Budget) -> SimResponse: ...

    def secondary_limit(self, req: SimRequest, retry_after: float | None) -> SimResponse: ...

    def server_error(self, req: SimRequest) -> SimResponse: ...

    def rate_headers(self, resource: str, budget: Budget) -> dict[str, str]: ...


def default_renderers(dataset: Dataset) -> list[Renderer]:
    """Every forge API the simulator speaks, each under its own path prefix: GitHub at ``/``
    (and ``/api/v3``), GitLab at ``/api/v4``, Bitbucket Server at ``/rest``, Cloud at ``/2.0``,
    Gitea / Forgejo at ``/api/v1``, Gerrit under the context path ``/gerrit``."""
    from forgelens.testing.forge_sim.bitbucket_cloud import BitbucketCloudRenderer
    from forgelens.testing.forge_sim.bitbucket_server import BitbucketServerRenderer
    from forgelens.testing.forge_sim.gerrit import GerritRenderer
    from forgelens.testing.forge_sim.gitea import GiteaRenderer
    from forgelens.testing.forge_sim.github import GitHubRenderer
    from forgelens.testing.forge_sim.gitlab import GitLabRenderer

    return [
        GitHubRenderer(dataset),
        GitLabRenderer(dataset),
        BitbucketServerRenderer(dataset),
        BitbucketCloudRenderer(dataset),
        GiteaRenderer(dataset),
        GerritRenderer(dataset),
    ]


class ForgeSim:
    """The ASGI application. ``tokens`` empty = every token (and none) is accepted."""

    def __init__(
        self,
        dataset: Dataset,
        *,
        faults: Faults | None = None,
        budgets: Budgets | None = None,
        tokens: set[str] | None = None,
        renderers: list[Renderer] | None = None,
        secondary: SecondaryLimits | None = None,
    ) -> None:
        self.dataset = dataset
        self.secondary = secondary  # GitHub's secondary limits (None: not enforced)
        self.in_flight = 0
        self.over_budget = 0
        self.faults = faults or Faults()
        self.budgets = budgets or Budgets()
        self.tokens = set(tokens or ())
        self.renderers = renderers or default_renderers(dataset)
        from forgelens.testing.forge_sim.backfill_routes import install

        for renderer in self.renderers:
            install(renderer)  # backfill's extra GitHub endpoints (a separate module)
        self.requests = 0
        self.log: list[tuple[str, str, int]] = []  # (method, path, status)
        # called with each request before it is answered: tests mutate the dataset mid-run
        self.hooks: list[Callable[[SimRequest], None]] = []

    def renderer_for(self, path: str) -> Renderer:
        best = max(
            (r for r in self.renderers if path.startswith(r.prefix)), key=lambda r: len(r.prefix)
        )
        return best

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        host = headers.get("host", "localhost")
        req = SimRequest(
            scope["method"],
            scope["path"],
            dict(parse_qsl(scope.get("query_string", b"").decode())),
            headers,
            body,
            f"{scope.get('scheme', 'http')}://{host}",
        )
        self.in_flight += 1
        try:
            resp, delay = self.handle(req)
            if delay:
                await asyncio.sleep(delay)
            payload = resp.encoded()
            raw_headers = []
            if "content-type" not in resp.headers:
                raw_headers.append((b"content-type", b"application/json; charset=utf-8"))
            raw_headers += [(k.encode(), str(v).encode()) for k, v in resp.headers.items()]
            raw_headers.append((b"content-length", str(len(payload)).encode()))
            start = {"type": "http.response.start", "status": resp.status, "headers": raw_headers}
            await send(start)
            await send({"type": "http.response.body", "body": payload})
        finally:
            self.in_flight -= 1

    def handle(self, req: SimRequest) -> tuple[SimResponse, float]:
        """Answer one request; returns the response and a delay to apply before sending."""
        self.requests += 1
        for hook in self.hooks:
            hook(req)
        renderer = self.renderer_for(req.path)
        req.token = renderer.token(req)
        resp, delay = self._answer(renderer, req)
        self.log.append((req.method, req.path, resp.status))
        return resp, delay

    def _answer(self, renderer: Renderer, req: SimRequest) -> tuple[SimResponse, float]:
        if self.tokens and req.token not in self.tokens and not renderer.accepts(req):
            return renderer.unauthorized(req), 0.0
        fault = self.faults.pick(req.path, req.token)
        delay = 0.0
        if fault == "revoked":
            self.tokens.discard(req.token or "")
            return renderer.unauthorized(req), 0.0
        if fault == "error":
            return renderer.server_error(req), 0.0
        if fault == "secondary":
            return renderer.secondary_limit(req, self.faults.secondary_retry_after), 0.0
        if fault == "html":
            page = b"<!DOCTYPE html><html><body><h1>Service unavailable</h1></body></html>"
            return SimResponse(200, page, {"content-type": "text/html; charset=utf-8"}), 0.0
        if fault == "login":
            return SimResponse(302, b"", {"location": "/users/sign_in"}), 0.0
        if fault == "slow":
            delay = self.faults.slow_seconds
        if self.faults.graphql_max_first is not None:
            req.headers["x-sim-max-first"] = str(self.faults.graphql_max_first)
        if self.faults.graphql_max_nodes is not None:
            req.headers["x-sim-max-nodes"] = str(self.faults.graphql_max_nodes)
        if fault == "graphql_error":
            req.headers["x-sim-graphql-error"] = "1"
        with self.dataset.lock:
            resp = renderer.handle(req)
        who = req.token or "anonymous"
        limits = self.secondary
        if limits is not None and resp.status < 400:
            cpu = limits.cpu(resp.nodes)
            wait = limits.check(who, resp.resource, self.in_flight, 1, cpu)
            if wait is not None:  # a query is 1 secondary point (the client sends no mutation)
                after = round(max(wait, 0.001), 3) if limits.retry_after else None
                return renderer.secondary_limit(req, after), delay
        if resp.status < 400 and self.budgets.exhausted(who, resp.resource, resp.cost):
            budget = self.budgets.get(who, resp.resource)
            self.over_budget += 1  # a client overspent: the forge refused on its primary limit
            limited = renderer.primary_limit(req, resp, budget)
            limited.headers.update(renderer.rate_headers(resp.resource, budget))
            return limited, delay
        if resp.after_spend is not None:
            resp.after_spend(self.budgets.spend(who, resp.resource, resp.cost))
            payload = resp.encoded()
            resp.headers.update(
                renderer.rate_headers(resp.resource, self.budgets.get(who, resp.resource))
            )
            if fault == "truncate":
                resp.body = payload[: len(payload) // 2]
            return resp, delay
        payload = resp.encoded()
        if req.method == "GET" and resp.status == 200:
            etag = '"' + hashlib.sha1(payload).hexdigest() + '"'  # noqa: S324
            resp.headers["etag"] = etag
            if req.headers.get("if-none-match") == etag:
                budget = self.budgets.get(who, resp.resource)  # a 304 costs nothing
                # the page's own headers too: GitHub's 304 carries the Link of the next page
                headers = {**resp.headers, **renderer.rate_headers(resp.resource, budget)}
                return SimResponse(304, b"", headers, resp.resource, 0), delay
        budget = self.budgets.spend(who, resp.resource, resp.cost)
        resp.headers.update(renderer.rate_headers(resp.resource, budget))
        if fault == "truncate" and resp.status == 200:
            resp.body = payload[: len(payload) // 2]
        return resp, delay
