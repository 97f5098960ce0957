"""GitHub Deployments: the REST listing, then the statuses of a page's changed deployments in
one GraphQL query.

The listing stays REST: only it carries ``transient_environment``, ``production_environment``
and ``payload`` (GraphQL's ``Deployment`` has no such flags), and its conditional request costs
an unchanged repository one 304. With a token and ``--api graphql`` the statuses of every
deployment on a page that changed come from one ``nodes(ids:)`` query (about one point); the
REST ``/deployments/{id}/statuses`` request, one per deployment, stays for what GraphQL does
not settle: no token (GitHub's GraphQL needs one), ``--api rest``, a node GraphQL did not
resolve (``null`` with an error), a statuses list that came back incomplete, and two statuses
in the same second whose order would decide the outcome (REST's status ids settle it).
Either way ``_map.deployment`` reads the same fields, so the stored rows are the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from forgelens.errors import ForgeError, NotFound
from forgelens.records import Deployment, repository_id
from forgelens.sources._forge_common import older
from forgelens.sources.base import Page, RepoRef
from forgelens.sources.github import _map as m
from forgelens.sources.github._base import _BAD_ITEM, log
from forgelens.sources.github._graphql import PAGE_INFO, RATE, GraphQLFetch
from forgelens.sources.github._rest import RestFetch

STATUS = "state createdAt logUrl"
NODES_MAX = 100  # GitHub resolves at most 100 ids in one nodes(ids:) call

DEPLOYMENT_STATUSES = f"""query DeploymentStatuses($ids: [ID!]!, $first: Int!) {{
  nodes(ids: $ids) {{
    ... on Deployment {{
      databaseId
      statuses(first: $first) {{ {PAGE_INFO} nodes {{ {STATUS} }} }}
    }}
  }}
  {RATE}
}}"""

DEPLOYMENT_STATUS_PAGES = f"""query DeploymentStatusPages($id: ID!, $first: Int!,
  $after: String) {{
  node(id: $id) {{
    ... on Deployment {{
      statuses(first: $first, after: $after) {{ {PAGE_INFO} nodes {{ {STATUS} }} }}
    }}
  }}
  {RATE}
}}"""


class DeploymentFetch(RestFetch, GraphQLFetch):
    def deployments(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        """Deployments with their statuses, newest created first (GitHub's order).

        A deployment's ``updated_at`` moves when a status is added, so only the deployments
        changed since the watermark need their statuses read; the listing stops after the page
        that reaches deployments created before it. GitHub stamps whole seconds, so one changed
        in the watermark's own second is read again -- unless the listing is unchanged (a 304
        to the conditional request): an unchanged repository costs that one request."""
        repo_id = repository_id(self.kind, ref.full_name)
        base = f"/repos/{ref.full_name}/deployments"
        for resp, items, nxt in self._responses(
            base, "GET /repos/{owner}/{repo}/deployments", resume, conditional=True
        ):
            overlap = not resp.from_cache  # a 304: nothing on the page changed since it was read
            changed: list[tuple[dict[str, Any], datetime | None]] = []
            errors = 0
            done = False
            for d in items:
                if not isinstance(d, dict):
                    errors += 1
                    continue
                created = m.ts(d.get("created_at"))
                stamp = m.ts(d.get("updated_at")) or created
                done = done or older(created, since, overlap=True)
                if not older(stamp, since, overlap=overlap):  # else: no status since last pass
                    changed.append((d, stamp))
            from_graphql = self._graphql_statuses(ref, [d for d, _ in changed])
            records: list[Any] = []
            high: datetime | None = None
            count = 0
            for d, stamp in changed:
                try:
                    dep = _settled(repo_id, d, from_graphql.get(str(d.get("node_id"))))
                    if dep is None:
                        statuses = self._rest_list(
                            f"{base}/{int(d['id'])}/statuses",
                            "GET /repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
                        )
                        dep = m.deployment(repo_id, d, statuses)
                except (*_BAD_ITEM, NotFound) as exc:  # NotFound: deleted since it was listed
                    errors += 1
                    log.warning("deployment skipped", repository=ref.full_name, error=repr(exc))
                    continue
                records.append(dep)
                who = m.person(d.get("creator"))
                if who is not None:
                    records.append(who)
                count += 1
                high = stamp if high is None or (stamp and stamp > high) else high
            yield Page(records, count, high, None if done else nxt, errors, done)
            if done:
                return

    def _graphql_statuses(
        self, ref: RepoRef, deployments: list[dict[str, Any]]
    ) -> dict[str, list[dict[str, Any]]]:
        """node id -> the deployment's statuses in REST's shape, for those GraphQL answered
        whole; the others are absent (their statuses come from REST)."""
        if self.api != "graphql" or self.client.tokens.anonymous or not deployments:
            return {}
        wanted: dict[str, int] = {}
        for d in deployments:
            node_id, db_id = d.get("node_id"), d.get("id")
            if isinstance(node_id, str) and node_id and isinstance(db_id, int):
                wanted[node_id] = db_id
        ids = list(wanted)
        out: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(ids), NODES_MAX):
            chunk = ids[start : start + NODES_MAX]
            try:
                data, errors = self.graphql(
                    DEPLOYMENT_STATUSES,
                    "DeploymentStatuses",
                    {"ids": chunk, "first": 100},
                    partial=True,
                )
            except ForgeError as exc:  # the whole query failed: REST for this chunk
                log.info("deployment statuses from REST", repository=ref.full_name, why=str(exc))
                continue
            nodes = data.get("nodes") if isinstance(data, dict) else None
            for node_id, node in zip(chunk, nodes or [], strict=False):  # in the order asked
                if isinstance(node, dict) and node.get("databaseId") == wanted[node_id]:
                    statuses = self._all_statuses(node_id, node.get("statuses"))
                    if statuses is not None:
                        out[node_id] = statuses
            missing = [i for i in chunk if i not in out]
            if missing:
                log.info(
                    "deployment statuses from REST",
                    repository=ref.full_name,
                    deployments=len(missing),
                    graphql_errors=errors,
                )
        return out

    def _all_statuses(self, node_id: str, conn: Any) -> list[dict[str, Any]] | None:
        """Every status of one deployment (follow-up pages past the first 100), or None when
        GraphQL did not give them all."""
        if not isinstance(conn, dict) or not isinstance(conn.get("nodes"), list):
            return None
        if any(not isinstance(s, dict) for s in conn["nodes"]):
            return None  # partial data: a status came back null
        try:
            nodes = self._follow(
                conn,
                DEPLOYMENT_STATUS_PAGES,
                "DeploymentStatusPages",
                {"id": node_id},
                ("node", "statuses"),
            )
        except ForgeError:
            return None
        if len(nodes) != conn.get("totalCount"):
            return None
        return [rest_status(i, s) for i, s in enumerate(nodes)]


def rest_status(position: int, s: dict[str, Any]) -> dict[str, Any]:
    """A GraphQL ``DeploymentStatus`` in the REST fields ``_map.deployment`` reads: its state
    lower-cased (``IN_PROGRESS`` -> ``in_progress``; GraphQL's enum is REST's states in capitals)
    and its place in the connection as ``id`` (GraphQL has no status database id)."""
    state = s.get("state")
    return {
        "id": position,
        "state": state.lower() if isinstance(state, str) else None,
        "created_at": s.get("createdAt"),
        "log_url": s.get("logUrl"),
    }


def _settled(
    repo_id: str, d: dict[str, Any], statuses: list[dict[str, Any]] | None
) -> Deployment | None:
    """The deployment from its GraphQL statuses, or None (ask REST) when there are none or when
    their order decides: ``_map.deployment`` breaks a tie of two statuses in one second by
    REST's status id, which GraphQL does not give, so both orders of the connection must agree."""
    if statuses is None:
        return None
    dep = m.deployment(repo_id, d, statuses)
    reverse = [{**s, "id": -int(s["id"])} for s in statuses]
    return dep if m.deployment(repo_id, d, reverse) == dep else None
