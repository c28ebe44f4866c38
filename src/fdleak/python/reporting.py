"""fdleak report pieces from the tracker's fds: leaks grouped by what they are and where from."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import replace

from fdleak.model.observation import SourceInfo
from fdleak.model.report import FdEntry, Leak, ProcessEntry, Report, Window, most_severe_first
from fdleak.python.checkpoint import OpenedFd

EXAMPLES = 5
GroupKey = tuple[str, str, tuple[str, int] | None]  # kind, signature, (file, line) of the origin


def by_origin(items: Iterable[OpenedFd], root: str | None = None) -> dict[GroupKey, list[OpenedFd]]:
    """fds grouped by kind, signature and the line of the user's code that opened them."""
    groups: dict[GroupKey, list[OpenedFd]] = {}
    for item in items:
        frame = item.origin_frame(root)
        key = (item.kind.value, item.signature, (frame.file, frame.line) if frame else None)
        groups.setdefault(key, []).append(item)
    return groups


def leak_of(
    items: list[OpenedFd],
    *,
    pid: int,
    task: str | None,
    confidence: str,
    reason: str,
    root: str | None = None,
) -> tuple[Leak, list[FdEntry]]:
    """One group of fds as a report leak (``count``: how many are still open now), and
    the entries of those still open."""
    still = [item for item in items if still_open(item)]
    times = [item.ts for item in items if item.ts is not None]
    first, last = (min(times), max(times)) if times else (None, None)
    span = (last - first) if first is not None and last is not None else 0.0
    leak = Leak(
        id="",
        kind=items[0].kind.value,
        signature=items[0].signature,
        count=len(still),
        opened=len(items),
        closed=len(items) - len(still),
        pids=(pid,),
        first_ts=first,
        last_ts=last,
        rate_per_min=len(items) / span * 60 if span > 0 else 0.0,
        confidence=confidence,
        reason=reason,
        examples=tuple(item.entry(pid) for item in items[:EXAMPLES]),
        origin=items[-1].origin(task, root),
    )
    return leak, [item.entry(pid) for item in still]


def still_open(item: OpenedFd) -> bool:
    """Is this fd number still the fd the tracker saw (same /proc link)?"""
    try:
        return os.readlink(f"/proc/self/fd/{item.fd}") == item.link
    except OSError:
        return False


def command_line() -> str:
    try:
        with open("/proc/self/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def process_report(
    pid: int, started: float, events: int, leaks: list[Leak], open_fds: list[FdEntry]
) -> Report:
    """A report of one tracked process (mode "python"), its leaks most severe first."""
    leaks = sorted(leaks, key=most_severe_first)
    process = ProcessEntry(
        pid,
        os.getppid(),
        command_line(),
        False,
        None,
        sum(x.opened for x in leaks),
        0,
        sum(x.count for x in leaks),
    )
    return Report(
        source=SourceInfo(mode="python", pids=(pid,)),
        window=Window(started, time.time(), events, 0, 0),
        processes=(process,),
        leaks=tuple(replace(leak, id=f"L{i}") for i, leak in enumerate(leaks, 1)),
        open_fds=tuple(open_fds),
    )
