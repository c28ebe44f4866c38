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
from fdleak.model.series import Series
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
                growth = _growth(watch)
                series = [t.series() for t in watch.rows()]
                if live is not None:
                    table = watch_table(
                        series, growth, "fdleak watch (Ctrl-C to stop)", tuple(watch.roles.values())
                    )
                    live.update(table, refresh=True)
                else:
                    _announce_growth(series, flagged, errors)
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


def _processes(count: int) -> str:
    return f"{count} process" if count == 1 else f"{count} processes"


def _announce_growth(series: list[Series], flagged: set[int], errors: Console) -> None:
    for item in series:
        if item.trend is not None and item.trend.growing and item.pid not in flagged:
            flagged.add(item.pid)
            errors.print(
                f"fdleak: pid {item.pid} ({text.safe(item.role)}) is growing: "
                f"{item.trend.rate_per_hour:,.0f} fds/h; {text.safe(item.trend.reason)}"
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
