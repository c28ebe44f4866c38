"""fd counts over time (and what grew between snapshots) -> a report in procfs mode."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from fdleak.model.observation import SourceInfo
from fdleak.model.report import FdEntry, Leak, ProcessEntry, Report, Window
from fdleak.model.series import Series
from fdleak.model.snapshot import SnapshotDiff

_EXAMPLES = 5


def build_watch_report(
    source: SourceInfo,
    series: Sequence[Series],
    growth: dict[int, SnapshotDiff],
    start: float,
    end: float,
    warnings: Sequence[str] = (),
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
    )


def _numbered(leak: Leak, number: int) -> Leak:
    return replace(leak, id=f"L{number}")


def _left(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 3600:
        return f"; soft limit in {seconds / 60:.0f} min"
    if seconds < 4 * 86400:
        return f"; soft limit in {seconds / 3600:.1f} h"
    return f"; soft limit in {seconds / 86400:.0f} days"
