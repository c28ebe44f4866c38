"""Stop the perf sample the kernel takes of every hit of bpftrace's tracepoints; the probes run on.

bpftrace 0.17 attaches each probe to its tracepoint through a perf event opened on one
CPU (the first), and its programs return 1, which asks the kernel to also hand every hit
to that event. On that CPU each raw_syscalls probe then costs a perf sample on every
system call of every process, about 0.2 us here: with the program's four, the workload of
bench/overhead.py ran 2.0x slower traced when it ran on that CPU, 1.4x on the other.

A disabled perf event leaves its CPU's list of events to hand hits to, while the BPF
program stays attached to the tracepoint itself and runs on every CPU as before. So once
bpftrace is attached, fdleak takes a copy of each of bpftrace's perf event fds
(pidfd_getfd, Linux 5.6+; fdleak is bpftrace's parent, with its credentials) and disables
the tracepoint events among them: those that take a tracepoint filter. The perf buffers
bpftrace reads its output from refuse one and are left alone. Where this cannot be done
(an older kernel, a ptrace policy against it), nothing changes but the cost.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
from contextlib import suppress

_SYS_PIDFD_GETFD = 438  # the same number on every architecture
_PERF_EVENT_IOC_DISABLE = 0x2401  # _IO('$', 1)
_PERF_EVENT_IOC_SET_FILTER = 0x40082406  # _IOW('$', 6, char *)
# a filter every hit passes: setting it only tells a tracepoint event from the others
_PASS_ALL = b"common_pid >= 0 || common_pid < 0\0"
_PERF_EVENT_LINK = "anon_inode:[perf_event]"


def stop_sampling(pid: int) -> int:
    """Disable the tracepoint perf events of the bpftrace ``pid``; how many were."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return 0
    syscall = ctypes.CDLL(None, use_errno=True).syscall
    stopped = 0
    try:
        for target in _perf_event_fds(pid):
            copy = syscall(_SYS_PIDFD_GETFD, pidfd, target, 0)
            if copy < 0:
                continue
            try:
                fcntl.ioctl(copy, _PERF_EVENT_IOC_SET_FILTER, _PASS_ALL)
            except OSError:
                continue  # not a tracepoint event (an output buffer): left as it is
            else:
                with suppress(OSError):
                    fcntl.ioctl(copy, _PERF_EVENT_IOC_DISABLE, 0)
                    stopped += 1
            finally:
                os.close(copy)
    finally:
        os.close(pidfd)
    return stopped


def _perf_event_fds(pid: int) -> list[int]:
    fds: list[int] = []
    with suppress(OSError):
        for name in os.listdir(f"/proc/{pid}/fd"):
            with suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{name}") == _PERF_EVENT_LINK:
                    fds.append(int(name))
    return fds
