"""The shape every dashboard view has, shared by the pages, their JSON API and ``forgelens report``.

A view is plain JSON: ``filters`` (what the URL may set, with the values in effect), ``cards``
(headline numbers), ``charts`` (each names the ``table`` that holds its numbers), ``tables``
(``columns`` + ``rows``, also served as CSV) and ``empty`` (what to do next when there is no data).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from forgelens.errors import BadInput

ALL = ""  # the "all repositories" choice of a repository filter


def plain(value: Any) -> Any:
    """A JSON-safe value: dates as ISO text, decimals as floats, floats rounded for reading."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return round(value, 4)
    return value


def parse_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def choice(params: Mapping[str, str], name: str, allowed: Sequence[int], default: int) -> int:
    raw = params.get(name) or str(default)
    if not raw.isdigit() or int(raw) not in allowed:
        options = ", ".join(str(a) for a in allowed)
        raise BadInput(f"{name} must be one of {options} (got {raw!r})")
    return int(raw)


def view(page: str, title: str, subtitle: str = "") -> dict[str, Any]:
    return {
        "page": page,
        "title": title,
        "subtitle": subtitle,
        "filters": [],
        "cards": [],
        "charts": [],
        "tables": {},
        "order": [],
        "empty": None,
        "actions": [],
    }


def add_filter(
    v: dict[str, Any], name: str, label: str, value: Any, options: Sequence[tuple[Any, str]]
) -> None:
    v["filters"].append(
        {
            "name": name,
            "label": label,
            "value": "" if value is None else str(value),
            "options": [[str(o), lbl] for o, lbl in options],
        }
    )


def add_card(
    v: dict[str, Any], key: str, label: str, value: Any, note: str = "", tone: str = ""
) -> None:
    """A headline number; ``tone`` ``good``/``bad`` colours it."""
    v["cards"].append(
        {"key": key, "label": label, "value": plain(value), "note": note, "tone": tone}
    )


def add_table(
    v: dict[str, Any],
    name: str,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    empty: str = "Nothing here for these filters.",
    show: bool = True,
) -> None:
    v["tables"][name] = {
        "title": title,
        "columns": list(columns),
        "rows": [[plain(c) for c in r] for r in rows],
        "empty": empty,
    }
    if show:
        v["order"].append(name)


def add_chart(
    v: dict[str, Any],
    table: str,
    kind: str,
    x: str | Sequence[str],
    series: Sequence[str],
    *,
    stacked: bool = False,
    title: str = "",
) -> None:
    """A chart over ``table``'s rows: labels from column(s) ``x``, one dataset per ``series``
    column; ``kind`` is ``bar``, ``hbar`` or ``line``. Its numbers are that table's."""
    v["charts"].append(
        {
            "table": table,
            "kind": kind,
            "x": x if isinstance(x, str) else list(x),
            "series": list(series),
            "stacked": stacked,
            "title": title,
        }
    )


def set_empty(v: dict[str, Any], title: str, next_step: str) -> None:
    v["empty"] = {"title": title, "next": next_step}


def to_csv(v: Mapping[str, Any], name: str) -> str:
    table = v["tables"].get(name)
    if table is None:
        raise KeyError(name)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table["columns"])
    for row in table["rows"]:
        writer.writerow(
            [json.dumps(c) if isinstance(c, list | dict) else ("" if c is None else c) for c in row]
        )
    return out.getvalue()
