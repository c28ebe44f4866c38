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
    """One kernel fd table. Threads (and CLONE_FILES children) hold the same one.

    A fork's copy is made lazily. ``lent`` holds the parent's entries as they were at
    the fork; one becomes this table's own copy (``Entry.copy``) only when something
    needs its pid or its copied flag, or changes it. A vfork'd child that closes all
    it inherited (close_range) and execs thus copies nothing, where copying every fd
    of a big table (a leaky process's) at each fork was the engine's largest single
    cost in profiles of the bench log. A table that has lent its entries changes none
    of them in place again (``own``).
    """

    fds: dict[int, Entry] = field(default_factory=dict)  # this table's own entries
    holders: set[int] = field(default_factory=set)  # task ids using this table
    levels: dict[GroupKey, int] = field(default_factory=dict)
    lent: dict[int, Entry] = field(default_factory=dict)  # fd -> a parent's entry, not copied yet
    lent_pid: int = 0  # whose copies the lent entries become
    lending: bool = False  # a fork copy may share this table's entries

    def peek(self, fd: int) -> Entry | None:
        """The entry of an open fd, to read what the fd is (kind, target, signature, flags).

        A lent fd's entry is the parent's: its pid and copied flag are not this table's.
        """
        entry = self.fds.get(fd)
        if entry is None and self.lent:
            return self.lent.get(fd)
        return entry

    def has(self, fd: int) -> bool:
        return fd in self.fds or fd in self.lent

    def count(self) -> int:
        return len(self.fds) + len(self.lent)

    def numbers(self) -> list[int]:
        """Every open fd number, in no particular order (nothing is copied)."""
        return [*self.fds, *self.lent] if self.lent else list(self.fds)

    def cloexec_numbers(self) -> list[int]:
        """The open fds marked close-on-exec (nothing is copied: a copy keeps the mark)."""
        marked = [fd for fd, entry in self.fds.items() if entry.cloexec]
        if self.lent:
            marked += [fd for fd, entry in self.lent.items() if entry.cloexec]
        return marked

    def entries(self) -> dict[int, Entry]:
        """Every open fd's entry, this table's own: the lent ones are copied now."""
        for fd in list(self.lent):
            self._copy_lent(fd)
        return self.fds

    def own(self, fd: int) -> Entry | None:
        """The entry of an open fd, this table's alone, safe to change in place."""
        entry = self.fds.get(fd)
        if entry is None:
            entry = self._copy_lent(fd) if self.lent else None
        elif self.lending:
            entry = self.fds[fd] = entry.copy(entry.pid, entry.copied)
        return entry

    def put(self, entry: Entry) -> Entry:
        """Insert ``entry`` (new, owned, its fd not open here), stamped with its group's level after it."""
        key = (entry.kind, entry.signature)
        level = self.levels.get(key, 0) + 1
        self.levels[key] = level
        entry.level = level
        self.fds[entry.fd] = entry
        return entry

    def take(self, fd: int) -> Entry | None:
        """Take an open fd out: its entry if this table owned it, else None.

        A lent fd is dropped uncopied (None): its copy would be a fork's (copied, or
        inherited), which nothing counts when it closes.
        """
        entry = self.fds.pop(fd, None)
        owned = entry is not None
        if not owned and self.lent:
            entry = self.lent.pop(fd, None)
        if entry is None:
            return None
        key = (entry.kind, entry.signature)
        self.levels[key] = self.levels.get(key, 1) - 1
        return entry if owned else None

    def take_all(self, fds: list[int]) -> list[Entry]:
        """``take`` for each of these open fds, in this order, in one call: the owned entries."""
        table, levels, lent = self.fds, self.levels, self.lent
        taken = []
        for fd in fds:
            entry = table.pop(fd, None)
            if entry is None:
                entry = lent.pop(fd)
            else:
                taken.append(entry)
            key = (entry.kind, entry.signature)
            levels[key] = levels.get(key, 1) - 1
        return taken

    def copy_for(self, pid: int) -> Table:
        """fork(): a new table with the same fds, to become the child's (pid) copies."""
        self.lending = True
        lent = {**self.lent, **self.fds} if self.lent else self.fds.copy()
        return Table(levels=dict(self.levels), lent=lent, lent_pid=pid)

    def set_pid(self, pid: int) -> None:
        """A fork copy's entries are ``pid``'s."""
        for entry in self.fds.values():
            entry.pid = pid
        self.lent_pid = pid

    def _copy_lent(self, fd: int) -> Entry | None:
        """The lent entry of fd made this table's own copy, as an eager fork copy would be."""
        entry = self.lent.pop(fd, None)
        if entry is None:
            return None
        copy = self.fds[fd] = entry.copy(self.lent_pid, not entry.inherited)
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
