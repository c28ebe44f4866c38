"""A progress bar on standard error for long reads, only when it is a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

MIN_BYTES = 64 << 20


@contextmanager
def byte_progress(console: Console, total: int, quiet: bool) -> Iterator[Callable[[int], None] | None]:
    if quiet or not console.is_terminal or total < MIN_BYTES:
        yield None
        return
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
