"""fdleak watch: sample fd counts of process trees, show growth live, and report leak trends."""

from __future__ import annotations

import argparse

from fdleak.cli.options import RawDescriptionHelpFormatter, add_html_option, add_selection_options, duration

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

HELP = "sample fd counts over time and flag processes whose fds keep growing"
DESCRIPTION = """\
Sample the fd count of each process in the selected trees (-p PID, --celery, or PATTERN)
every --interval, from /proc only. Each process gets a robust growth rate (Theil-Sen,
fds per hour, with a 95% lower bound) and the time left before its soft fd limit. Pool
children that come and go are followed by pid and start time. When a process grows with
confidence, fdleak snapshots it and shows which kinds of fds grew.

Ends after --duration, when every process has exited, or on Ctrl-C; then prints the
report. Exit status: 0 no growth, 1 a leak trend found, 2 nothing could be watched."""


def add_parser(sub: Any, name: str) -> None:
    parser = sub.add_parser(
        name, help=HELP, description=DESCRIPTION, formatter_class=RawDescriptionHelpFormatter
    )
    add_selection_options(parser)
    parser.add_argument(
        "--interval", type=duration, default=5.0, metavar="DURATION", help="time between samples (default 5s)"
    )
    parser.add_argument(
        "--duration",
        type=duration,
        default=None,
        metavar="DURATION",
        help="stop after this long (default: Ctrl-C)",
    )
    parser.add_argument(
        "--json", metavar="FILE", help="write the report and the time series as JSON (- for stdout)"
    )
    add_html_option(parser, "the report and a chart of the fd counts")
    parser.add_argument("--csv", metavar="FILE", help="write every sample as CSV")
    parser.add_argument("-q", "--quiet", action="store_true", help="no live view; print only the report")


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: building the parser stays cheap for every command
    from fdleak.cli.watch_loop import watch_command

    return watch_command(args)
