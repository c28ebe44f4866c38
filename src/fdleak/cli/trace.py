"""fdleak trace: attach strace to running process trees for a while and report their leaks."""

from __future__ import annotations

import argparse

from fdleak.cli.options import (
    RawDescriptionHelpFormatter,
    add_backend_option,
    add_min_count_option,
    add_report_options,
    add_selection_options,
    duration,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

    from rich.console import Console

    from fdleak.pipeline.backend import Backend
    from fdleak.pipeline.trace import TraceStart

HELP = "attach strace to running processes (and their children) and report the fds they leak"
DESCRIPTION = """\
Attach strace to each selected process (-p PID, --celery, or PATTERN) and to every
process and thread of its tree: pool children that exist already are attached too, new
forks are followed. Their open fds are read from /proc first, so closes of old fds are
understood and only fds opened during the trace can be leaks. Detaches after --duration
(default 30s) or on Ctrl-C and prints the report. If fdleak is killed, strace dies with
it and the processes carry on untraced.

Cost: attached processes cannot use seccomp-bpf, so each of their fd system calls stops
them while strace reads it; see docs/benchmarks.md for measured slowdowns.
--backend ebpf runs bpftrace on the kernel's syscall and sched tracepoints instead: the
processes never stop, at a small cost per fd call (root, bpftrace and tracefs needed).
Exit status: 0 no leak, 1 leak found, 2 nothing could be traced."""

EBPF_COST = (
    "ebpf backend: bpftrace reads fd calls at the kernel's tracepoints, the processes never stop "
    "(a small cost per fd call); if fdleak dies, bpftrace dies and the probes are removed"
)
COST = (
    "attach mode: every fd system call of these processes stops them while strace reads it "
    "(no seccomp-bpf with -p); syscall-heavy code slows down most, see docs/benchmarks.md"
)


def add_parser(sub: Any, name: str) -> None:
    parser = sub.add_parser(
        name, help=HELP, description=DESCRIPTION, formatter_class=RawDescriptionHelpFormatter
    )
    add_selection_options(parser)
    parser.add_argument(
        "--duration",
        type=duration,
        default=30.0,
        metavar="DURATION",
        help="detach after this long (default 30s)",
    )
    parser.add_argument(
        "--keep-trace", metavar="FILE", help="also save strace's raw output here (at most 1 GB)"
    )
    add_backend_option(parser)
    add_min_count_option(parser)
    add_report_options(parser)


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: building the parser stays cheap for every command
    import sys

    from rich.console import Console

    from fdleak.cli.output import write_outputs
    from fdleak.cli.progress import Countdown
    from fdleak.errors import InputError
    from fdleak.pipeline.backend import choose_backend

    if not (args.pids or args.celery or args.pattern):
        raise InputError("nothing to trace", "give -p PID, --celery or a PATTERN")
    backend = choose_backend(args.backend)
    if backend.name == "ebpf" and args.keep_trace:
        raise InputError("--keep-trace saves strace's output", "drop it, or use --backend strace")
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    countdown = Countdown(errors, args.quiet)

    def started(start: TraceStart) -> None:
        if not args.quiet:
            _announce(start, backend, errors)
        countdown.start(start.duration, "tracing")

    try:
        if backend.bpftrace is not None:
            from fdleak.pipeline.ebpf import trace_ebpf

            report = trace_ebpf(
                backend.bpftrace,
                args.pids,
                celery=args.celery,
                pattern=args.pattern,
                duration=args.duration,
                min_count=args.min_count,
                on_start=started,
            )
        else:
            from fdleak.pipeline.trace import trace_processes

            report = trace_processes(
                args.pids,
                celery=args.celery,
                pattern=args.pattern,
                duration=args.duration,
                keep_trace=args.keep_trace,
                min_count=args.min_count,
                on_start=started,
            )
    finally:
        countdown.stop()
    out = Console(file=sys.stdout, highlight=False, soft_wrap=not sys.stdout.isatty())
    write_outputs(report, args, out, errors)
    return 1 if report.found_leak else 0


def _announce(start: TraceStart, backend: Backend, errors: Console) -> None:
    from fdleak.model.durations import human
    from fdleak.views.escape import plain

    traced = [t for t in start.targets if t.candidate.pid in start.attached]
    threads = sum(len(t.state.threads) for t in traced)
    who = ", ".join(f"{t.candidate.pid} ({t.candidate.role})" for t in traced[:8])
    more = f" and {len(traced) - 8} more" if len(traced) > 8 else ""
    errors.print(
        plain(
            f"fdleak: tracing {len(traced)} process(es), {threads} thread(s), for {human(start.duration)}: "
            f"{who}{more}; Ctrl-C stops early"
        )
    )
    errors.print(f"fdleak: {EBPF_COST if backend.name == 'ebpf' else COST}")
    if backend.why:
        errors.print(f"fdleak: --backend auto chose {backend.name}: {backend.why}")
