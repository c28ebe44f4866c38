"""The fd-table engine that also records each process's fd count over time, in bounded memory."""

from __future__ import annotations

from fdleak.lifecycle.engine import Engine
from fdleak.lifecycle.tables import Process
from fdleak.model.events import FdEvent, Op
from fdleak.model.timeline import Timeline

# points kept per process before the oldest resolution is halved (see _Counts.thin)
MAX_POINTS = 2048

# ops that cannot change how many fds a table holds
_NO_CHANGE = frozenset({Op.ANNOTATE, Op.SET_CLOEXEC})


class _Counts:
    """(time, count) points of one process: a point per change of its count, thinned to
    at most MAX_POINTS by keeping the lowest and highest of each run of four, so peaks and
    troughs survive however long the trace runs."""

    __slots__ = ("last", "peak", "points")

    def __init__(self) -> None:
        self.points: list[tuple[float, int]] = []
        self.last = -1
        self.peak = 0

    def add(self, ts: float, count: int) -> None:
        if count == self.last:
            return
        self.last = count
        if count > self.peak:
            self.peak = count
        self.points.append((ts, count))
        if len(self.points) > MAX_POINTS:
            self.thin()

    def thin(self) -> None:
        points, kept = self.points, []
        for start in range(0, len(points), 4):
            run = points[start : start + 4]
            low = min(run, key=lambda p: p[1])
            high = max(run, key=lambda p: p[1])
            kept.extend(sorted({low, high}))
        self.points = kept


class TimedEngine(Engine):
    """:class:`Engine`, plus a count of each process's open fds after every event that has
    a timestamp. A process is its Process object: a reused pid starts a new timeline."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[int, tuple[Process, _Counts]] = {}  # id(Process) -> its points
        self.last_ts: float | None = None

    def apply(self, ev: FdEvent, offset: int = 0) -> None:
        before = self.tgid.get(ev.pid or self.root_pid)
        super().apply(ev, offset)
        ts = ev.ts
        if ts is None or ev.op in _NO_CHANGE:
            return
        self.last_ts = ts
        tid = ev.pid or self.root_pid
        pid = self.tgid.get(tid, before)
        if pid is not None:
            process = self.processes.get(pid)
            if process is not None:
                table = self.tables.get(tid)
                # the task's exit took its table: the process holds none once its last task ended
                count = table.count() if table is not None else 0 if process.exited else -1
                if count >= 0:
                    self._counts(process).add(ts, count)
        if ev.op is Op.FORK and ev.child > 0 and not ev.thread:
            child = self.processes.get(ev.child)
            table = self.tables.get(ev.child)
            if child is not None and table is not None:
                self._counts(child).add(ts, table.count())  # the fds it got from its parent

    def _counts(self, process: Process) -> _Counts:
        entry = self.counts.get(id(process))
        if entry is None:
            entry = self.counts[id(process)] = (process, _Counts())
        return entry[1]

    def timelines(self) -> tuple[Timeline, ...]:
        """Every process's points, the ones still running carried on to the last timestamp."""
        out = []
        for process, counts in self.counts.values():
            points = counts.points
            if not points:
                continue
            if not process.exited and self.last_ts is not None and points[-1][0] < self.last_ts:
                points = [*points, (self.last_ts, points[-1][1])]
            out.append(Timeline(process.pid, process.command, process.exited, counts.peak, tuple(points)))
        return tuple(out)


__all__ = ["MAX_POINTS", "TimedEngine"]
