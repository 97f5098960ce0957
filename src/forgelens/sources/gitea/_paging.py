"""How Gitea / Forgejo say "there is another page".

Lists page by ``page`` (1-based) and ``limit``. The server caps ``limit`` at its
``[api] MAX_RESPONSE_ITEMS`` (50 by default) without saying so, and counts pages in the size
it actually served: so the next page is always "the same request, ``page + 1``" -- never an
offset computed from the size asked for. Whether one follows is said by ``Link: rel="next"``
(built from the server's ``ROOT_URL``, which behind a proxy may name another host: only its
presence is read) or, on the lists of a pull request's files and commits, by ``X-HasMore``.
Lists that are not paged (a review's comments, branch protections) carry neither: one page.
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
        more = response.headers.get("x-hasmore")
        if more is not None:
            follows = more.strip().lower() == "true"
        else:
            follows = "next" in parse_link_header(response.headers.get("link"))
        if not follows:
            return None
        return self.resume(spec, str(int(self.token(spec)) + 1))

    def token(self, spec: RequestSpec) -> str:
        value = str(spec.params.get(self.page_param, 1))
        return value if value.isdigit() and int(value) > 0 else "1"

    def resume(self, spec: RequestSpec, token: str) -> RequestSpec:
        return replace(spec, params={**spec.params, self.page_param: token})


PAGES = GiteaPaginator()
