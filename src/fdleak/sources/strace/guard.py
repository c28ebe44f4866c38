"""Runs strace for ``fdleak run`` under --seccomp-bpf when strace lacks --kill-on-exit (< 6.6).

Under seccomp-bpf a process that outlives its tracer sees every traced system call fail
with ENOSYS. So the command must die no later than strace. This guard sits between
fdleak and strace: strace leads a new process group that the command inherits, and when
fdleak dies (even by SIGKILL: the guard's parent-death signal) or asks, the guard kills
that whole group with one kill(-group, SIGKILL). The kernel posts the signal to every
member before strace can exit and detach, so no member ever runs untraced.

Run as a script (``python3 -I guard.py FDLEAK_PID FD STRACE_ARGV...``): no fdleak import.
It writes strace's pid (the group's id) to file descriptor FD and closes it, then exits
with strace's status. stdin, stdout and stderr pass through to strace and the command.
fdleak also hands it the read end of strace's output FIFO, which it keeps open and never
reads: when fdleak dies, strace's writes then block instead of killing strace with
SIGPIPE, which would detach the command before the guard can kill it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

_PR_SET_PDEATHSIG = 1


def _prctl_deathsig(signum: int) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)


def _lead_group() -> None:
    """In strace, before exec: lead a new process group; die if the guard is killed."""
    os.setpgid(0, 0)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # the mask survives exec
    _prctl_deathsig(signal.SIGKILL)


def main(argv: list[str]) -> int:
    fdleak, report, command = int(argv[0]), int(argv[1]), argv[2:]
    group = 0

    def end(signum: int, frame: object) -> None:
        if group:
            os.killpg(group, signal.SIGKILL)
        os._exit(128 + signum)

    # SIGTERM waits, blocked, until strace's pid is known: an early one must still kill it
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    signal.signal(signal.SIGTERM, end)
    _prctl_deathsig(signal.SIGTERM)
    if os.getppid() != fdleak:  # fdleak died before the parent-death signal was armed
        return 1
    strace = subprocess.Popen(command, preexec_fn=_lead_group)
    group = strace.pid
    os.write(report, f"{group}\n".encode())
    os.close(report)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    return strace.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
