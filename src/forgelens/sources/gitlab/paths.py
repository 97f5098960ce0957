"""GitLab web URLs name a project under nested groups (``/group/sub/project``), and the
project's pages sit after ``/-/`` (``/group/project/-/merge_requests/7``)."""

from __future__ import annotations

from forgelens.sources.paths import exact_name, segments_of


def repository_path(path: str, exact: bool) -> tuple[str, str]:
    if not exact:
        return "", path.strip("/").split("/-/", 1)[0]
    segments = segments_of(path)
    if "-" in segments:
        segments = segments[: segments.index("-")]
    return exact_name(segments, most=None)
