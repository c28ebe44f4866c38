"""fdleak run: a command under strace, its output analysed as it streams, a report at the end."""

from __future__ import annotations

import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from fdleak.analysis.build import build_report
from fdleak.defaults import DEFAULT_MIN_COUNT
from fdleak.errors import InputError, NothingToAnalyze
from fdleak.lifecycle.timeline import TimedEngine
from fdleak.model.observation import SourceInfo
from fdleak.model.report import Report
from fdleak.pipeline.logs import observe
from fdleak.sources.strace.drive import LogDriver
from fdleak.sources.strace.live import launch
from fdleak.system import Strace, find_strace

KEEP_LIMIT = 1 << 30  # bytes of raw log --keep-trace may write


def run_command(
    command: list[str],
    *,
    duration: float | None = None,
    keep_trace: str | None = None,
    min_count: int = DEFAULT_MIN_COUNT,
    seccomp: bool = True,
    on_start: Callable[[Strace, bool], None] | None = None,
    env: dict[str, str] | None = None,
    fd_paths: bool = True,
) -> Report:
    """Trace ``command`` until it exits, ``duration`` passes or Ctrl-C; then report.

    ``seccomp``: use --seccomp-bpf where strace has it; ``on_start`` hears the strace
    found and whether seccomp-bpf is used, before the command starts; ``fd_paths``:
    strace resolves every fd it prints (-y)."""
    if not command:
        raise InputError("no command given", "put it after --: fdleak run -- python app.py")
    if shutil.which(command[0]) is None:
        raise InputError(f"command not found: {command[0]}")
    strace = find_strace()
    seccomp = seccomp and strace.has_seccomp
    if on_start is not None:
        on_start(strace, seccomp)
    engine = TimedEngine()
    driver = LogDriver(engine, jobs=1)
    with (
        launch(strace, command, keep_trace, KEEP_LIMIT, seccomp, env, fd_paths) as trace,
        stop_on(trace.stop, duration),
    ):
        totals = driver.run_blocks(trace.blocks())
    if totals.lines == 0:
        raise NothingToAnalyze("strace wrote nothing", "is the command allowed to be traced here?")
    source = SourceInfo(mode="strace", command=tuple(command))
    report = build_report(observe(engine, totals, source), min_count=min_count)
    notes = list(report.warnings)
    if trace.stopped_early:
        notes.append("the trace was stopped before the command ended; the command was ended with it")
    if trace.keep_truncated and keep_trace is not None:
        notes.append(
            f"{keep_trace} holds only the first {KEEP_LIMIT >> 20} MB of the log (--keep-trace bound)"
        )
    return replace(report, warnings=tuple(notes))


@contextmanager
def stop_on(stop: Callable[[], None], duration: float | None) -> Iterator[None]:
    """Ctrl-C, SIGTERM or the end of ``duration`` call ``stop`` (a tracer's); its output
    still drains."""
    timer = threading.Timer(duration, stop) if duration else None
    if timer is not None:
        timer.daemon = True
        timer.start()

    def handler(signum: int, frame: object) -> None:
        stop()

    before = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()
        for sig, old in before.items():
            signal.signal(sig, old)
