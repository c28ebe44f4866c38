"""Progress on standard error, only when it is a terminal: long reads, bounded traces."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from rich.progress import Progress

MIN_BYTES = 64 << 20


@contextmanager
def byte_progress(console: Console, total: int, quiet: bool) -> Iterator[Callable[[int], None] | None]:
    if quiet or not console.is_terminal or total < MIN_BYTES:
        yield None
        return
    # imported only when drawn: a command that draws none never loads rich.progress
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    with Progress(
        "reading",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("reading", total=total)
        yield lambda done: bar.update(task, completed=done)


class Countdown:
    """A bar that empties as a bounded trace runs, on standard error when it is a terminal:
    ``start()`` once the clock runs (from any thread), ``stop()`` when the work is over."""

    def __init__(self, console: Console, quiet: bool) -> None:
        self._console = console
        self._enabled = not quiet and console.is_terminal
        self._bar: Progress | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()  # start (the trace's starter thread) against stop

    def start(self, seconds: float, what: str) -> None:
        if not self._enabled:
            return
        from rich.progress import BarColumn, Progress, TextColumn

        with self._lock:
            if self._done.is_set():
                return  # stopped already: no bar left drawn after the trace
            bar = Progress(
                TextColumn(what),
                BarColumn(),
                TextColumn("{task.fields[left]}"),
                console=self._console,
                transient=True,
            )
            task = bar.add_task(what, total=seconds, left="")
            bar.start()
            self._bar = bar
        started = time.monotonic()

        def tick() -> None:
            while not self._done.wait(0.25):
                elapsed = min(seconds, time.monotonic() - started)
                bar.update(task, completed=elapsed, left=f"{seconds - elapsed:.0f} s left")

        threading.Thread(target=tick, daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            self._done.set()
            if self._bar is not None:
                self._bar.stop()
