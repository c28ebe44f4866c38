"""fdleak celery: run a Celery worker with per-task fd leak tracking, no change to the app."""

from __future__ import annotations

import argparse

from fdleak.cli.options import RawDescriptionHelpFormatter, add_report_options

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

HELP = "run a Celery worker that reports which task leaked which fd, and the line"
DESCRIPTION = """\
Run COMMAND (a Celery worker: celery -A proj worker ...) with fdleak's Python tracker
started in every process of it, as opentelemetry-instrument and ddtrace-run do. Each pool
process takes a baseline of its fds when a task starts and compares at its end: fds the
task opened and still holds are logged at once as a warning on the worker's log ("task
proj.tasks.export[ID] leaked 1 file descriptor: fd 12 file /tmp/report_3.csv, opened at
proj/tasks.py:12 in export"), and each process writes a JSON report into --report-dir.
When the worker exits (Ctrl-C stops it, once), the reports are merged and printed.
The same from the app's code: from fdleak.celery import install; install(app).
Exit status: 0 no leak, 1 leak found (a task that leaked in two runs or more), 2 error."""


def add_parser(sub: Any, name: str) -> None:
    parser = sub.add_parser(
        name, help=HELP, description=DESCRIPTION, formatter_class=RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--report-dir",
        metavar="DIR",
        help="where each process writes its report (default: a new temporary directory)",
    )
    add_report_options(parser)
    parser.add_argument("program", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]")


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: building the parser stays cheap for every command
    import os
    import sys
    import tempfile

    from rich.console import Console

    from fdleak.cli.output import write_outputs
    from fdleak.errors import NothingToAnalyze
    from fdleak.pipeline.reports import merged, report_files
    from fdleak.python.celery import REPORT_DIR_VARIABLE
    from fdleak.python.launch import check_command, run_tracked
    from fdleak.views.escape import plain

    command = args.program[1:] if args.program[:1] == ["--"] else args.program
    check_command(command)  # before a report directory is made for nothing
    report_dir = args.report_dir or tempfile.mkdtemp(prefix="fdleak-celery-")
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    if not args.quiet:
        errors.print(f"fdleak: tracking the fds of every task; reports go to {report_dir}")
    env = dict(os.environ, **{REPORT_DIR_VARIABLE: report_dir})
    status = run_tracked(command, env, init=("fdleak.python.celery:bootstrap",))
    if not report_files([report_dir]):
        raise NothingToAnalyze(
            f"{' '.join(command)} exited with status {status} and no process wrote a report",
            "did any task run? is it a Celery worker?",
        )
    report = merged([report_dir])
    out = Console(file=sys.stdout, highlight=False, soft_wrap=not sys.stdout.isatty())
    write_outputs(report, args, out, errors)
    shown = plain(" ".join(command))  # a command line is hostile input too
    errors.print(f"fdleak: {shown} exited with status {status}; reports in {report_dir}", markup=False)
    return 1 if report.found_leak else 0
