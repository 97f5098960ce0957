"""Gerrit Code Review as a ``ForgeSource``: the REST API.

``gerrit:PROJECT`` collects one project (``gerrit:platform/build``); ``gerrit:PREFIX`` without a
``/`` collects every project under ``PREFIX/`` (else the project of that name). ``--api-url``
names the server and its context path (``https://gerrit.example.com/r``). With
``GERRIT_USERNAME`` + ``GERRIT_TOKEN`` (the account's HTTP password) every call is made under
``/a/`` with HTTP basic auth; without them, anonymously (what anonymous users may read).

A change is a pull request (``_map``): one query per page of changes brings each change with
its votes, messages, every patch set with its commit and the files of the current one
(``o=DETAILED_LABELS&o=ALL_REVISIONS&o=ALL_COMMITS&o=MESSAGES&o=DETAILED_ACCOUNTS&o=ALL_FILES``;
``ALL_COMMITS`` because a revision without it names no author or message); a change with
comments costs one more call (``/changes/{n}/comments``). Incremental runs ask
``after:"<watermark>"``; the snapshot reads the newest change's update time, so an unchanged
project is not queried again. Paging: ``S=`` offsets, then ``before:`` windows (``_paging``).

Groups are teams (``GET /groups/?o=MEMBERS&o=INCLUDES``: members, and included groups as
sub-teams). Gerrit has no issues, CI runs of its own (the checks live in labels such as
``Verified``) or contributor statistics: those are empty. Branch
protection is what the project's labels and submit requirements demand. Gerrit has no rate
limit of its own; the quota plugin's 429 + ``Retry-After`` is honoured by the client.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from forgelens.config import Settings, get_settings
from forgelens.errors import BadInput, ForgeError, NotFound
from forgelens.logs import get_logger
from forgelens.records import BranchProtection, repository_id
from forgelens.sources._forge_common import Item, RawPages, RestSource, cut, finish, make_client
from forgelens.sources.base import Page, PrBundle, RepoRef, RepoSnapshot
from forgelens.sources.gerrit import _map as m
from forgelens.sources.gerrit._paging import CHANGES
from forgelens.sources.http import EtagCache, ForgeProfile, HttpClient

if TYPE_CHECKING:
    from forgelens.sources.forge import SourceOptions

log = get_logger(__name__)

TOKEN = "gerrit_token"  # noqa: S105 (the setting: GERRIT_TOKEN, the HTTP password)
USERNAME = "gerrit_username"  # the account of that password: GERRIT_USERNAME
DATA_SOURCE = "insight_gerrit"
PAGE_SIZE = 100  # changes per query page; the server may serve fewer (its query limit)
OPTIONS = (
    "DETAILED_LABELS",
    "ALL_REVISIONS",
    "ALL_COMMITS",
    "MESSAGES",
    "DETAILED_ACCOUNTS",
    "ALL_FILES",
)
CHANGES_ENDPOINT = "GET /changes/"
NAMED_PAGE = 500  # projects or groups a page

PROFILE = ForgeProfile(
    name="Gerrit",
    token_env="GERRIT_USERNAME and GERRIT_TOKEN (the HTTP password)",  # noqa: S106 - names
    auth_scheme="Basic",
    default_headers=(("Accept", "application/json"),),
    body_prefix=b")]}'",
)


def query_value(name: str) -> str:
    """A project name as a query operand (quoted when it has spaces or quotes)."""
    return (
        name if name and not any(c in name for c in ' "{}()') else '"' + name.replace('"', "") + '"'
    )


class GerritSource(RestSource):
    kind = m.SOURCE
    data_source = DATA_SOURCE
    paginator = CHANGES

    def __init__(self, client: HttpClient, web_url: str) -> None:
        super().__init__(client, {"n": PAGE_SIZE})
        self.web_url = web_url.rstrip("/")

    @staticmethod
    def project(ref: RepoRef) -> str:
        return ref.full_name.strip("/")

    def _pid(self, ref: RepoRef) -> str:
        return "/projects/" + m.project_id(self.project(ref))

    # -- repositories -------------------------------------------------------------------------
    def list_repositories(self, target: str) -> list[RepoRef]:
        target = target.strip("/")
        if "/" in target:
            return [RepoRef.parse(target)]
        names = self._named("/projects/", "GET /projects/", "_more_projects", p=target + "/")
        found = [RepoRef.parse(name) for name in names]
        return found or [RepoRef.parse(target)]

    def _named(self, path: str, endpoint: str, more_key: str, **params: Any) -> dict[str, Any]:
        """Every entry of a list Gerrit answers as a map by name (projects, groups), paged by
        ``n``/``S``. ``more_key`` (``_more_projects``) on the last entry says more follow
        (3.x); older servers say nothing: a full page may have a next one (an empty page ends
        the list)."""
        found: dict[str, Any] = {}
        start = 0
        while True:
            page = self._get(path, endpoint, **params, n=NAMED_PAGE, S=start)
            page = page if isinstance(page, dict) else {}
            found.update(page)
            last = list(page.values())[-1] if page else {}
            more = bool(page) and (
                (isinstance(last, dict) and last.get(more_key) is True) or len(page) >= NAMED_PAGE
            )
            if not more:
                return found
            start += len(page)

    def _missing(self, what: str) -> NotFound | ForgeError:
        """A not-found that says whether the server is no Gerrit at all (wrong --api-url)."""
        try:
            self._get("/config/server/version", "GET /config/server/version")
        except NotFound:
            return ForgeError(
                f"{self.client.host} has no Gerrit REST API at {self.web_url}: check --api-url "
                "(the server's address with its context path, e.g. https://gerrit.example.com/r)"
            )
        except ForgeError:
            pass
        return NotFound(f"gerrit:{what}: no such project, or the account cannot see it")

    def repository(self, ref: RepoRef) -> RepoSnapshot:
        name = self.project(ref)
        try:
            info = self._get(self._pid(ref), "GET /projects/{project}")
        except NotFound:
            raise self._missing(name) from None
        try:
            head = m.branch_of(self._get(self._pid(ref) + "/HEAD", "GET /projects/{project}/HEAD"))
        except (NotFound, ForgeError):  # an empty project, or no read access to its refs
            head = None
        repo = m.repository(info, head, f"{self.web_url}/q/project:{name}")
        snap = RepoSnapshot(repo, RepoRef.parse(repo.full_name))
        if head:
            rule = self.branch_protection(snap.ref, head)
            if rule is not None:
                snap.records.append(rule)
        newest = self._get(
            "/changes/", CHANGES_ENDPOINT, q=f"project:{query_value(repo.full_name)}", n=1
        )
        if isinstance(newest, list) and newest and isinstance(newest[0], dict):
            snap.marks["pull_requests"] = m.ts(newest[0].get("updated"))
        else:
            snap.marks["pull_requests"] = None
        return snap

    def branch_protection(self, ref: RepoRef, branch: str) -> BranchProtection | None:
        """What submitting into ``branch`` needs: labels (Gerrit 3.0+) and submit requirements
        (3.7+) of the project and the projects it inherits from; a server or account that
        cannot list one of them contributes nothing from it."""
        lists: list[list[dict[str, Any]]] = []
        for what in ("labels/", "submit_requirements"):
            try:
                found = self._get(
                    f"{self._pid(ref)}/{what}", f"GET /projects/{{project}}/{what}", inherited=""
                )
            except (NotFound, ForgeError):
                found = []
            lists.append([x for x in found or [] if isinstance(x, dict)])
        repo_id = repository_id(self.kind, self.project(ref))
        return m.protection(repo_id, branch, lists[0], lists[1])

    def teams(self, owner: str) -> list[Any]:
        """The server's groups visible to the account, with their members and the groups they
        include, as teams of ``owner`` (the prefix collected); a server or account that may
        not list groups has none (``_map.groups``)."""
        try:
            found = self._named(
                "/groups/", "GET /groups/", "_more_groups", o=["MEMBERS", "INCLUDES"]
            )
        except (NotFound, ForgeError) as exc:  # no permission to list groups
            log.debug("groups skipped", owner=owner, reason=str(exc))
            return []
        return m.groups(owner, found)

    # -- changes ------------------------------------------------------------------------------
    def pull_requests(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        return cut(self._change_pages(ref, since, resume), since)

    def _change_pages(
        self, ref: RepoRef, since: datetime | None, resume: str | None, **extra: Any
    ) -> RawPages:
        """Changes most recently updated first, with their details, until ``since``."""
        name = self.project(ref)
        q = f"project:{query_value(name)}"
        if since is not None:
            q += f' after:"{m.stamp(since)}"'  # inclusive: the watermark's change is cut
        params: dict[str, Any] = {"q": q, "o": list(OPTIONS), **extra}
        yield from self.detail_pages(
            "/changes/",
            CHANGES_ENDPOINT,
            resume,
            params,
            since,
            lambda c: m.ts(c.get("updated")),
            partial(self._bundle, name),
        )

    def _bundle(self, project: str, c: dict[str, Any]) -> Item:
        repo_id = repository_id(self.kind, project)
        pr = m.change(repo_id, c, self.web_url)
        b = PrBundle(pr)
        b.reviews = m.vote_reviews(repo_id, c)
        b.comments = m.message_comments(repo_id, c)
        people = m.people(c)
        if c.get("total_comment_count") != 0:  # absent on servers before 2.15: ask
            try:
                inline = self._get(
                    f"/changes/{m.project_id(project)}~{pr.number}/comments",
                    "GET /changes/{id}/comments",
                )
            except NotFound as exc:  # a proxy that decodes %2F, or a change just deleted
                log.warning(
                    "inline comments not found, change kept without them", reason=exc.message
                )
                inline = {}
            b.comments += m.inline_comments(repo_id, pr.number, inline)
            people += [
                m.person(x.get("author"))
                for items in (inline or {}).values()
                for x in items or []
                if isinstance(x, dict)
            ]
        b.files = m.files(repo_id, c)
        b.commits = m.patch_sets(repo_id, c)
        return pr.updated_at, finish(b.records(), people)

    # -- what Gerrit does not have ------------------------------------------------------------
    def issues(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        """Gerrit has no issue tracker."""
        return iter(())

    def ci_runs(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        """Gerrit runs no CI itself: verdicts arrive as votes (``Verified``), kept as reviews."""
        return iter(())

    def contributors(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        """No contributor statistics: authors come from the commits (``git:`` mining)."""
        return iter(())


def credentials(settings: Settings) -> SecretStr | None:
    """``GERRIT_USERNAME`` + ``GERRIT_TOKEN`` as HTTP basic credentials (None: anonymous).
    Several HTTP passwords of the account, comma-separated, form a pool (Gerrit 3.13 tokens;
    generated passwords hold no comma)."""
    text = settings.value(TOKEN) or ""
    tokens = [t.strip() for t in text.split(",") if t.strip()]
    user = (settings.value(USERNAME) or "").strip()
    if not tokens and not user:
        return None
    if not tokens or not user:
        missing = "GERRIT_TOKEN" if user else "GERRIT_USERNAME"
        raise BadInput(
            f"Gerrit needs GERRIT_USERNAME and GERRIT_TOKEN together (the account and its HTTP "
            f"password from Settings > HTTP Credentials): set {missing}, or neither to read "
            "anonymously"
        )
    basic = [base64.b64encode(f"{user}:{t}".encode()).decode() for t in tokens]
    return SecretStr(",".join(basic))


def from_options(
    opts: SourceOptions,
    etags: EtagCache | None = None,
    *,
    settings: Settings | None = None,
    transport: httpx.BaseTransport | None = None,
) -> GerritSource:
    """The source ``forgelens collect gerrit:...`` uses (``--api-url`` names the server)."""
    settings = settings or get_settings()
    if not opts.api_url:
        raise BadInput(
            "gerrit: needs --api-url, the server's address with its context path "
            "(e.g. --api-url https://gerrit.example.com)"
        )
    web = opts.api_url.rstrip("/").removesuffix("/a")
    secret = credentials(settings)
    client = make_client(
        opts,
        default_url=web,
        profile=PROFILE,
        token=secret,
        etags=etags,
        transport=transport,
        suffix="/a" if secret is not None else "",
    )
    return GerritSource(client, web)
