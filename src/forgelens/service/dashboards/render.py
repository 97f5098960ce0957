"""Which pages exist, and turning views into HTML (served pages and the one-file report)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from forgelens.service.dashboards import views_ai, views_lens, views_ops
from forgelens.store import Store

try:
    import jinja2
    from markupsafe import Markup
except ImportError as exc:  # pragma: no cover - the service extra brings it
    raise ImportError("the dashboards need jinja2: pip install 'forgelens[service]'") from exc

Builder = Callable[[Store, Mapping[str, str]], dict[str, Any]]
CHART_JS = "vendor/chart-4.6.1.umd.min.js"


@dataclass(frozen=True)
class Page:
    path: str
    label: str
    build: Builder
    analytics: bool = False  # reads only what `analyze` writes: cacheable until the next run


PAGES: dict[str, Page] = {
    p.path: p
    for p in (
        Page("engineering-lens", "Engineering Lens", views_lens.engineering_lens, True),
        Page("what-shipped", "What Shipped", views_lens.what_shipped, True),
        Page("delivery", "Delivery", views_ops.delivery, True),
        Page("ai-impact", "AI impact", views_ai.ai_impact, True),
        Page("runs", "Runs", views_ops.runs),
        Page("pipeline-runs", "Pipeline runs", views_ops.pipeline_runs),
    )
}
NAV = [(p.path, p.label) for p in PAGES.values()]

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("forgelens.service.dashboards", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def static_text(name: str) -> str:
    return (resources.files("forgelens.service.dashboards") / "static" / name).read_text("utf-8")


def view_json(view: Mapping[str, Any]) -> str:
    """JSON safe inside a <script> element (no ``</script>`` can close it early)."""
    text = json.dumps(view, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(template: str, **values: Any) -> str:
    values.setdefault("nav", NAV)
    values.setdefault("inline", None)
    return _env.get_template(template).render(**values)


def render_views(
    views: Sequence[Mapping[str, Any]],
    *,
    title: str,
    active: str = "",
    inline: bool = False,
    **values: Any,
) -> str:
    blobs = [
        {"anchor": v.get("anchor", v["page"]), "json": jinja2_markup(view_json(v))} for v in views
    ]
    packed = None
    if inline:
        packed = {
            "css": jinja2_markup(static_text("style.css")),
            "chart": jinja2_markup(_script_safe(static_text(CHART_JS))),
            "app": jinja2_markup(_script_safe(static_text("app.js"))),
        }
    return render("page.html", views=blobs, title=title, active=active, inline=packed, **values)


def _script_safe(js: str) -> str:
    return js.replace("</script", "<\\/script")


def jinja2_markup(text: str) -> Any:
    """Our own JSON/CSS/JS, made safe for where it goes (``view_json``, ``_script_safe``)."""
    return Markup(text)  # noqa: S704
