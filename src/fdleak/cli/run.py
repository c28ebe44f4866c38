"""fdleak run: launch a command under strace and report the fds it leaked."""

from __future__ import annotations

import argparse

from fdleak.cli.options import RawDescriptionHelpFormatter, add_min_count_option, add_report_options, duration

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

HELP = "run a command under strace and report the fds it opened and never closed"
DESCRIPTION = """\
Launch COMMAND under strace (-f -ttt -y, fdleak's fd system calls), analyse strace's
output as it streams (no temporary log on disk), and print the report when the command
exits, --duration passes, or on Ctrl-C. The command ends with its tracer: it is never
left running half-traced. Exit status: 0 no leak, 1 leak found, 2 nothing could be
traced; the command's own exit status is in the report."""


def add_parser(sub: Any, name: str) -> None:
    parser = sub.add_parser(
        name, help=HELP, description=DESCRIPTION, formatter_class=RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duration", type=duration, metavar="DURATION", help="stop after this long (30s, 5m)"
    )
    parser.add_argument(
        "--keep-trace", metavar="FILE", help="also save strace's raw output here (at most 1 GB)"
    )
    add_min_count_option(parser)
    add_report_options(parser)
    parser.add_argument("program", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]")


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: building the parser stays cheap for every command
    import sys

    from rich.console import Console

    from fdleak.cli.output import write_outputs
    from fdleak.pipeline.live import run_command

    command = args.program[1:] if args.program[:1] == ["--"] else args.program
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    report = run_command(
        command, duration=args.duration, keep_trace=args.keep_trace, min_count=args.min_count
    )
    out = Console(file=sys.stdout, highlight=False, soft_wrap=not sys.stdout.isatty())
    write_outputs(report, args, out, errors)
    root = report.processes[0] if report.processes else None
    if root is not None and root.exit_status is not None:
        errors.print(f"fdleak: {' '.join(command)} exited with status {root.exit_status}")
    return 1 if report.found_leak else 0
