"""Fd tables and processes as the engine keeps them (mutable, engine-private)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from fdleak.model.kinds import FdKind
from fdleak.model.records import FdRecord

GroupKey = tuple[FdKind, str]


@dataclass(eq=False)
class Table:
    """One kernel fd table. Threads (and CLONE_FILES children) hold the same one."""

    fds: dict[int, FdRecord] = field(default_factory=dict)
    holders: set[int] = field(default_factory=set)  # task ids using this table
    levels: dict[GroupKey, int] = field(default_factory=dict)

    def put(self, record: FdRecord) -> FdRecord:
        """Insert ``record``, stamping the level of its group after it arrived."""
        key = (record.kind, record.signature)
        level = self.levels.get(key, 0) + 1
        self.levels[key] = level
        record = replace(record, level=level)
        self.fds[record.fd] = record
        return record

    def take(self, fd: int) -> FdRecord | None:
        record = self.fds.pop(fd, None)
        if record is not None:
            key = (record.kind, record.signature)
            self.levels[key] = self.levels.get(key, 1) - 1
        return record

    def copy_for(self, pid: int) -> Table:
        """fork(): a new table with the same fds, now the child's (pid) copies."""
        copy = Table()
        for record in self.fds.values():
            copy.fds[record.fd] = replace(record, pid=pid, copied=not record.inherited)
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
