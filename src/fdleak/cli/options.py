"""Options shared by the commands, built once; argument types. Imports nothing heavy."""

from __future__ import annotations

import argparse
import os
import sys

from fdleak.defaults import DEFAULT_MIN_COUNT


def terminal_columns() -> int:
    """``shutil.get_terminal_size().columns`` without importing shutil (and with it zlib,
    bz2 and lzma: 2-3 ms of every start-up), which argparse does for the formatter it
    makes on every add_argument."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        stdout = sys.__stdout__  # None without a standard output
        try:
            columns = os.get_terminal_size(stdout.fileno()).columns if stdout else 0
        except (ValueError, OSError):
            columns = 0
    return columns or 80


class HelpFormatter(argparse.HelpFormatter):
    """argparse's, sized by :func:`terminal_columns`, as argparse would size it."""

    def __init__(
        self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None
    ) -> None:
        width = terminal_columns() - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)


class RawDescriptionHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Descriptions keep their line breaks (lists, examples)."""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def add_min_count_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-count",
        type=positive_int,
        default=DEFAULT_MIN_COUNT,
        metavar="N",
        help=f"fds that must pile up before a group is called a leak (default {DEFAULT_MIN_COUNT})",
    )


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=("strace", "ebpf", "auto"),
        default="strace",
        help="the tracer: strace (default), ebpf (bpftrace on kernel tracepoints: the processes are "
        "never stopped; needs root), or auto (ebpf where it can run, else strace)",
    )


def add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON (- for stdout)")
    add_html_option(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar; print only the report")


def add_html_option(
    parser: argparse.ArgumentParser, what: str = "the report", text: str | None = None
) -> None:
    parser.add_argument(
        "--html",
        metavar="FILE",
        help=text or f"also write {what} as one self-contained HTML page (works offline)",
    )


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def duration(text: str) -> float:
    """``30``, ``30s``, ``500ms``, ``5m``, ``1h`` -> seconds."""
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(number) :] or "s"
    try:
        value = float(number) * _UNITS[unit]
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"expected a duration such as 30s, 5m or 1h, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration above zero, got {text!r}")
    return value


def pid(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a process id, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a process id of at least 1, got {value}")
    return value


def add_pid_option(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument(
        "-p",
        "--pid",
        dest="pids",
        type=pid,
        action="append",
        default=[],
        required=required,
        metavar="PID",
        help="a process to look at (repeat for several)",
    )


def add_selection_options(parser: argparse.ArgumentParser) -> None:
    """-p PID ..., --celery, PATTERN: the processes ps and watch look at, with their children."""
    add_pid_option(parser)
    parser.add_argument("--celery", action="store_true", help="Celery workers (parents and pool children)")
    parser.add_argument(
        "pattern",
        nargs="?",
        metavar="PATTERN",
        help="processes whose command line matches this regular expression",
    )
