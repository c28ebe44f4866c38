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


def write_outputs(report: Report, args: argparse.Namespace, console: Console, errors: Console) -> None:
    if args.json:
        json_view.write(report, args.json)
    if args.json != "-":
        text.render(report, console)
    text.render_warnings(report, errors)
