"""Debian's Chromium under Playwright, headless, quiet (no downloaded browser, no phoning home).
Used by the browser tests and ``benchmarks/dashboards.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def launch(pw: Any) -> Any:
    """``pw``: a started ``sync_playwright()``; returns the browser."""
    return pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
