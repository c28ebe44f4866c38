"""fdleak analyze: read strace logs someone already took and report what leaked."""

from __future__ import annotations

import argparse
import sys

from fdleak.cli.options import (
    RawDescriptionHelpFormatter,
    add_min_count_option,
    add_report_options,
    positive_int,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

HELP = "report fd leaks from strace logs (strace -f -ttt -y -o trace.txt ...)"
DESCRIPTION = """\
Rebuild every traced process's fd table from strace logs and report the fds that
were opened and never closed, grouped by what they are.

LOG may be a file, several strace -ff files (trace.1234 trace.1235 or 'trace.*'),
a gzip-compressed log, or - for standard input. Exit status: 0 no leak, 1 leak
found, 2 nothing could be analysed."""


def add_parser(sub: Any, name: str) -> None:
    parser = sub.add_parser(
        name, help=HELP, description=DESCRIPTION, formatter_class=RawDescriptionHelpFormatter
    )
    parser.add_argument("logs", nargs="*", metavar="LOG", help="strace log(s) to read")
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="DIR",
        help="Python tracker reports (fdleak celery --report-dir): their task names and lines "
        "join the strace leaks by pid, fd and time; alone, they are merged",
    )
    add_min_count_option(parser)
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=None,
        metavar="N",
        help="worker processes for a large log (default: up to 2)",
    )
    add_report_options(parser)


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: building the parser stays cheap for every command
    from rich.console import Console

    from fdleak.cli.output import write_outputs
    from fdleak.cli.progress import byte_progress
    from fdleak.errors import InputError
    from fdleak.pipeline.logs import analyze_logs, total_size
    from fdleak.pipeline.reports import merged

    if not args.logs and not args.python:
        raise InputError("nothing to analyze", "give strace log(s), or --python DIR")
    console = Console(stderr=True, highlight=False, soft_wrap=True)  # a warning stays one line
    python = merged(args.python) if args.python else None
    if args.logs:
        with byte_progress(console, total_size(args.logs), quiet=args.quiet) as progress:
            report = analyze_logs(
                args.logs,
                min_count=args.min_count,
                jobs=args.jobs,
                progress=progress,
                timeline=bool(args.html),  # only the page draws it
            )
        if python is not None:
            from fdleak.analysis.merge import with_origins

            report = with_origins(report, python)
    else:
        assert python is not None
        report = python
    # no automatic highlighting: it recolours parts of paths and numbers at random
    # piped to a file or a pager, lines are not cut at 80 columns (paths stay whole)
    out = Console(file=sys.stdout, highlight=False, soft_wrap=not sys.stdout.isatty())
    write_outputs(report, args, out, console)
    return 1 if report.found_leak else 0
