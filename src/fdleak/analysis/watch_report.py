"""fd counts over time (and what grew between snapshots) -> a report in procfs mode."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from fdleak.analysis.trend import MIN_GROWTH
from fdleak.model.durations import human
from fdleak.model.observation import SourceInfo
from fdleak.model.report import CONFIDENCES, FdEntry, Leak, ProcessEntry, Report, Window
from fdleak.model.series import RoleTrend, Series
from fdleak.model.snapshot import Change, SnapshotDiff

_EXAMPLES = 5


def build_watch_report(
    source: SourceInfo,
    series: Sequence[Series],
    growth: dict[int, SnapshotDiff],
    start: float,
    end: float,
    warnings: Sequence[str] = (),
    roles: Sequence[RoleTrend] = (),
) -> Report:
    """``growth``: for growing processes, what their auto-snapshots saw appear since first sight."""
    leaks: list[Leak] = []
    open_fds: list[FdEntry] = []
    for item in series:
        trend = item.trend
        if trend is None or not trend.growing:
            continue
        diff = growth.get(item.pid)
        grown = [c for c in diff.changes if c.growth > 0] if diff is not None else []
        total = sum(c.growth for c in grown)
        head = (
            f"pid {item.pid} ({item.role}) {trend.reason}, {trend.rate_per_hour:,.0f} fds/h "
            f"(95%: at least {trend.low_per_hour:,.0f}/h){_left(trend.seconds_left)}"
        )
        if not grown:
            leaks.append(
                Leak(
                    id="",
                    kind="other",
                    signature=f"fd count of pid {item.pid}",
                    count=item.samples[-1][1] - item.samples[0][1],
                    opened=0,
                    closed=0,
                    pids=(item.pid,),
                    first_ts=item.samples[0][0],
                    last_ts=item.samples[-1][0],
                    rate_per_min=trend.rate_per_hour / 60,
                    confidence=trend.confidence,
                    reason=f"{head}; no snapshot told what grew",
                    examples=(),
                )
            )
            continue
        for change in grown:
            assert diff is not None
            examples = tuple(
                FdEntry(pid, f.fd, f.kind, f.target, "", diff.after, None) for pid, f in change.appeared
            )
            open_fds.extend(examples)
            leaks.append(
                Leak(
                    id="",
                    kind=change.kind,
                    signature=change.signature,
                    count=change.growth,
                    opened=len(change.appeared),
                    closed=len(change.disappeared),
                    pids=(item.pid,),
                    first_ts=diff.before,
                    last_ts=diff.after,
                    rate_per_min=trend.rate_per_hour / 60 * change.growth / total,
                    confidence=trend.confidence,
                    reason=f"{head}; +{change.growth} {change.signature} since first seen",
                    examples=examples[:_EXAMPLES],
                )
            )
    flagged = {pid for leak in leaks for pid in leak.pids}
    for role in roles:
        # members that grew too briefly to be judged alone; the others are reported already
        members = [s for s in series if s.role == role.role and s.pid not in flagged]
        if role.trend is not None and role.trend.growing:
            leaks.extend(_role_leaks(role, members, growth))
    leaks = _merged(leaks)
    if any(leak.count >= MIN_GROWTH for leak in leaks):
        # a child that reopened /dev/null once grew too, but that is not what is leaking
        leaks = [leak for leak in leaks if leak.count >= MIN_GROWTH]
    leaks.sort(key=lambda leak: (leak.confidence != "high", -leak.count))
    leaks = [_numbered(leak, i) for i, leak in enumerate(leaks, 1)]
    processes = tuple(
        ProcessEntry(
            pid=s.pid,
            parent=None,
            command=s.command,
            exited=s.exited,
            exit_status=None,
            opened=0,  # /proc shows counts, not creations: the series holds what is known
            closed=0,
            open_at_end=s.samples[-1][1] if s.samples else 0,
            fd_soft_limit=s.soft_limit,
        )
        for s in series
    )
    samples = sum(len(s.samples) for s in series)
    return Report(
        source=source,
        window=Window(start=start, end=end, events=samples, lines=0, unparsed_lines=0),
        processes=processes,
        leaks=tuple(leaks),
        open_fds=tuple(open_fds),
        warnings=tuple(warnings),
        series=tuple(series),
        roles=tuple(roles),
    )


def _role_leaks(role: RoleTrend, members: Sequence[Series], growth: dict[int, SnapshotDiff]) -> list[Leak]:
    """A leak spread over recycled processes: what grew in each live one since it was first seen."""
    assert role.trend is not None
    trend = role.trend
    head = (
        f"{role.role} processes, each too short-lived to judge alone, gain fds as they live: "
        f"{trend.reason}, a median {trend.rate_per_hour:,.0f} fds/h each"
    )
    grown: dict[tuple[str, str], list[tuple[int, Change]]] = {}
    when: list[float] = []
    for member in members:
        diff = growth.get(member.pid)
        if diff is None:
            continue
        when.extend((diff.before, diff.after))
        for change in diff.changes:
            if change.growth > 0:
                grown.setdefault((change.kind, change.signature), []).append((member.pid, change))
    if not grown:
        return []
    total = sum(c.growth for changes in grown.values() for _, c in changes)
    leaks = []
    for (kind, signature), changes in grown.items():
        count = sum(c.growth for _, c in changes)
        appeared = [(pid, f) for _, c in changes for pid, f in c.appeared]
        leaks.append(
            Leak(
                id="",
                kind=kind,
                signature=signature,
                count=count,
                opened=len(appeared),
                closed=sum(len(c.disappeared) for _, c in changes),
                pids=tuple(sorted({pid for pid, _ in changes})),
                first_ts=min(when),
                last_ts=max(when),
                rate_per_min=trend.rate_per_hour / 60 * count / total,
                confidence="medium",  # pooled over processes: never "high"
                reason=f"{head}; +{count} {signature} in the live ones",
                examples=tuple(
                    FdEntry(pid, f.fd, f.kind, f.target, "", max(when), None)
                    for pid, f in appeared[:_EXAMPLES]
                ),
            )
        )
    return leaks


def _left(seconds: float | None) -> str:
    return "" if seconds is None else f"; soft limit in {human(seconds)}"


def _merged(leaks: list[Leak]) -> list[Leak]:
    """One leak per (kind, signature): prefork children leaking alike are one finding."""
    by_group: dict[tuple[str, str], list[Leak]] = {}
    for leak in leaks:
        by_group.setdefault((leak.kind, leak.signature), []).append(leak)
    merged = []
    for group in by_group.values():
        if len(group) == 1:
            merged.append(group[0])
            continue
        best = min(group, key=lambda leak: CONFIDENCES.index(leak.confidence))
        pids = tuple(sorted({pid for leak in group for pid in leak.pids}))
        merged.append(
            replace(
                best,
                count=sum(leak.count for leak in group),
                opened=sum(leak.opened for leak in group),
                closed=sum(leak.closed for leak in group),
                pids=pids,
                first_ts=min((leak.first_ts for leak in group if leak.first_ts is not None), default=None),
                last_ts=max((leak.last_ts for leak in group if leak.last_ts is not None), default=None),
                rate_per_min=sum(leak.rate_per_min for leak in group),
                reason=f"{len(pids)} processes grow alike; the fastest: {best.reason}",
                examples=tuple(e for leak in group for e in leak.examples)[:_EXAMPLES],
            )
        )
    return merged


def _numbered(leak: Leak, number: int) -> Leak:
    return replace(leak, id=f"L{number}")
