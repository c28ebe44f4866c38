"""Applies FdEvents to fd tables: fork copies, threads share, exec drops close-on-exec."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from fdleak.lifecycle.tables import Entry, GroupKey, Process, Table
from fdleak.model.events import FdEvent, Op
from fdleak.model.kinds import FdKind
from fdleak.model.observation import GroupActivity, ProcessSummary
from fdleak.model.records import OpenFd
from fdleak.model.signature import signature_of
from fdleak.model.targets import with_socket_end

# An fd open before tracing began: (fd, kind, target, signature, close-on-exec)
SeedFd = tuple[int, FdKind, str, str, bool]

# Events of a task whose parent's clone has not returned yet are held this long at most.
_MAX_BUFFERED = 10_000


@dataclass
class _Activity:
    opened: int = 0
    closed: int = 0
    first_seq_by_pid: dict[int, int] = field(default_factory=dict)


class Engine:
    """The fd tables of every traced process, rebuilt event by event."""

    def __init__(self) -> None:
        self.tables: dict[int, Table] = {}  # task id -> its table
        self.tgid: dict[int, int] = {}  # task id -> process (thread-group) id
        # the same, kept after a task ends: folded pairs of a block are counted after
        # the block's events, by which time a thread may have exited
        self.owner: dict[int, int] = {}
        self.early_pairs: dict[int, int] = {}  # pairs of a task the engine has not met yet
        self.root_pid = 0  # the real pid of the lines strace printed without a prefix (0: unknown)
        self.processes: dict[int, Process] = {}  # live and exited, by pid
        self.finished: list[Process] = []  # exited processes whose pid was reused since
        self.at_exit: list[OpenFd] = []
        self.activity: dict[GroupKey, _Activity] = {}
        self.pending_forks: dict[int, Table | None] = {}  # parent task -> table copy at the call
        self.buffered: dict[int, list[tuple[FdEvent, int]]] = {}
        self.replaced_open = 0  # a create found its fd number still open: a close was missed
        self.last_seq = 0
        self._apply: dict[Op, Callable[[FdEvent, int], None]] = {
            Op.CREATE: self._create,
            Op.CLOSE: self._close,
            Op.DUP: self._dup,
            Op.CLOSE_RANGE: self._close_range,
            Op.SET_CLOEXEC: self._set_cloexec,
            Op.ANNOTATE: self._annotate,
            Op.FORK: self._fork,
            Op.EXEC: self._exec,
            Op.UNSHARE: self._unshare,
            Op.PID_CHANGE: self._pid_change,
            Op.EXIT: self._exit,
        }

    # -- feeding -------------------------------------------------------------------------

    def apply(self, ev: FdEvent, offset: int = 0) -> None:
        """Apply one event; ``offset`` turns a block-local seq into an input line number."""
        if ev.pid == 0 and self.root_pid:
            ev = ev._replace(pid=self.root_pid)
        if ev.pid not in self.tables and not self._adopt(ev, offset):
            return
        seq = ev.seq + offset
        self._apply[ev.op](ev, seq)
        self.last_seq = seq

    def add_pairs(self, pairs: dict[tuple[int, FdKind, str], list[int]], offset: int) -> None:
        """Open/close pairs a block folded away: they count, but never touch a table."""
        for (tid, kind, signature), (n, first_seq) in pairs.items():
            if tid == 0 and self.root_pid:
                tid = self.root_pid
            pid = self.tgid.get(tid) or self.owner.get(tid, tid)
            process = self.processes.get(pid)
            if process is not None:
                process.opened += n
                process.closed += n
            else:
                self.early_pairs[pid] = self.early_pairs.get(pid, 0) + n
            activity = self.activity.setdefault((kind, signature), _Activity())
            activity.opened += n
            activity.closed += n
            if pid not in activity.first_seq_by_pid:
                activity.first_seq_by_pid[pid] = first_seq + offset

    def seed(
        self,
        pid: int,
        parent: int | None,
        command: str,
        threads: Iterable[int],
        fds: Iterable[SeedFd],
    ) -> None:
        """A process open before tracing began (``trace -p``): its fds from /proc.

        They are inherited: closing one is understood and none of them can be a leak of
        the window. A process seeded twice (a thread listed under its leader) keeps the first."""
        if pid in self.tables:
            return
        table = Table()
        for fd, kind, target, signature, cloexec in fds:
            table.put(Entry(pid, fd, kind, target, signature, "", None, None, cloexec, inherited=True))
        self._new_process(pid, parent, 0, table, threads={pid, *threads})
        self.processes[pid].command = command

    # -- unknown tasks --------------------------------------------------------------------

    def _adopt(self, ev: FdEvent, offset: int) -> bool:
        """A task seen for the first time: a child printing before its parent's clone
        returned (hold its events), or a process that was there when tracing began."""
        if 0 in self.tables and not self.root_pid and not self.pending_forks and ev.pid:
            # strace -f to stderr prints the first process's lines without a prefix until
            # others exist, then as "[pid N]": a pid no clone announced is that process
            self._rename_root(ev.pid)
            return True
        if self.pending_forks:
            # even the child's own clone (a thread it starts) waits: the child's table
            # must be its parent's copy before anything is applied to it
            held = self.buffered.setdefault(ev.pid, [])
            if len(held) < _MAX_BUFFERED:
                held.append((ev, offset))
                return False
        self._new_process(ev.pid, None, ev.seq + offset, Table())
        self._replay(ev.pid)
        return True

    def _rename_root(self, pid: int) -> None:
        self.root_pid = pid
        table = self.tables.pop(0)
        table.holders.discard(0)
        table.holders.add(pid)
        for entry in table.entries().values():
            if entry.pid == 0:
                entry.pid = pid  # (a fork copy that shares the entry takes its own pid)
        self.tables[pid] = table
        self.tgid[pid] = self.owner[pid] = pid
        self.tgid.pop(0, None)
        process = self.processes.pop(0)
        process.pid = pid
        process.threads = {pid if t == 0 else t for t in process.threads}
        self.processes[pid] = process
        for activity in self.activity.values():
            if 0 in activity.first_seq_by_pid:
                activity.first_seq_by_pid[pid] = activity.first_seq_by_pid.pop(0)

    def _replay(self, tid: int) -> None:
        for held, offset in self.buffered.pop(tid, []):
            self.apply(held, offset)

    def _new_process(
        self, pid: int, parent: int | None, seq: int, table: Table, threads: set[int] | None = None
    ) -> None:
        old = self.processes.get(pid)
        if old is not None:
            self._retire(old, seq)
        self.processes[pid] = process = Process(pid, parent, seq, threads=threads or {pid})
        early = self.early_pairs.pop(pid, 0)
        process.opened += early
        process.closed += early
        for tid in threads or {pid}:
            self.tables[tid] = table
            self.tgid[tid] = pid
            table.holders.add(tid)

    def _retire(self, process: Process, seq: int) -> None:
        # the pid is being reused: the old process must have ended unseen
        for tid in list(process.threads):
            self._drop_task(tid, seq, None)
        self.finished.append(process)

    # -- fd operations --------------------------------------------------------------------

    def _created(self, table: Table, record: Entry, seq: int) -> None:
        # Table.take and Table.put, inlined: this runs for every create and copy
        fds, levels = table.fds, table.levels
        replaced = fds.pop(record.fd, None)
        if replaced is None and table.lent:
            replaced = table.lent.pop(record.fd, None)  # a fork's copy: what it is will do
        if replaced is not None:
            replaced_key = (replaced.kind, replaced.signature)
            levels[replaced_key] = levels.get(replaced_key, 1) - 1
            if not replaced.inherited:
                # (an inherited fd may have been closed between its /proc read and the attach)
                self.replaced_open += 1
        key = (record.kind, record.signature)
        record.level = levels[key] = levels.get(key, 0) + 1
        fds[record.fd] = record
        process = self.processes.get(record.pid)
        if process is not None:
            process.opened += 1
        activity = self.activity.get(key)
        if activity is None:  # not setdefault: it would build an _Activity on every call
            activity = self.activity[key] = _Activity()
        activity.opened += 1
        activity.first_seq_by_pid.setdefault(record.pid, seq)

    def _released(self, table: Table, fd: int) -> None:
        record = table.take(fd)
        if record is not None:
            self._count_closed(record)

    def _count_closed(self, record: Entry) -> None:
        if record.inherited:
            return  # an fd from before the window: closing it is no news
        if record.copied:
            return  # the child's copy of a parent's fd: its creation was counted there
        process = self.processes.get(record.pid)
        if process is not None:
            process.closed += 1
        key = (record.kind, record.signature)
        activity = self.activity.get(key)
        if activity is None:
            activity = self.activity[key] = _Activity()
        activity.closed += 1

    def _create(self, ev: FdEvent, seq: int) -> None:
        table = self.tables[ev.pid]
        target = ev.target
        if ev.fd2 >= 0 and " ->" in target:
            # accept(): our end is the listener's bound address
            listener = table.peek(ev.fd2)
            if listener is not None and listener.target.startswith(target.split(" ", 1)[0] + " "):
                target = listener.target.split("->", 1)[0] + target[target.index(" ->") + 1 :]
        kind, syscall = ev.kind, ev.syscall
        signature = signature_of(kind, target, syscall)
        record = Entry(self.tgid[ev.pid], ev.fd, kind, target, signature, syscall, ev.ts, seq, ev.cloexec)
        self._created(table, record, seq)

    def _close(self, ev: FdEvent, seq: int) -> None:
        self._released(self.tables[ev.pid], ev.fd)

    def _dup(self, ev: FdEvent, seq: int) -> None:
        table = self.tables[ev.pid]
        old = table.peek(ev.fd)
        if table.has(ev.fd2):
            self._released(table, ev.fd2)  # dup2/dup3 onto an open fd closes it first
        if old is not None:
            kind, target, signature = old.kind, old.target, old.signature
        else:
            kind, target = ev.kind, ev.target or f"<dup of {ev.fd}>"
            signature = signature_of(kind, target, ev.syscall)
        record = Entry(self.tgid[ev.pid], ev.fd2, kind, target, signature, ev.syscall, ev.ts, seq, ev.cloexec)
        self._created(table, record, seq)

    def _close_range(self, ev: FdEvent, seq: int) -> None:
        table = self.tables[ev.pid]
        low, high = ev.fd, ev.fd2
        if high - low < table.count():
            # a narrow range in a big table (one full of leaked fds): look up its numbers
            # rather than walk the table; the order fds are released in changes no count
            closing = [fd for fd in range(low, high + 1) if table.has(fd)]
        else:
            closing = [fd for fd in table.numbers() if low <= fd <= high]
        if ev.cloexec:  # CLOSE_RANGE_CLOEXEC: only marked, closed at the next execve
            for fd in closing:
                entry = table.own(fd)
                if entry is not None:
                    entry.cloexec = True
            return
        # a fork's child closing all it inherited: hundreds of fds, taken at once (lent ones uncopied)
        for record in table.take_all(closing):
            if not (record.inherited or record.copied):
                self._count_closed(record)

    def _set_cloexec(self, ev: FdEvent, seq: int) -> None:
        table = self.tables[ev.pid]
        record = table.own(ev.fd)
        if record is not None:
            record.cloexec = ev.cloexec

    def _annotate(self, ev: FdEvent, seq: int) -> None:
        table = self.tables[ev.pid]
        if (peeked := table.peek(ev.fd)) is None or peeked.kind is not FdKind.SOCKET:
            return
        record = table.own(ev.fd)
        if record is None:
            return
        target = with_socket_end(record.target, ev.syscall, ev.target)
        signature = signature_of(record.kind, target, record.syscall)
        if signature != record.signature and not record.inherited:
            # the fd was counted under its old name ("TCP"): move it to its full one
            self.activity.setdefault((record.kind, record.signature), _Activity()).opened -= 1
            moved = self.activity.setdefault((record.kind, signature), _Activity())
            moved.opened += 1
            moved.first_seq_by_pid.setdefault(record.pid, record.line or seq)
        table.take(ev.fd)
        record.target = target
        record.signature = signature
        table.put(record)  # its level in its new group

    # -- process operations ---------------------------------------------------------------

    def _fork(self, ev: FdEvent, seq: int) -> None:
        parent_table = self.tables[ev.pid]
        if ev.child < 0:  # the clone failed: no child is coming
            self.pending_forks.pop(ev.pid, None)
            return
        if ev.child == 0:
            # the call is in flight; the kernel copies the table now, the child may
            # print before the parent learns its pid
            self.pending_forks[ev.pid] = None if ev.shares_table else parent_table.copy_for(0)
            return
        snapshot = self.pending_forks.pop(ev.pid, None)
        parent_pid = self.tgid[ev.pid]
        if ev.thread:
            process = self.processes[parent_pid]
            process.threads.add(ev.child)
            table = parent_table if ev.shares_table else (snapshot or parent_table.copy_for(parent_pid))
            if not ev.shares_table:
                table.set_pid(parent_pid)  # a fresh copy: its entries are its own
            self.tables[ev.child] = table
            self.tgid[ev.child] = parent_pid
            self.owner[ev.child] = parent_pid
            table.holders.add(ev.child)
        elif ev.shares_table:
            self._new_process(ev.child, parent_pid, seq, parent_table)
        else:
            table = snapshot or parent_table.copy_for(ev.child)
            table.set_pid(ev.child)  # a fresh copy: its entries are its own
            self._new_process(ev.child, parent_pid, seq, table)
        self._replay(ev.child)

    def _exec(self, ev: FdEvent, seq: int) -> None:
        pid = self.tgid[ev.pid]
        process = self.processes[pid]
        for tid in list(process.threads - {ev.pid}):
            self._drop_task(tid, seq, None)  # execve ends every other thread
        table = self.tables[ev.pid]
        if len(table.holders) > 1:
            # shared with another process (CLONE_FILES): execve gets a private copy
            table.holders.discard(ev.pid)
            table = _private_copy(table, pid)
            table.holders.add(ev.pid)
            self.tables[ev.pid] = table
        for fd in table.cloexec_numbers():
            self._released(table, fd)
        if ev.target:
            process.command = ev.target

    def _unshare(self, ev: FdEvent, seq: int) -> None:
        table = self.tables[ev.pid]
        if len(table.holders) > 1:
            table.holders.discard(ev.pid)
            private = _private_copy(table, self.tgid[ev.pid])
            private.holders.add(ev.pid)
            self.tables[ev.pid] = private

    def _pid_change(self, ev: FdEvent, seq: int) -> None:
        # a non-leader thread called execve: it carries on as the leader's pid
        old_tid = ev.child
        table = self.tables.pop(old_tid, None)
        self.tgid.pop(old_tid, None)
        if table is not None:
            table.holders.discard(old_tid)
        process = self.processes.get(self.tgid.get(ev.pid, ev.pid))
        if process is not None:
            process.threads.discard(old_tid)

    def _exit(self, ev: FdEvent, seq: int) -> None:
        self._drop_task(ev.pid, seq, ev.status)

    def _drop_task(self, tid: int, seq: int, status: int | None) -> None:
        table = self.tables.pop(tid, None)
        pid = self.tgid.pop(tid, tid)
        process = self.processes.get(pid)
        if process is not None:
            process.threads.discard(tid)
            if tid == pid and status is not None:
                process.exit_status = status
            if not process.threads:
                process.exited = True
                process.end_seq = seq
        if table is None:
            return
        table.holders.discard(tid)
        if not table.holders:
            # the last task holding this table is gone: what was still open, leaked
            # until the exit
            for record in table.entries().values():
                if not record.inherited:
                    self.at_exit.append(OpenFd(record.record(), at_exit=True))

    # -- results --------------------------------------------------------------------------

    def finish(self) -> tuple[list[OpenFd], list[ProcessSummary], list[GroupActivity]]:
        """Open fds (at the end, or at their process's exit), processes and group activity."""
        # a clone that never returned in the log: its child's held events stand alone
        self.pending_forks.clear()
        for tid, held in list(self.buffered.items()):
            if held and tid not in self.tables:
                first, offset = held[0]
                self._new_process(tid, None, first.seq + offset, Table())
                self._replay(tid)
        # a process whose every open paired up inside its blocks never met the engine
        for pid in list(self.early_pairs):
            self._new_process(pid, None, 0, Table())
        open_fds = list(self.at_exit)
        seen: set[int] = set()
        inherited_open: dict[int, int] = {}
        for table in self.tables.values():
            if id(table) in seen:
                continue
            seen.add(id(table))
            holders = {self.tgid[tid] for tid in table.holders}
            for record in table.entries().values():
                for pid in sorted(holders):
                    if record.inherited:
                        inherited_open[pid] = inherited_open.get(pid, 0) + 1
                    else:
                        open_fds.append(OpenFd(record.record(pid), at_exit=False))
        open_count: dict[int, int] = {}
        for item in open_fds:
            if not item.at_exit:
                open_count[item.record.pid] = open_count.get(item.record.pid, 0) + 1
        processes = [
            ProcessSummary(
                pid=p.pid,
                parent=p.parent,
                command=p.command,
                exited=p.exited,
                exit_status=p.exit_status,
                opened=p.opened,
                closed=p.closed,
                open_at_end=0 if p.exited else open_count.get(p.pid, 0),
                inherited_open=0 if p.exited else inherited_open.get(p.pid, 0),
                start_seq=p.start_seq,
                end_seq=p.end_seq if p.end_seq is not None else self.last_seq,
            )
            for p in [*self.finished, *self.processes.values()]
        ]
        activity = [
            GroupActivity(kind, signature, a.opened, a.closed, dict(a.first_seq_by_pid))
            for (kind, signature), a in self.activity.items()
        ]
        return open_fds, processes, activity


def _private_copy(table: Table, pid: int) -> Table:
    fds = {fd: entry.copy(pid, entry.copied) for fd, entry in table.entries().items()}
    return Table(fds=fds, levels=dict(table.levels))
