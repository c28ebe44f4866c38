"""fdleak run: launch a command under strace and report the fds it leaked."""

from __future__ import annotations

import argparse
import os
import re
from contextlib import contextmanager

from fdleak.cli.options import (
    RawDescriptionHelpFormatter,
    add_backend_option,
    add_min_count_option,
    add_report_options,
    duration,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from rich.console import Console

    from fdleak.model.report import Report
    from fdleak.system import Strace

HELP = "run a command under strace and report the fds it opened and never closed"
DESCRIPTION = """\
Launch COMMAND under strace (-f -ttt -y, fdleak's fd system calls, --seccomp-bpf so only
those calls stop it; --no-fd-paths drops -y), analyse strace's output as it streams (no
temporary log on disk), and print the report when the command exits, --duration passes,
or on Ctrl-C.

The command and every process it starts end with their tracer, even if fdleak is killed:
none is ever left running untraced or with failing system calls. strace 6.6+ does that
with --kill-on-exit; with an older strace the command runs in a process group of its own
that fdleak ends with strace (so it cannot read the terminal).
--backend ebpf traces it with bpftrace instead (root): the command starts only once the
probes are live, and is never stopped by them.
A Python command (python, or a script such as celery or gunicorn) also runs fdleak's
Python tracker, so each leak shows the line of code that opened it (--no-python: not).
Exit status: 0 no leak, 1 leak found, 2 nothing could be traced; the command's own exit
status is in the report."""

EBPF_NOTE = (
    "tracing with bpftrace (ebpf backend): the command starts once the probes are live and is "
    "never stopped by them; it is ended with the trace, or if fdleak dies"
)


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
    parser.add_argument(
        "--no-seccomp",
        action="store_true",
        help="trace every system call stop, not only fd calls (slower; for a kernel or container "
        "where seccomp-bpf filters fail)",
    )
    parser.add_argument(
        "--no-fd-paths",
        action="store_true",
        help="run strace without -y: cheaper on fd-heavy code (strace reads no /proc link per fd), "
        "but a file opened by a relative path shows without its directory, and pipes and "
        "sockets without their inode",
    )
    parser.add_argument(
        "--no-python",
        action="store_true",
        help="do not start fdleak's Python tracker in a Python command (it finds the line that "
        "opened each leaked fd)",
    )
    add_backend_option(parser)
    add_min_count_option(parser)
    add_report_options(parser)
    parser.add_argument("program", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]")


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: building the parser stays cheap for every command
    import sys

    from rich.console import Console

    from fdleak.cli.output import write_outputs
    from fdleak.errors import InputError
    from fdleak.pipeline.backend import choose_backend

    command = args.program[1:] if args.program[:1] == ["--"] else args.program
    backend = choose_backend(args.backend)
    if backend.name == "ebpf" and args.keep_trace:
        raise InputError("--keep-trace saves strace's output", "drop it, or use --backend strace")
    if backend.name == "ebpf" and args.no_fd_paths:
        raise InputError("--no-fd-paths is an option of strace's", "drop it, or use --backend strace")
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    if backend.why and not args.quiet:
        errors.print(f"fdleak: --backend auto chose {backend.name}: {backend.why}")
    with _python_origins(command, args.no_python) as (env, join):
        if backend.bpftrace is not None:
            from fdleak.pipeline.ebpf import run_ebpf

            report = run_ebpf(
                backend.bpftrace,
                command,
                duration=args.duration,
                min_count=args.min_count,
                on_start=None if args.quiet else lambda: errors.print(f"fdleak: {EBPF_NOTE}"),
                env=env,
            )
        else:
            from fdleak.pipeline.live import run_command

            report = run_command(
                command,
                duration=args.duration,
                keep_trace=args.keep_trace,
                min_count=args.min_count,
                seccomp=not args.no_seccomp,
                on_start=None
                if args.quiet
                else lambda strace, seccomp: _announce(strace, seccomp, not args.no_fd_paths, errors),
                env=env,
                fd_paths=not args.no_fd_paths,
            )
        report = join(report)
    out = Console(file=sys.stdout, highlight=False, soft_wrap=not sys.stdout.isatty())
    write_outputs(report, args, out, errors)
    root = report.processes[0] if report.processes else None
    if root is not None and root.exit_status is not None:
        from fdleak.views.escape import plain

        shown = plain(" ".join(command))  # a command line is hostile input too
        errors.print(f"fdleak: {shown} exited with status {root.exit_status}", markup=False)
    return 1 if report.found_leak else 0


@contextmanager
def _python_origins(
    command: list[str], off: bool
) -> Iterator[tuple[dict[str, str] | None, Callable[[Report], Report]]]:
    """For a Python command: the environment that starts fdleak's tracker in it, and the
    join of the tracker's origins (the line that opened each fd) onto the strace report."""
    import shutil
    import tempfile

    if off or not is_python(shutil.which(command[0]) if command else None):
        yield None, lambda report: report
        return
    import os

    from fdleak.analysis.merge import with_origins
    from fdleak.errors import FdleakError
    from fdleak.pipeline.reports import merged, report_files
    from fdleak.python.bootstrap import child_env
    from fdleak.python.celery import REPORT_DIR_VARIABLE

    with tempfile.TemporaryDirectory(prefix="fdleak-origins-") as reports:
        env = child_env(
            dict(os.environ, **{REPORT_DIR_VARIABLE: reports}), init=("fdleak.python.process_report:install",)
        )

        def join(report: Report) -> Report:
            try:
                return with_origins(report, merged([reports])) if report_files([reports]) else report
            except FdleakError:  # a report cut short by the command's end: no origins, still a report
                return report

        yield env, join


def is_python(path: str | None) -> bool:
    """A Python interpreter, or a script it runs (celery, gunicorn, pytest: a python #! line)."""
    if path is None:
        return False
    if re.fullmatch(r"python[\d.]*", os.path.basename(path)):
        return True
    try:
        with open(path, "rb") as handle:
            first = handle.readline(256)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


def _announce(strace: Strace, seccomp: bool, fd_paths: bool, errors: Console) -> None:
    version = ".".join(map(str, strace.version))
    cost = (
        "seccomp-bpf: only fd system calls stop the command"
        if seccomp
        else "no seccomp-bpf: every system call of the command stops it, syscall-heavy code runs "
        "several times slower (docs/benchmarks.md)"
    )
    if not fd_paths:
        cost += "; no -y: relative paths show without their directory, pipes and sockets without their inode"
    ending = (
        "--kill-on-exit ends the command with strace"
        if strace.kills_on_exit
        else "the command runs in its own process group, ended with strace (no --kill-on-exit before 6.6), "
        "so it cannot read the terminal"
    )
    errors.print(f"fdleak: tracing with strace {version}; {cost}; {ending}")
