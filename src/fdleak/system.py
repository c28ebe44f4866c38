"""Capability probes: strace and bpftrace, installed, which version, and what they can do here;
and the parent-death signal that ties a helper process's life to fdleak's."""

from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass

from fdleak.errors import AccessDenied, MissingTool

_VERSION = re.compile(r"strace -- version (\d+)\.(\d+)")


@dataclass(frozen=True, slots=True)
class Strace:
    path: str
    version: tuple[int, int]

    @property
    def has_seccomp(self) -> bool:
        """--seccomp-bpf (strace 5.3+): only the traced system calls stop the command."""
        return self.version >= (5, 3)

    @property
    def kills_on_exit(self) -> bool:
        """--kill-on-exit (strace 6.6+): the traced command dies with strace, so seccomp-bpf
        is safe. Before it, a command that outlived strace under seccomp-bpf would see
        every traced call fail with ENOSYS."""
        return self.version >= (6, 6)


def find_strace() -> Strace:
    path = shutil.which("strace")
    if path is None:
        raise MissingTool("strace is not installed", "install it: sudo apt-get install strace")
    try:
        out = subprocess.run([path, "-V"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired) as error:
        raise MissingTool(f"cannot run {path}: {error}") from None
    match = _VERSION.search(out)
    version = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    return Strace(path, version)


def find_setpriv() -> str | None:
    """util-linux's setpriv, for --pdeathsig (Debian ships it in an essential package)."""
    return shutil.which("setpriv")


# -- the ebpf backend ----------------------------------------------------------------------

TRACEFS = "/sys/kernel/tracing"
_CAP_SYS_ADMIN, _CAP_PERFMON, _CAP_BPF = 21, 38, 39
# the tracepoints the bpftrace program cannot do without
_REQUIRED_TRACEPOINTS = (
    "raw_syscalls/sys_enter",
    "raw_syscalls/sys_exit",
    "sched/sched_process_fork",
    "sched/sched_process_exec",
    "sched/sched_process_exit",
)


@dataclass(frozen=True, slots=True)
class Bpftrace:
    """bpftrace, usable here: where it is and what this kernel offers it."""

    path: str
    tracefs: str
    group_dead: bool  # sched_process_exit says when a whole process ended (Linux 6.16+)
    btf: bool  # the kernel's own types (curtask->exit_code, a pipe's inode)


def find_bpftrace() -> Bpftrace:
    """bpftrace and everything it needs, checked in order: permission, the program,
    tracefs (mounted here when root and missing), the kernel's tracepoints."""
    from fdleak.procfs.ptrace import has_capability

    if os.geteuid() != 0 and not (
        has_capability(_CAP_SYS_ADMIN) or (has_capability(_CAP_BPF) and has_capability(_CAP_PERFMON))
    ):
        raise AccessDenied(
            "the ebpf backend needs root (or CAP_BPF and CAP_PERFMON)",
            "run fdleak as root, or use --backend strace",
        )
    if platform.machine() != "x86_64":
        # the program names syscalls by number, and those numbers are x86_64's
        machine = platform.machine()
        raise MissingTool(f"the ebpf backend knows x86_64 only, not {machine}", "use --backend strace")
    path = shutil.which("bpftrace")
    if path is None:
        raise MissingTool("bpftrace is not installed", "install it: apt-get install bpftrace")
    tracefs = os.environ.get("FDLEAK_TRACEFS", TRACEFS)
    events = os.path.join(tracefs, "events")
    if not os.path.isdir(events):
        _mount_tracefs(tracefs)
    missing = [t for t in _REQUIRED_TRACEPOINTS if not os.path.isdir(os.path.join(events, t))]
    if missing:
        raise MissingTool(
            f"this kernel has no {missing[0].split('/')[1]} tracepoint",
            "the ebpf backend needs the raw_syscalls and sched tracepoints (CONFIG_FTRACE_SYSCALLS); "
            "use --backend strace",
        )
    try:
        exit_format = _read_text(os.path.join(events, "sched", "sched_process_exit", "format"))
    except OSError as error:
        raise AccessDenied(f"cannot read {events}: {error.strerror}", "run fdleak as root") from None
    return Bpftrace(path, tracefs, "group_dead" in exit_format, os.path.exists("/sys/kernel/btf/vmlinux"))


def _mount_tracefs(tracefs: str) -> None:
    how = f"mount it as root: mount -t tracefs nodev {tracefs}"
    if os.geteuid() != 0:
        raise MissingTool(f"tracefs is not mounted at {tracefs}", how)
    try:
        done = subprocess.run(
            ["mount", "-t", "tracefs", "nodev", tracefs], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        failed = f"tracefs is not mounted at {tracefs} and mounting it failed ({error})"
        raise MissingTool(failed, how) from None
    if done.returncode != 0 or not os.path.isdir(os.path.join(tracefs, "events")):
        said = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"status {done.returncode}"
        raise MissingTool(f"tracefs is not mounted at {tracefs} and mounting it failed ({said})", how)


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


_PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int = signal.SIGKILL) -> None:
    """In a child, before exec: ``signum`` when fdleak dies, however it dies (even SIGKILL)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
