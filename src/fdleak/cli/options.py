"""Options shared by every command that produces a report, built once."""

from __future__ import annotations

import argparse

from rich.console import Console

from fdleak.model.report import Report
from fdleak.views import json_view, text


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON (- for stdout)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar; print only the report")


def write_outputs(report: Report, args: argparse.Namespace, console: Console, errors: Console) -> None:
    if args.json:
        json_view.write(report, args.json)
    if args.json != "-":
        text.render(report, console)
    text.render_warnings(report, errors)
