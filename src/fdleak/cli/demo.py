"""fdleak demo: watch, trace and explain a real leaking Celery worker, in under a minute."""

from __future__ import annotations

import argparse

from fdleak.cli.options import RawDescriptionHelpFormatter, add_report_options

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

HELP = "see fdleak find a real leak: a Celery worker with a leaky task, no broker to set up"
DESCRIPTION = """\
Start a real Celery worker (prefork, 2 children) whose task leaky_file_task opens a file
and never closes it, beside a clean task. The broker needs no server (kombu's
filesystem transport, in a temporary directory); --broker redis://HOST:PORT/DB uses a
real Redis instead. Then, as you would on a real worker:
  1. watch: sample the fd counts of the worker's processes while tasks run, and see
     the children grow and what grows in them;
  2. trace: attach strace to every process of the worker while more tasks run;
  3. explain: fdleak's Python tracker, started in the worker, knows which task and which
     line of tasks.py opened each fd; the report joins it to what strace saw.
The report is printed and written as a page (--html, default fdleak-demo.html in the
current directory), and as JSON with --json. Every process the demo started
is stopped at the end, also on Ctrl-C. Needs strace and Celery (pip install 'fdleak[celery]').
Exit status: 0 the demo showed the leak, 1 it did not, 2 error."""


DEFAULT_PAGE = "fdleak-demo.html"


def add_parser(sub: Any, name: str) -> None:
    parser = sub.add_parser(
        name, help=HELP, description=DESCRIPTION, formatter_class=RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--broker", metavar="URL", help="a Redis broker, redis://HOST:PORT/DB (default: none needed)"
    )
    parser.add_argument(
        "--tasks",
        type=_task_count,
        default=30,
        metavar="N",
        help="leaky tasks per step, sent with as many clean ones (default: 30)",
    )
    add_report_options(parser)
    parser.set_defaults(html=DEFAULT_PAGE)


def _task_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of tasks, got {text!r}") from None
    if not 20 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"expected between 20 and 1000 tasks, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: building the parser stays cheap for every command
    import sys

    from rich.console import Console

    from fdleak.cli.output import write_outputs
    from fdleak.demo.run import LEAKY_TASK, demo_worker, run_demo
    from fdleak.views.escape import plain

    errors = Console(stderr=True, highlight=False, soft_wrap=True)

    def say(text: str) -> None:
        if not args.quiet:
            errors.print(plain(f"fdleak demo: {text}"), markup=False)

    out = Console(file=sys.stdout, highlight=False, soft_wrap=not sys.stdout.isatty())
    with demo_worker(args.broker) as worker:
        result = run_demo(worker, args.tasks, say)
        if result.warning:
            say("the Python tracker warned in the worker's log:")
            for line in result.warning:
                say(f"  {line.strip()}")
        say("report (strace's view of the traced window, with the Python tracker's origins):")
        # the page is written before the work directory goes: it shows the lines of tasks.py
        write_outputs(result.report, args, out, errors, source_root=str(worker.work_dir))
        say("stopping the worker ...")
    shown = any(
        leak.confidence in ("high", "medium") and leak.origin is not None and leak.origin.task == LEAKY_TASK
        for leak in result.report.leaks
    )
    say("done: every process the demo started has stopped" if shown else "the leak was not shown")
    return 0 if shown else 1
