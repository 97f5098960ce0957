"""PR summaries: extractive by default, from an OpenAI-compatible endpoint when configured.

The extractive summary is ``<title>: <first sentence of the body> (areas: a, b, c)`` where the
first sentence is the first run of 10-200 characters that starts a line with a letter and
stops at a line end or ``.!?`` (so headings, lists and HTML comments are skipped), and the
areas are the three directories (first two path levels) with the most changed lines.

With ``OPENAI_API_KEY`` (and optionally ``OPENAI_BASE_URL``, ``FORGELENS_SUMMARY_MODEL``) set
and ``--llm-summaries`` given, up to ``--llm-limit`` PRs get a model-written summary instead,
cached in ``pr_summary_cache`` by the PR's content hash (title, body, size) so a re-run costs
nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from forgelens.analytics._ctx import PR, Ctx
from forgelens.errors import ForgeError
from forgelens.logs import get_logger
from forgelens.store import Store
from forgelens.store import sql as _sql

FIRST_SENTENCE = "(?:^|\n)[ \t]*([A-Za-z][^\n.!?]{9,199})"
log = get_logger(__name__)


def extractive_summary(store: Store, title: str, body: str, areas: str) -> str:
    sentence = _sql.regex_group(store, body, FIRST_SENTENCE)
    return (
        f"({title} || COALESCE(': ' || {sentence}, '') "
        f"|| COALESCE(' (areas: ' || {areas} || ')', ''))"
    )


def content_hash(
    store: Store, title: str, body: str, additions: str, deletions: str, files: str
) -> str:
    sep = _sql.unit_sep(store)
    return _sql.md5_hex(
        store,
        f"COALESCE({title}, '') || {sep} || COALESCE({body}, '') || {sep} || "
        f"CAST({additions} AS VARCHAR) || {sep} || CAST({deletions} AS VARCHAR) || {sep} || "
        f"CAST({files} AS VARCHAR)",
    )


@dataclass(frozen=True)
class LlmSettings:
    api_key: str
    base_url: str
    model: str
    limit: int
    timeout: float = 30.0

    @classmethod
    def from_env(cls, limit: int) -> LlmSettings | None:
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            return None
        return cls(
            api_key=key,
            base_url=os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/"),
            model=os.environ.get("FORGELENS_SUMMARY_MODEL", "gpt-4o-mini"),
            limit=limit,
        )


def llm_summaries(ctx: Ctx, llm: LlmSettings, client: httpx.Client | None = None) -> int:
    """Summarise up to ``llm.limit`` of this run's PRs with the model; return calls made.

    Cached summaries are reused (no call); ``repo_prs.pr_summary`` is updated for both.
    """
    store = ctx.store
    rows = store.query(
        f"""
        SELECT b.repo_name, b.pr_number, r.content_hash, b.title, COALESCE(b.body, '')
        FROM {PR} b JOIN pr_facts r ON r.repo_name = b.repo_name AND r.pr_number = b.pr_number
        ORDER BY b.created_at DESC, b.repo_name, b.pr_number LIMIT {int(llm.limit)}
        """
    )
    if not rows:
        return 0
    cached = dict(
        store.query(
            "SELECT content_hash, summary FROM pr_summary_cache WHERE model = ?", [llm.model]
        )
    )
    calls = 0
    own = client is None
    http = client or httpx.Client(timeout=llm.timeout)
    try:
        for repo_name, number, chash, title, body in rows:
            summary = cached.get(chash)
            if summary is None:
                summary = _ask(http, llm, title, body)
                calls += 1
                cached[chash] = summary
                store.upsert(
                    "pr_summary_cache",
                    [
                        {
                            "content_hash": chash,
                            "model": llm.model,
                            "summary": summary,
                            "created_at": datetime.now(UTC),
                        }
                    ],
                )
            _sql.update(
                store,
                "repo_prs",
                "pr_summary = ?",
                "repo_name = ? AND pr_number = ?",
                [summary, repo_name, number],
            )
            _sql.update(
                store,
                "author_prs_window",
                "pr_summary = ?",
                "repo_name = ? AND pr_id IN "
                "(SELECT pr_id FROM pr_facts WHERE repo_name = ? AND pr_number = ?)",
                [summary, repo_name, repo_name, number],
            )
    finally:
        if own:
            http.close()
    return calls


def _ask(http: httpx.Client, llm: LlmSettings, title: str, body: str) -> str:
    prompt = (
        "Summarise this pull request in one or two plain sentences for an engineering "
        f"manager.\nTitle: {title}\n\n{body[:4000]}"
    )
    try:
        resp = http.post(
            f"{llm.base_url}/chat/completions",
            headers={"Authorization": f"Bearer {llm.api_key}"},
            json={"model": llm.model, "messages": [{"role": "user", "content": prompt}]},
            timeout=llm.timeout,
        )
        resp.raise_for_status()
        text = resp.json()["choices"][0]["message"]["content"]
    except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
        raise ForgeError(
            f"summary endpoint {llm.base_url} failed ({type(exc).__name__}); check "
            "OPENAI_BASE_URL and OPENAI_API_KEY, or run without --llm-summaries"
        ) from exc
    return str(text).strip()
