"""Sample fd counts of process trees over time, fit trends, and snapshot what grows."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fdleak.analysis.diff import diff_snapshots
from fdleak.analysis.trend import judge, judge_role
from fdleak.analysis.watch_report import build_watch_report
from fdleak.discovery.follow import Follower
from fdleak.discovery.select import Candidate
from fdleak.errors import FdleakError, NothingToAnalyze
from fdleak.model.observation import SourceInfo
from fdleak.model.report import Report
from fdleak.model.series import RoleTrend, Series, Trend
from fdleak.model.snapshot import Snapshot, SnapshotDiff
from fdleak.procfs.fds import count_fds
from fdleak.procfs.process import fd_limits
from fdleak.procfs.snapshot import snapshot_process

_RESNAPSHOT_EVERY = 10  # samples between two snapshots of a process that keeps growing
_REFIT_STEADY_EVERY = 10
_ROLE_EVERY = 5  # samples between two pooled fits per role
_MAX_SAMPLES = 100_000  # per process; older samples are thinned beyond that (bounded memory)


@dataclass
class Tracked:
    """One process's history in this watch."""

    candidate: Candidate
    soft_limit: int | None
    samples: list[tuple[float, int]] = field(default_factory=list)
    trend: Trend | None = None
    exited: bool = False
    baseline: Snapshot | None = None
    growth: SnapshotDiff | None = None
    snapshot_at: int = -_RESNAPSHOT_EVERY  # sample index of the last growth snapshot
    snapshot_count: int = -1  # fd count at the last snapshot (baseline or growth)

    def series(self, last: int | None = None) -> Series:
        """This process's history; ``last``: only the newest samples (a live view's refresh)."""
        c = self.candidate
        samples = tuple(self.samples[-last:] if last else self.samples)
        return Series(
            c.pid, c.start_time, c.role, c.command, self.soft_limit, samples, self.trend, self.exited
        )


class Watch:
    """``step()`` once per interval; ``report()`` at any time."""

    def __init__(self, follower: Follower, snapshots: bool = True) -> None:
        self.follower = follower
        self.snapshots = snapshots
        self.tracked: dict[tuple[int, float], Tracked] = {}
        self.started = time.time()
        self.last = self.started
        self.steps = 0
        self.roles: dict[str, RoleTrend] = {}
        self.growing_roles: set[str] = set()
        if not follower.tracked:
            raise NothingToAnalyze("no process to watch", "check the pid or pattern with: fdleak ps")

    def step(self) -> None:
        current, ended = self.follower.refresh()
        for candidate in ended:
            if (entry := self.tracked.get(candidate.key)) is not None:
                entry.exited = True
        now = time.time()
        for candidate in current:
            entry = self.tracked.get(candidate.key)
            if entry is None:
                entry = self.tracked[candidate.key] = Tracked(candidate, _soft_limit(candidate.pid))
                if self.snapshots:
                    entry.baseline = _snapshot(candidate.pid)
                    entry.snapshot_count = len(entry.baseline.processes[0].fds) if entry.baseline else -1
            try:
                count = count_fds(candidate.pid)
            except FdleakError:
                entry.exited = True
                continue
            if count == 0 and entry.samples:
                continue  # exiting: the kernel closed its table (exit_files) before it became a zombie
            changed = not entry.samples or entry.samples[-1][1] != count
            entry.samples.append((now, count))
            if len(entry.samples) > _MAX_SAMPLES:
                del entry.samples[1::2]
            # fitting costs far more than sampling: a steady count is refitted only now and then
            if changed or entry.trend is None or self.steps % _REFIT_STEADY_EVERY == 0:
                entry.trend = judge(entry.samples, entry.soft_limit)
            if self._wants_snapshots(entry):
                self._snapshot_growth(entry)
        self.last = now
        self.steps += 1
        if self.steps % _ROLE_EVERY == 0:
            self._judge_roles()

    def _judge_roles(self) -> None:
        """Pool each role's processes: a growing role gets its processes snapshotted."""
        by_role: dict[str, list[Tracked]] = {}
        for entry in self.tracked.values():
            by_role.setdefault(entry.candidate.role, []).append(entry)
        for role, entries in by_role.items():
            trend = judge_role([e.samples for e in entries])
            self.roles[role] = RoleTrend(role, len(entries), sum(not e.exited for e in entries), trend)
            if trend is not None and trend.growing:
                self.growing_roles.add(role)
            else:
                self.growing_roles.discard(role)

    def _snapshot_growth(self, entry: Tracked, last_chance: bool = False) -> None:
        """Snapshot a growing process when it has grown since its last snapshot: soon after
        first sight (a short-lived pool child may not live to the next chance), then at
        most every _RESNAPSHOT_EVERY samples."""
        if entry.baseline is None or not entry.samples or entry.samples[-1][1] <= entry.snapshot_count:
            return
        recent = entry.growth is not None and self.steps - entry.snapshot_at < _RESNAPSHOT_EVERY
        if recent and not last_chance:
            return
        entry.snapshot_at = self.steps
        latest = _snapshot(entry.candidate.pid)
        if latest is not None:
            entry.growth = diff_snapshots(entry.baseline, latest)
            entry.snapshot_count = len(latest.processes[0].fds)

    def finish(self) -> None:
        """A last snapshot of every growing process, so the report counts the whole window."""
        self._judge_roles()
        for entry in self.tracked.values():
            if self._wants_snapshots(entry) and not entry.exited:
                self._snapshot_growth(entry, last_chance=True)

    def _wants_snapshots(self, entry: Tracked) -> bool:
        growing = entry.trend is not None and entry.trend.growing
        return self.snapshots and (growing or entry.candidate.role in self.growing_roles)

    @property
    def alive(self) -> bool:
        return any(not t.exited for t in self.tracked.values())

    def rows(self) -> list[Tracked]:
        """Tree order as discovered; exited processes last."""
        return sorted(self.tracked.values(), key=lambda t: t.exited)

    def report(self) -> Report:
        roots = tuple(t.candidate.pid for t in self.tracked.values() if t.candidate.depth == 0)
        growth = {t.candidate.pid: t.growth for t in self.tracked.values() if t.growth is not None}
        return build_watch_report(
            SourceInfo(mode="procfs", pids=roots),
            [t.series() for t in self.tracked.values()],
            growth,
            self.started,
            self.last,
            roles=tuple(self.roles.values()),
        )


def _soft_limit(pid: int) -> int | None:
    try:
        return fd_limits(pid)[0]
    except FdleakError:
        return None


def _snapshot(pid: int) -> Snapshot | None:
    # links only: no fdinfo, no pipe peers: the auto-snapshot must stay cheap on big tables
    try:
        process = snapshot_process(pid, details=False)
    except FdleakError:
        return None
    return Snapshot(time.time(), (process,))
