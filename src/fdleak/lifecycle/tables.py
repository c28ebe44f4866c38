"""Fd tables and processes as the engine keeps them (mutable, engine-private)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fdleak.model.kinds import FdKind
from fdleak.model.records import FdRecord

GroupKey = tuple[FdKind, str]


class Entry:
    """An open fd in one table: FdRecord's fields, but mutable and cheap to make.

    The engine changes an fd's record on almost every event (its level when it
    arrives, its pid in a fork's copy, its close-on-exec flag); building a new
    frozen FdRecord each time (dataclasses.replace) was most of the engine's cost.
    An entry belongs to exactly one table, so changing it in place is safe; it
    becomes an FdRecord only when it leaves the engine (``record``).
    """

    __slots__ = (
        "cloexec",
        "copied",
        "fd",
        "inherited",
        "kind",
        "level",
        "line",
        "pid",
        "signature",
        "syscall",
        "target",
        "ts",
    )

    def __init__(
        self,
        pid: int,
        fd: int,
        kind: FdKind,
        target: str,
        signature: str,
        syscall: str,
        ts: float | None,
        line: int | None,
        cloexec: bool = False,
        inherited: bool = False,
        copied: bool = False,
        level: int = 0,
    ) -> None:
        self.pid = pid
        self.fd = fd
        self.kind = kind
        self.target = target
        self.signature = signature
        self.syscall = syscall
        self.ts = ts
        self.line = line
        self.cloexec = cloexec
        self.inherited = inherited
        self.copied = copied
        self.level = level

    def copy(self, pid: int, copied: bool) -> Entry:
        """The same fd in another table (fork, a private copy), held by ``pid``."""
        return Entry(
            pid,
            self.fd,
            self.kind,
            self.target,
            self.signature,
            self.syscall,
            self.ts,
            self.line,
            self.cloexec,
            self.inherited,
            copied,
            self.level,
        )

    def record(self, pid: int | None = None) -> FdRecord:
        """The frozen model of this fd, as held by ``pid`` (default: its own)."""
        return FdRecord(
            self.pid if pid is None else pid,
            self.fd,
            self.kind,
            self.target,
            self.signature,
            self.syscall,
            self.ts,
            self.line,
            self.cloexec,
            self.inherited,
            self.copied,
            self.level,
        )


@dataclass(eq=False)
class Table:
    """One kernel fd table. Threads (and CLONE_FILES children) hold the same one."""

    fds: dict[int, Entry] = field(default_factory=dict)
    holders: set[int] = field(default_factory=set)  # task ids using this table
    levels: dict[GroupKey, int] = field(default_factory=dict)

    def put(self, entry: Entry) -> Entry:
        """Insert ``entry`` (new, owned by this table), stamping the level of its group after it arrived."""
        key = (entry.kind, entry.signature)
        level = self.levels.get(key, 0) + 1
        self.levels[key] = level
        entry.level = level
        self.fds[entry.fd] = entry
        return entry

    def take(self, fd: int) -> Entry | None:
        entry = self.fds.pop(fd, None)
        if entry is not None:
            key = (entry.kind, entry.signature)
            self.levels[key] = self.levels.get(key, 1) - 1
        return entry

    def take_all(self, fds: list[int]) -> list[Entry]:
        """Take these open fds, in this order: what ``take`` does to each, in one call."""
        table, levels = self.fds, self.levels
        taken = [table.pop(fd) for fd in fds]
        for entry in taken:
            key = (entry.kind, entry.signature)
            levels[key] = levels.get(key, 1) - 1
        return taken

    def copy_for(self, pid: int) -> Table:
        """fork(): a new table with the same fds, now the child's (pid) copies."""
        copy = Table()
        copy.fds = {fd: e.copy(pid, not e.inherited) for fd, e in self.fds.items()}
        copy.levels = dict(self.levels)
        return copy


@dataclass(eq=False)
class Process:
    pid: int
    parent: int | None
    start_seq: int
    command: str | None = None
    threads: set[int] = field(default_factory=set)
    exited: bool = False
    exit_status: int | None = None
    end_seq: int | None = None
    opened: int = 0
    closed: int = 0
