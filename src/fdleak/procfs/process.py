"""One process's identity and limits from /proc/PID: start time, parent, command, fd limits.

/proc is racy: a process can exit between any two reads. Every reader here turns a
vanished process into ProcessGone and a refused read into AccessDenied, at this one
boundary, so callers never see a bare OSError.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import NamedTuple, TypeVar

from fdleak.errors import AccessDenied, ProcessGone

PROC = "/proc"
T = TypeVar("T")


class ProcessInfo(NamedTuple):  # not a dataclass: see model/snapshot.py
    pid: int
    start_time: float  # epoch seconds
    parent: int
    uid: int
    name: str  # comm
    command: str  # the command line, space-joined; [name] for kernel threads
    # no command line: a kernel thread, or a process past exit_mm (exiting, its fds going)
    nameless: bool = False


def read_state(pid: int) -> tuple[str, int, float]:
    """(state, parent, start time) from /proc/PID/stat alone: the cheap check a sampler
    repeats for every process it follows."""
    stat = guarded(pid, "its status", lambda: _read_text(f"{PROC}/{pid}/stat"))
    # comm is in parentheses and may itself contain ") ": split at the last one
    fields = stat[stat.rindex(")") + 2 :].split(None, 20)
    return fields[0], int(fields[1]), boot_time() + int(fields[19]) / _ticks()


def read_process(pid: int) -> ProcessInfo:
    stat = guarded(pid, "its status", lambda: _read_text(f"{PROC}/{pid}/stat"))
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    parent, start_ticks = int(fields[1]), int(fields[19])
    uid = guarded(pid, "its owner", lambda: os.stat(f"{PROC}/{pid}").st_uid)
    try:
        raw = _read_bytes(f"{PROC}/{pid}/cmdline")
    except OSError:
        raw = b""
    args = [a.decode("utf-8", "replace") for a in raw.rstrip(b"\0").split(b"\0") if a]
    command = " ".join(args) if args else f"[{name}]"
    start_time = boot_time() + start_ticks / _ticks()
    return ProcessInfo(pid, start_time, parent, uid, name, command, nameless=not args)


def fd_limits(pid: int) -> tuple[int | None, int | None]:
    """(soft, hard) RLIMIT_NOFILE; None for unlimited or unreadable."""
    try:
        text = guarded(pid, "its limits", lambda: _read_text(f"{PROC}/{pid}/limits"))
    except AccessDenied:
        return None, None
    for line in text.splitlines():
        if line.startswith("Max open files"):
            parts = line[len("Max open files") :].split()
            return _limit(parts[0]), _limit(parts[1])
    return None, None


def guarded(pid: int, what: str, read: Callable[[], T]) -> T:
    """Run one /proc read of ``pid``, translating OSError into the typed errors."""
    try:
        return read()
    except (FileNotFoundError, ProcessLookupError):
        raise ProcessGone(f"no process with pid {pid}", "check the pid with: ps -p PID") from None
    except PermissionError:
        if os.geteuid() == 0:  # root was refused: not a matter of users
            raise AccessDenied(
                f"cannot read {what} of pid {pid}: permission denied even to root",
                "the kernel guards it (another PID namespace's init, or a security module)",
            ) from None
        raise AccessDenied(
            f"cannot read {what} of pid {pid}: permission denied (it belongs to another user)",
            "run fdleak as that user or as root (sudo fdleak ...)",
        ) from None
    except OSError as error:
        if not os.path.exists(f"{PROC}/{pid}"):  # ESRCH and friends mid-read
            raise ProcessGone(f"no process with pid {pid}", "it exited while being read") from None
        raise AccessDenied(f"cannot read {what} of pid {pid}: {error.strerror}") from None


@cache
def boot_time() -> float:
    with open(f"{PROC}/stat") as stat:
        for line in stat:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


@cache
def _ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def _limit(text: str) -> int | None:
    return None if text == "unlimited" else int(text)


def _read_text(path: str) -> str:
    return _read_bytes(path).decode("utf-8", "replace")


def _read_bytes(path: str) -> bytes:
    with open(path, "rb", buffering=0) as handle:
        return handle.read()


def group_members(group: int) -> list[int]:
    """Pids whose process group is ``group``, from each /proc/PID/stat (gone ones skipped)."""
    members = []
    for name in os.listdir(PROC):
        if not name.isdigit():
            continue
        try:
            stat = _read_bytes(f"{PROC}/{name}/stat")
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split(None, 3)
        if int(fields[2]) == group:
            members.append(int(name))
    return members


def cwd_of(pid: int) -> str | None:
    """The working directory of ``pid``, or None when it is gone or unreadable."""
    try:
        return os.readlink(f"{PROC}/{pid}/cwd")
    except OSError:
        return None


def has_exited(pid: int) -> bool:
    """True once ``pid`` has ended: gone, or a zombie with no thread left running (a
    leader that ended before its threads is a zombie whose task list still has them)."""
    try:
        state, _, _ = read_state(pid)
        return state in ("Z", "X") and len(os.listdir(f"{PROC}/{pid}/task")) <= 1
    except (ProcessGone, OSError):
        return True
