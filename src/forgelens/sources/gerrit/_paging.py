"""How Gerrit says "there are more changes", and how a long history is read past the offset cap.

``/changes/?q=…&n=N&S=K`` answers a list, most recently updated first; the last item carries
``"_more_changes": true`` when more follow. The next page is ``S = K + items served`` (never
``K + N``: the server caps ``n`` at the caller's query limit without saying so). Index backends
cap the offset (Elasticsearch's ``max_result_window`` of 10,000, Lucene's page limit), so past
``window`` changes the paginator narrows the query instead: ``before:"<update time of the last
change read>"`` and ``S=0``. The changes updated exactly at that time are read again (the
upserts make that harmless). A resume token is ``<before>|<S>`` (``|0``: the newest first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import httpx

from forgelens.sources._pagination import RequestSpec

_BEFORE = re.compile(r' before:"[^"]*"')
WINDOW = 10_000  # Elasticsearch's default max_result_window; Lucene allows at least this


@dataclass(frozen=True)
class GerritPaginator:
    more_key: str = "_more_changes"
    window: int = WINDOW

    def items(self, body: Any) -> list[Any]:
        return body if isinstance(body, list) else []

    def next(self, spec: RequestSpec, response: httpx.Response, body: Any) -> RequestSpec | None:
        items = self.items(body)
        if not items or not isinstance(items[-1], dict) or items[-1].get(self.more_key) is not True:
            return None
        before, _, start = self.token(spec).partition("|")
        offset = int(start) + len(items)
        last = str(items[-1].get("updated") or "")
        if offset >= self.window and last and last[:23] != before:
            return self.resume(spec, f"{last[:23]}|0")  # a narrower window from its start
        return self.resume(spec, f"{before}|{offset}")

    def token(self, spec: RequestSpec) -> str:
        found = re.search(r' before:"([^"]*)"', str(spec.params.get("q", "")))
        start = str(spec.params.get("S", 0))
        return f"{found[1] if found else ''}|{int(start) if start.isdigit() else 0}"

    def resume(self, spec: RequestSpec, token: str) -> RequestSpec:
        before, _, start = token.partition("|")
        q = _BEFORE.sub("", str(spec.params.get("q", "")))
        if before:
            q += f' before:"{before}"'
        params = {**spec.params, "q": q, "S": int(start) if start.isdigit() else 0}
        return replace(spec, params=params)


CHANGES = GerritPaginator()
