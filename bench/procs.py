"""Process hygiene for the benchmark: nothing it starts may outlive it."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int) -> Callable[[], None]:
    """A preexec_fn: the child gets `sig` when the process that started it dies,
    even by SIGKILL, when no finally block runs."""

    def arm() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return arm


def kill_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process, then SIGKILL its whole process group after `grace` seconds.

    `proc` must lead its own group (start_new_session=True), so the group also
    holds every grandchild that did not set up a group of its own."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers, even when the leader is gone
    proc.wait()


def children_of(pid: int) -> list[int]:
    """Direct children of every thread of `pid` (needs CONFIG_PROC_CHILDREN)."""
    found: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as handle:
                found.extend(int(child) for child in handle.read().split())
        except OSError:
            continue  # the thread ended between listdir and open
    return found
