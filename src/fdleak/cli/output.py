"""Where command output goes: consoles for tables and reports, and the report's outputs."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from fdleak.model.report import Report
from fdleak.views import json_view, text


def table_console() -> Console:
    """Standard output for tables: piped to a file or a pager, rows are not cut at 80 columns."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 240)


def write_outputs(
    report: Report,
    args: argparse.Namespace,
    console: Console,
    errors: Console,
    source_root: str | None = None,
) -> None:
    """The report as JSON and text, and as a page with --html; ``source_root``: where the
    relative file names of Python frames are (default: the current directory)."""
    if args.json:
        json_view.write(report, args.json)
    if args.json != "-":
        text.render(report, console)
    text.render_warnings(report, errors)
    if getattr(args, "html", None):
        write_html(report, args.html, errors, source_root)


def write_html(
    report: Report, path: str, errors: Console, source_root: str | None = None, owner: int | None = None
) -> None:
    """The page, with the source lines around each leak's origin; then one line saying where."""
    from fdleak.pipeline.snippets import source_snippets
    from fdleak.views import html

    html.write(report, path, source_snippets(report, source_root, owner))
    errors.print(f"fdleak: HTML report written to {text.safe(path)}")
