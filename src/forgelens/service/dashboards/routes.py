"""The dashboard pages, their JSON and CSV endpoints, and the login that keeps the API key in a
secure, HTTP-only, SameSite=Strict cookie.

- ``GET /login``, ``POST /login`` (form field ``key``), ``POST /logout``;
- ``GET /engineering-lens`` ... ``/pipeline-runs``: HTML (no key: redirect to ``/login``);
- ``GET /api/v1/dashboards/{page}``: the page's data as JSON; ``.../{page}/{table}.csv``: a table;
- ``POST /runs/cleanup-stuck``: operator action (mark runs of dead processes failed).

Pages and data take the key from the cookie or, like the rest of the API, from ``X-API-Key``.
Views of the analytics pages are cached per filter set until the next ``analyze`` (``ViewCache``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from forgelens.analytics import reads
from forgelens.engine.runs import cleanup_stuck_runs
from forgelens.errors import BadInput
from forgelens.service.auth import presented_key
from forgelens.service.context import context
from forgelens.service.dashboards._view import to_csv
from forgelens.service.dashboards.render import (
    CHART_JS,
    PAGES,
    Page,
    render,
    render_views,
    static_text,
)
from forgelens.service.keys import Principal
from forgelens.store import Store

COOKIE = "forgelens_key"
COOKIE_MAX_AGE = 12 * 3600
STUCK_AFTER = timedelta(minutes=30)
STATIC = {
    "app.js": "text/javascript",
    "style.css": "text/css",
    CHART_JS: "text/javascript",
    "vendor/chart.js-LICENSE.md": "text/plain",
}

router = APIRouter(tags=["dashboards"])


async def _principal(request: Request, *, page: bool) -> Principal:
    """The caller, from the cookie or an API-key header; refusals are audited like the API's."""
    ctx = context(request)
    key = request.cookies.get(COOKIE) or presented_key(request, request.headers.get("x-api-key"))
    principal = await ctx.authenticate(key) if key else None
    if principal is None:
        target = f"{request.method} {request.url.path}"
        await ctx.audit(
            request, "auth", "denied", target=target, detail="unknown key" if key else "no API key"
        )
        if page:
            back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise HTTPException(303, "sign in", headers={"Location": f"/login?next={quote(back)}"})
        raise HTTPException(401, "an API key is required: sign in at /login or send X-API-Key")
    request.state.principal = principal
    wait = await ctx.limiter.hit(principal.key_id)
    if wait > 0:
        raise HTTPException(
            429,
            f"rate limit of {ctx.limiter.per_minute} requests per minute reached for this key",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    return principal


async def page_user(request: Request) -> Principal:
    return await _principal(request, page=True)


async def api_user(request: Request) -> Principal:
    return await _principal(request, page=False)


PageUser = Annotated[Principal, Depends(page_user)]
ApiUser = Annotated[Principal, Depends(api_user)]


def _safe_next(target: str | None) -> str:
    """Only local paths (never ``//host`` or a full URL) are followed after signing in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/engineering-lens"
    return target


class ViewCache:
    """Views of the analytics pages, kept until the next ``analyze`` (``analytics_state``'s
    latest ``analyzed_at`` and row count) or the next UTC day, whichever comes first."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._views: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()  # views are built in worker threads

    def build(self, store: Store, page: Page, params: dict[str, str]) -> dict[str, Any]:
        if not page.analytics:
            return page.build(store, params)
        stamp = reads.analysis_stamp(store)
        key = (page.path, tuple(sorted(params.items())), *stamp, datetime.now(UTC).date())
        with self._lock:
            hit = self._views.get(key)
            if hit is not None:
                self._views.move_to_end(key)
                return hit
        view = page.build(store, params)
        with self._lock:
            self._views[key] = view
            while len(self._views) > self.size:
                self._views.popitem(last=False)
        return view


def _cache(request: Request) -> ViewCache:
    """One cache per app (per store)."""
    state = request.app.state
    if not hasattr(state, "dashboard_views"):
        state.dashboard_views = ViewCache()
    cache: ViewCache = state.dashboard_views
    return cache


async def _view(request: Request, name: str) -> dict[str, Any]:
    page = PAGES.get(name)
    if page is None:
        raise HTTPException(404, f"no dashboard {name!r}: pick one of {', '.join(PAGES)}")
    params = dict(request.query_params)
    params.pop("cleaned", None)  # the notice after an operator action, not a filter
    try:
        cache = _cache(request)
        return await context(request).with_store(lambda s: cache.build(s, page, params))
    except BadInput as exc:
        raise HTTPException(400, str(exc)) from exc


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_form(request: Request, next: str = "", error: str = "") -> HTMLResponse:
    return HTMLResponse(render("login.html", title="Sign in", next=_safe_next(next), error=error))


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0].strip()
    target = _safe_next((form.get("next") or [""])[0])
    ctx = context(request)
    principal = await ctx.authenticate(key) if key else None
    if principal is None:
        await ctx.audit(request, "login", "denied", target="/login", detail="unknown key")
        html = render(
            "login.html",
            title="Sign in",
            next=target,
            error="This key is unknown or revoked: check it, or create one with "
            "forgelens keys create --role viewer.",
        )
        return HTMLResponse(html, status_code=401)
    await ctx.audit(request, "login", "ok", target="/login", key_id=principal.key_id)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE, key, max_age=COOKIE_MAX_AGE, httponly=True, secure=True, samesite="strict", path="/"
    )
    return response


@router.post("/logout", include_in_schema=False)
async def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, secure=True, samesite="strict")
    return response


@router.get("/dashboards/static/{name:path}", include_in_schema=False)
async def static(name: str) -> Response:
    if name not in STATIC:
        raise HTTPException(404, "no such file")
    return Response(
        static_text(name),
        media_type=STATIC[name],
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/api/v1/dashboards/{name}")
async def view_data(name: str, request: Request, who: ApiUser) -> JSONResponse:
    """A dashboard's data (filters from the query string, as on the page)."""
    return JSONResponse(await _view(request, name))


@router.get("/api/v1/dashboards/{name}/{table}.csv")
async def view_csv(name: str, table: str, request: Request, who: ApiUser) -> Response:
    """One table of a dashboard (the numbers behind a chart) as CSV."""
    view = await _view(request, name)
    if table not in view["tables"]:
        raise HTTPException(
            404, f"{name} has no table {table!r}: one of {', '.join(view['tables'])}"
        )
    return Response(
        to_csv(view, table),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-{table}.csv"'},
    )


@router.post("/runs/cleanup-stuck", include_in_schema=False)
async def cleanup_stuck(request: Request, who: PageUser) -> Response:
    """Operator action: mark runs whose process is gone (or silent for 30 min) as failed."""
    ctx = context(request)
    if not who.can("operator"):
        await ctx.audit(
            request,
            "auth",
            "denied",
            target="POST /runs/cleanup-stuck",
            detail=f"role {who.role} lacks operator",
        )
        return HTMLResponse(
            _page_html(
                request,
                who,
                "runs",
                [],
                error="Marking stuck runs failed needs an operator key; this key is a viewer.",
            ),
            status_code=403,
        )
    failed = await ctx.with_store(lambda s: cleanup_stuck_runs(s, STUCK_AFTER))
    await ctx.audit(
        request,
        "runs.cleanup",
        "ok",
        target="POST /runs/cleanup-stuck",
        detail=f"{len(failed)} runs failed",
    )
    return RedirectResponse(f"/runs?cleaned={len(failed)}", status_code=303)


def _page_html(
    request: Request,
    who: Principal,
    name: str,
    views: list[dict[str, Any]],
    error: str = "",
    notice: str = "",
) -> str:
    actions = []
    if name == "runs" and who.can("operator"):
        actions.append(
            {
                "name": "cleanup-stuck",
                "path": "/runs/cleanup-stuck",
                "label": "Mark stuck runs failed",
                "help": "Runs whose process is gone or silent for 30 minutes",
            }
        )
    return render_views(
        views,
        title=PAGES[name].label,
        active=name,
        who=who,
        error=error,
        notice=notice,
        actions=actions,
    )


def _page_route(name: str) -> Any:
    async def show(request: Request, who: PageUser) -> HTMLResponse:
        try:
            views = [await _view(request, name)]
        except HTTPException as exc:
            if exc.status_code != 400:
                raise
            return HTMLResponse(_page_html(request, who, name, [], error=str(exc.detail)), 400)
        cleaned = request.query_params.get("cleaned")
        notice = f"Stuck runs marked failed: {cleaned}." if cleaned and cleaned.isdigit() else ""
        return HTMLResponse(_page_html(request, who, name, views, notice=notice))

    show.__name__ = f"page_{name.replace('-', '_')}"
    return show


for _name in PAGES:
    router.add_api_route(
        f"/{_name}",
        _page_route(_name),
        methods=["GET"],
        response_class=HTMLResponse,
        include_in_schema=False,
    )
