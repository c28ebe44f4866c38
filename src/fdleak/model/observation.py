"""Observation: everything a source and the fd-table engine saw, ready for analysis."""

from __future__ import annotations

from dataclasses import dataclass, field

from fdleak.model.kinds import FdKind
from fdleak.model.records import OpenFd
from fdleak.model.timeline import Timeline


@dataclass(frozen=True, slots=True)
class SourceInfo:
    mode: str  # "strace-log" | "strace" | "ebpf" | "python" | "procfs"
    inputs: tuple[str, ...] = ()
    command: tuple[str, ...] | None = None
    pids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class WindowInfo:
    start: float | None
    end: float | None
    events: int
    lines: int
    unparsed_lines: int
    epoch: bool  # timestamps are epoch seconds (strace -ttt); otherwise only durations mean anything
    lost_events: int = 0
    truncated: bool = False  # the input ended in the middle of a line


@dataclass(frozen=True, slots=True)
class ProcessSummary:
    pid: int
    parent: int | None
    command: str | None
    exited: bool
    exit_status: int | None
    opened: int
    closed: int
    open_at_end: int
    inherited_open: int
    start_seq: int  # first line the process was seen at
    end_seq: int  # its exit line, or the window's last line
    fd_soft_limit: int | None = None


@dataclass(frozen=True, slots=True)
class GroupActivity:
    """Creations and closes of one signature group, over the whole window."""

    kind: FdKind
    signature: str
    opened: int
    closed: int
    first_seq_by_pid: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FdError:
    errno: str
    pid: int
    syscall: str
    count: int
    first_ts: float | None
    first_line: int | None


@dataclass(frozen=True, slots=True)
class Observation:
    source: SourceInfo
    window: WindowInfo
    processes: tuple[ProcessSummary, ...]
    open_fds: tuple[OpenFd, ...]  # created in the window, open at its end or at their process's exit
    activity: tuple[GroupActivity, ...]
    errors: tuple[FdError, ...] = ()
    warnings: tuple[str, ...] = ()
    timelines: tuple[Timeline, ...] = ()  # every process's fd count over time, thinned
