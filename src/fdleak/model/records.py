"""FdRecord: the life of one fd in one process, as the fd-table engine saw it."""

from __future__ import annotations

from dataclasses import dataclass

from fdleak.model.kinds import FdKind


@dataclass(frozen=True, slots=True)
class FdRecord:
    """An fd created inside the window (or seeded as inherited before it)."""

    pid: int  # process (thread-group id) holding the fd
    fd: int
    kind: FdKind
    target: str
    signature: str
    syscall: str  # the call that created it ("inherited" for fds from before the window)
    ts: float | None
    line: int | None
    cloexec: bool = False
    inherited: bool = False  # existed before the window: never a leak
    copied: bool = False  # this process got it from its parent at fork, not by a call
    level: int = 0  # open fds of its group in its table right after it was created


@dataclass(frozen=True, slots=True)
class OpenFd:
    """A record that was still open at the end of the window or at its process's exit."""

    record: FdRecord
    at_exit: bool  # released by its process's exit rather than still open at the end
