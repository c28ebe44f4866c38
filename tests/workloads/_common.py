"""What every accuracy workload shares: how it reports readiness and how it waits.

A workload does its fd work, prints one line ``ready PID...`` naming every process of
its tree that is still alive, and then makes no fd system call until its standard
input reaches end of file. ``os.read(0, 1)`` is the wait: read(2) is not in the
traced syscall set, so the log ends exactly with the fd work.
"""

from __future__ import annotations

import os
import signal


def ignore_tracer_signals() -> None:
    """strace forwards the signal that makes it detach to the program it started
    (strace.c cleanup(): kill(strace_child, sig)); the workload must outlive that,
    and the disposition is inherited by forked and exec'd children."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def ready(*pids: int) -> None:
    print("ready", *pids, flush=True)


def block() -> None:
    """Wait, without fd system calls, until the test closes our standard input."""
    while os.read(0, 4096):
        pass
