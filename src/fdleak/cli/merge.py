"""fdleak merge: the reports of several processes (a worker's pool) as one."""

from __future__ import annotations

import argparse

from fdleak.cli.options import RawDescriptionHelpFormatter, add_report_options

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

HELP = "merge fdleak JSON reports (files or directories of them) into one report"
DESCRIPTION = """\
Read fdleak JSON reports (each FILE, and every *.json in each DIR) and print them as one
report: leaks with the same kind, signature, task and opening line are joined, their
counts added and their pids listed together. The per-process reports of a Celery worker
(fdleak celery, fdleak.celery.install) are merged this way.
Exit status: 0 no leak, 1 leak found, 2 nothing could be read."""


def add_parser(sub: Any, name: str) -> None:
    parser = sub.add_parser(
        name, help=HELP, description=DESCRIPTION, formatter_class=RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="+", metavar="FILE|DIR", help="reports, or directories of reports")
    add_report_options(parser)


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: building the parser stays cheap for every command
    import sys

    from rich.console import Console

    from fdleak.cli.output import write_outputs
    from fdleak.pipeline.reports import merged

    report = merged(args.paths)
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    out = Console(file=sys.stdout, highlight=False, soft_wrap=not sys.stdout.isatty())
    write_outputs(report, args, out, errors)
    return 1 if report.found_leak else 0
