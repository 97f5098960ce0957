"""Feature classification by rules: which PRs ship a feature, by which rule, how sure.

Rules, first match wins (``feature_rule``, ``feature_confidence``):

1. ``label`` — a label containing ``feature`` or ``enhancement``: 0.95; a label containing
   bug, fix, chore, doc, dependenc, refactor, test or ci (and none of the former): 0.05;
2. ``conventional_commit`` — title ``feat:`` / ``feat(scope):``: 0.9; ``fix:``, ``chore:``,
   ``docs:``, ``refactor:``, ``test:``, ``ci:``, ``build:``, ``perf:``, ``style:``,
   ``revert:``: 0.05;
3. ``linked_issue`` — the first issue the body closes (``closes #N``, ``fixes #N``,
   ``resolves #N``) carries a feature/enhancement label: 0.85; a bug label: 0.1;
4. ``branch`` — head branch ``feature/...`` or ``feat/...``: 0.8; ``fix/``, ``bugfix/``,
   ``hotfix/``, ``chore/``, ``docs/``, ``dependabot/``, ``renovate/``: 0.1;
5. ``title`` — title starting with add, implement, introduce, support, new, create, enable,
   allow: 0.6; title containing fix, bug, typo, bump, revert, hotfix: 0.1;
6. ``none``: 0.2.

A PR is a feature when ``feature_confidence >= feature_threshold`` (default 0.5).
"""

from __future__ import annotations

from forgelens.store import Store
from forgelens.store import sql as _sql

FEATURE_LABEL = '"[^"]*(feature|enhancement)[^"]*"'
OTHER_LABEL = '"[^"]*(bug|fix|chore|doc|dependenc|refactor|test|ci)[^"]*"'
CONV_FEAT = "^feat(\\([^)]*\\))?!?:"
CONV_OTHER = "^(fix|chore|docs|refactor|test|tests|ci|build|perf|style|revert)(\\([^)]*\\))?!?:"
LINKED_ISSUE = "(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?):? #([0-9]+)"
BRANCH_FEAT = "^(feature|feat)[/_-]"
BRANCH_OTHER = "^(fix|bugfix|hotfix|chore|docs|dependabot|renovate)[/_-]"
TITLE_FEAT = (
    "^(add|adds|added|implement|implements|implemented|introduce|introduces|support|supports"
    "|new|create|creates|enable|enables|allow|allows)([^a-z]|$)"
)
TITLE_OTHER = "(^|[^a-z])(fix|fixes|fixed|bug|bugs|typo|bump|bumps|revert|hotfix)([^a-z]|$)"
ISSUE_FEAT = '"[^"]*(feature|enhancement)[^"]*"'
ISSUE_BUG = '"[^"]*bug[^"]*"'


def linked_issue_number(store: Store, body: str) -> str:
    """The number of the first issue ``body`` closes, as text (NULL if none)."""
    return _sql.regex_group(store, f"lower({body})", LINKED_ISSUE)


def feature_arm(store: Store, labels: str, title: str, head: str, issue_labels: str) -> str:
    """The number (1-based) of the first rule arm that matches, 0 for none.

    Each arm's regular expression runs at most once per PR; ``feature_columns`` maps the
    number to ``feature_rule`` and ``feature_confidence``.
    """
    arms = _arms(store, labels, title, head, issue_labels)
    whens = " ".join(f"WHEN {cond} THEN {i}" for i, (cond, _, _) in enumerate(arms, 1))
    return f"CASE {whens} ELSE 0 END"


def feature_columns(arm: str) -> str:
    """``feature_rule, feature_confidence`` of the arm number in column ``arm``."""
    arms = _arms(None, "", "", "", "")
    rule = " ".join(f"WHEN {i} THEN '{name}'" for i, (_, name, _) in enumerate(arms, 1))
    conf = " ".join(f"WHEN {i} THEN {value}" for i, (_, _, value) in enumerate(arms, 1))
    return (
        f"CASE {arm} {rule} ELSE 'none' END AS feature_rule, "
        f"CAST(CASE {arm} {conf} ELSE 0.2 END AS DOUBLE PRECISION) AS feature_confidence"
    )


def _arms(
    store: Store | None, labels: str, title: str, head: str, issue_labels: str
) -> list[tuple[str, str, float]]:
    """``(condition, rule, confidence)`` in order, first match wins (conditions need a store)."""

    def m(expr: str, pattern: str) -> str:
        return "" if store is None else _sql.regex_match(store, expr, pattern)

    lab = _sql.json_text(labels)
    ttl = f"lower(COALESCE({title}, ''))"
    br = f"lower(COALESCE({head}, ''))"
    iss = _sql.json_text(issue_labels)
    return [
        (m(lab, FEATURE_LABEL), "label", 0.95),
        (m(lab, OTHER_LABEL), "label", 0.05),
        (m(ttl, CONV_FEAT), "conventional_commit", 0.9),
        (m(ttl, CONV_OTHER), "conventional_commit", 0.05),
        (f"{issue_labels} IS NOT NULL AND {m(iss, ISSUE_FEAT)}", "linked_issue", 0.85),
        (f"{issue_labels} IS NOT NULL AND {m(iss, ISSUE_BUG)}", "linked_issue", 0.1),
        (m(br, BRANCH_FEAT), "branch", 0.8),
        (m(br, BRANCH_OTHER), "branch", 0.1),
        (m(ttl, TITLE_FEAT), "title", 0.6),
        (m(ttl, TITLE_OTHER), "title", 0.1),
    ]
