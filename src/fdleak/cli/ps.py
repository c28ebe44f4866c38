"""fdleak ps: worker process trees with their fd counts, limits and kinds, from /proc only."""

from __future__ import annotations

import argparse

from fdleak.cli.options import RawDescriptionHelpFormatter, add_selection_options

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

HELP = "list worker processes (Celery, gunicorn, ...) with their fd counts and limits"
DESCRIPTION = """\
List candidate processes as trees: Celery worker parents and their prefork children,
gunicorn, uwsgi, rq and dramatiq workers, or the processes given with -p or matching
PATTERN, each with its fd count, soft and hard fd limit, the share of the soft limit in
use, and the count per kind. Reads /proc only: safe on a production box."""


def add_parser(sub: Any, name: str) -> None:
    parser = sub.add_parser(
        name, help=HELP, description=DESCRIPTION, formatter_class=RawDescriptionHelpFormatter
    )
    add_selection_options(parser)
    parser.add_argument("--json", metavar="FILE", help="write the rows as JSON (- for stdout)")


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: building the parser stays cheap for every command
    from dataclasses import asdict

    from fdleak.cli.output import table_console
    from fdleak.pipeline.census import census
    from fdleak.views import json_view
    from fdleak.views.inventory import render_census

    rows = census(args.pids, args.celery, args.pattern)
    if args.json:
        json_view.write_document([asdict(row) | {"used": row.used} for row in rows], args.json)
        if args.json == "-":
            return 0
    render_census(rows, table_console())
    return 0
