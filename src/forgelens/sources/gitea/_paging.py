"""How Gitea / Forgejo say "there is another page".

Lists page by ``page`` (1-based) and ``limit``. The server caps ``limit`` at its
``[api] MAX_RESPONSE_ITEMS`` (50 by default) without saying so, and counts pages in the size
it actually served: so the next page is always "the same request, ``page + 1``" -- never an
offset computed from the size asked for. Whether one follows is said by ``Link: rel="next"``
(built from the server's ``ROOT_URL``, which behind a proxy may name another host: only its
presence is read) or, on the lists of a pull request's files and commits, by ``X-HasMore``.
Some paged lists (a pull request's reviews, teams, team members) send only ``X-Total-Count``
(Actions runs: ``total_count`` in the body): then pages follow while fewer items than the
count were served. Lists that are not paged (a
review's comments, an issue's comments, branch protections) carry none of these: one page.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import httpx

from forgelens.sources._pagination import RequestSpec, parse_link_header


@dataclass(frozen=True)
class GiteaPaginator:
    page_param: str = "page"
    items_key: str = "workflow_runs"  # the one list Gitea wraps in an object (Actions runs)

    def items(self, body: Any) -> list[Any]:
        found = body.get(self.items_key) if isinstance(body, dict) else body
        return found if isinstance(found, list) else []

    def next(self, spec: RequestSpec, response: httpx.Response, body: Any) -> RequestSpec | None:
        if not self.items(body):
            return None  # an empty page ends every list, whatever a header claims
        page = int(self.token(spec))
        more = response.headers.get("x-hasmore")
        total = response.headers.get("x-total-count", "").strip()
        if not total and isinstance(body, dict):  # Actions lists count in the body
            total = str(body.get("total_count", ""))
        if more is not None:
            follows = more.strip().lower() == "true"
        elif "link" in response.headers:
            follows = "next" in parse_link_header(response.headers.get("link"))
        elif total.isdigit():
            # only a count (reviews, teams, members): every page before this one was full,
            # of this one's size; a short last page costs at most one empty page more
            follows = page * len(self.items(body)) < int(total)
        else:
            follows = False
        return self.resume(spec, str(page + 1)) if follows else None

    def token(self, spec: RequestSpec) -> str:
        value = str(spec.params.get(self.page_param, 1))
        return value if value.isdigit() and int(value) > 0 else "1"

    def resume(self, spec: RequestSpec, token: str) -> RequestSpec:
        return replace(spec, params={**spec.params, self.page_param: token})


PAGES = GiteaPaginator()
