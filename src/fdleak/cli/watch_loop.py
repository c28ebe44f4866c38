"""The loop behind fdleak watch: sample, refresh the live view, stop cleanly, report."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections.abc import Iterator

from rich.console import Console
from rich.live import Live

from fdleak.discovery.follow import Follower
from fdleak.errors import InputError
from fdleak.model.snapshot import SnapshotDiff
from fdleak.pipeline.watch import Watch
from fdleak.views import json_view, text
from fdleak.views.watch_view import watch_table, write_csv


def watch_command(args: argparse.Namespace) -> int:
    if args.interval < 0.05:
        raise InputError(f"--interval {args.interval:g}s is too short", "sample at most every 50 ms")
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    out = Console(file=sys.stdout, highlight=False, soft_wrap=not sys.stdout.isatty())
    watch = Watch(Follower(tuple(args.pids), args.celery, args.pattern))
    roots = ", ".join(str(t.pid) for t in watch.follower.tracked.values() if t.depth == 0)
    until = f"for {args.duration:g} s" if args.duration else "until Ctrl-C"
    watched = _processes(len(watch.follower.tracked))
    errors.print(
        f"fdleak: watching {watched} (tree of {roots}) every {args.interval:g} s {until}; /proc only"
    )
    live = out.is_terminal and not args.quiet and args.json != "-"
    reason = _loop(watch, args.interval, args.duration, out if live else None, errors)
    watch.finish()
    report = watch.report()
    if args.csv:
        _write_csv(watch, args.csv)
    if args.json:
        json_view.write(report, args.json)
    if args.json != "-":
        if not live:
            out.print(watch_table(report.series, _growth(watch), roles=tuple(watch.roles.values())))
        out.print()
        text.render(report, out)
    if args.html:
        from fdleak.cli.output import write_html

        write_html(report, args.html, errors)
    samples = sum(len(t.samples) for t in watch.tracked.values())
    plural = "es" if len(watch.tracked) != 1 else ""
    errors.print(
        f"fdleak: stopped ({reason}) after {samples:,} samples of {len(watch.tracked)} process{plural}"
    )
    return 1 if report.found_leak else 0


def _loop(
    watch: Watch, interval: float, limit: float | None, live_on: Console | None, errors: Console
) -> str:
    deadline = None if limit is None else time.monotonic() + limit
    flagged: set[int] = set()
    with _terminate_as_interrupt(), _live(live_on) as live:
        try:
            while True:
                started = time.monotonic()
                watch.step()
                if live is not None:
                    series = [t.series(last=_SPARK_SAMPLES) for t in watch.rows()]
                    roles = tuple(watch.roles.values())
                    table = watch_table(series, _growth(watch), "fdleak watch (Ctrl-C to stop)", roles)
                    live.update(table, refresh=True)
                else:
                    _announce_growth(watch, flagged, errors)
                if not watch.alive:
                    return "every process exited"
                if deadline is not None and time.monotonic() >= deadline:
                    return "duration reached"
                pause = interval - (time.monotonic() - started)
                if deadline is not None:
                    pause = min(pause, deadline - time.monotonic())
                time.sleep(max(0.0, pause))
        except KeyboardInterrupt:
            return "interrupted"


_SPARK_SAMPLES = 60  # the live view shows recent history; the report keeps all of it


def _processes(count: int) -> str:
    return f"{count} process" if count == 1 else f"{count} processes"


def _announce_growth(watch: Watch, flagged: set[int], errors: Console) -> None:
    """Without a live view, one line on standard error when a process starts growing."""
    for entry in watch.tracked.values():
        trend, pid = entry.trend, entry.candidate.pid
        if trend is not None and trend.growing and pid not in flagged:
            flagged.add(pid)
            errors.print(
                f"fdleak: pid {pid} ({text.safe(entry.candidate.role)}) is growing: "
                f"{trend.rate_per_hour:,.0f} fds/h; {text.safe(trend.reason)}"
            )


def _growth(watch: Watch) -> dict[int, SnapshotDiff]:
    return {t.candidate.pid: t.growth for t in watch.tracked.values() if t.growth is not None}


def _write_csv(watch: Watch, path: str) -> None:
    try:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            write_csv([t.series() for t in watch.tracked.values()], handle)
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror}") from None


@contextlib.contextmanager
def _live(console: Console | None) -> Iterator[Live | None]:
    if console is None:
        yield None
        return
    with Live(console=console, auto_refresh=False, transient=False) as live:
        yield live


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (systemd, timeout, kill) ends the watch like Ctrl-C: the report is still written."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
