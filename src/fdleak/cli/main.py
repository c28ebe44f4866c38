"""fdleak's command line: parse, dispatch, and turn errors into one line and an exit status."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fdleak import __version__
from fdleak.cli import analyze, celery, demo, diff, exporter, merge, ps, report, run, snapshot, trace, watch
from fdleak.cli.options import HelpFormatter
from fdleak.errors import FdleakError

COMMANDS = {
    "ps": ps,
    "snapshot": snapshot,
    "diff": diff,
    "watch": watch,
    "run": run,
    "trace": trace,
    "analyze": analyze,
    "celery": celery,
    "merge": merge,
    "demo": demo,
    "exporter": exporter,
    "report": report,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fdleak",
        description="Find file-descriptor leaks in long-running Linux processes.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fdleak {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback when something fails")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        module.add_parser(sub, name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(COMMANDS[args.command].run(args))
    except FdleakError as error:
        if args.debug:
            raise
        print(f"fdleak: {error.one_line()}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("fdleak: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # a bug in fdleak: still one line, unless --debug
        if args.debug:
            raise
        print(
            f"fdleak: internal error: {type(error).__name__}: {error} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 2
