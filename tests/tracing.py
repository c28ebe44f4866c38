"""Running `fdleak trace` in the background from a test, and waiting on conditions."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO, Any


def first_line(stream: IO[str]) -> str:
    """One line from a child's pipe, read from the fd itself: ``stream.readline()`` would
    buffer what follows it, which ``communicate()`` (reading the fd) then never sees."""
    data = b""
    while not data.endswith(b"\n") and (byte := os.read(stream.fileno(), 1)):
        data += byte
    return data.decode()


@contextlib.contextmanager
def tracing(*args: str) -> Iterator[subprocess.Popen[str]]:
    """``fdleak trace ARGS`` in the background, returned once it says it is attached."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fdleak", "trace", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, COLUMNS="120", NO_COLOR="1"),
    )
    try:
        assert proc.stderr is not None
        first = first_line(proc.stderr)
        assert first.startswith("fdleak: tracing"), first + proc.stderr.read()
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def check_tree_report(
    report: dict[str, Any],
    parent: int,
    child: int,
    before: dict[int, dict[int, str]],
    truth: dict[int, dict[int, str]],
    new_children: list[int],
) -> dict[str, dict[str, Any]]:
    """What both backends must say of tests/trace_workloads/tree.py traced with -p: the fds
    open at the end are exactly /proc/PID/fd's then (``truth``) less what each process had
    before the attach (``before``), and the leaks are the window's own; returns the leaks
    by file name."""
    assert set(report["source"]["pids"]) == {parent, child}
    # the new children's copies of their parent's old fds came from before the attach too
    before = {**before, **{pid: before[parent] for pid in new_children}}
    for pid, now in truth.items():
        expected = {fd: link for fd, link in now.items() if before[pid].get(fd) != link}
        reported = {e["fd"]: e["target"] for e in report["open_fds"] if e["pid"] == pid}
        differ = {fd: (reported.get(fd), expected.get(fd)) for fd in set(reported) ^ set(expected)}
        assert not differ, (pid, differ)
        for fd, link in expected.items():
            if link.startswith("/"):
                assert reported[fd] == link
    # (signatures generalise the numbered pytest directory too)
    leaks = {leak["signature"].rpartition("/")[2]: leak for leak in report["leaks"]}
    assert parent in leaks["leak_parent_*.txt"]["pids"] and leaks["leak_parent_*.txt"]["opened"] == 35
    assert (leaks["leak_child_*.txt"]["count"], leaks["leak_child_*.txt"]["pids"]) == (30, [child])
    # closes of the old fds were understood: no old file, heartbeat or scratch file leaks,
    # no complaint about missing closes
    assert not [s for s in leaks if "old" in s or "heartbeat" in s or "scratch" in s]
    assert not [w for w in report.get("warnings", []) if "missing" in w]
    processes = {p["pid"]: p for p in report["processes"]}
    assert processes[parent]["inherited_open"] == len(before[parent]) - 20  # the old files closed
    assert all(processes[pid]["parent"] == parent for pid in new_children)
    return leaks
