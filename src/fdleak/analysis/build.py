"""build_report: an Observation (what was seen) -> a Report (what it means)."""

from __future__ import annotations

from dataclasses import replace

from fdleak.analysis.timeline import report_timeline
from fdleak.analysis.verdict import STD_STREAMS, Verdict, judge
from fdleak.model.kinds import FdKind
from fdleak.model.observation import GroupActivity, Observation
from fdleak.model.records import FdRecord, OpenFd
from fdleak.model.report import FdEntry, Group, Leak, ProcessEntry, Report, Window, most_severe_first

MAX_EXAMPLES = 5


def build_report(observation: Observation, min_count: int = 5) -> Report:
    epoch = observation.window.epoch
    groups: dict[tuple[FdKind, str], list[OpenFd]] = {}
    for item in observation.open_fds:
        if item.at_exit and item.record.copied:
            continue  # a child's copy of its parent's fd, released when the child ended
        groups.setdefault((item.record.kind, item.record.signature), []).append(item)
    activity = {(a.kind, a.signature): a for a in observation.activity}
    end_seq = {p.pid: p.end_seq for p in observation.processes}

    leaks: list[Leak] = []
    group_entries: list[Group] = []
    for key, survivors in groups.items():
        act = activity.get(key) or GroupActivity(key[0], key[1], len(survivors), 0)
        verdict = judge(survivors, act.first_seq_by_pid, end_seq, act.opened, act.closed, min_count)
        pids = tuple(sorted({s.record.pid for s in survivors}))
        group_entries.append(
            Group(
                key[0].value,
                key[1],
                len(survivors),
                act.opened,
                act.closed,
                pids,
                verdict.name,
                verdict.reason,
            )
        )
        if verdict.confidence is not None:
            leaks.append(_leak(key, survivors, act, verdict, pids, epoch))
    leaks.sort(key=lambda leak: (*most_severe_first(leak), leak.signature))
    leaks = [_numbered(leak, i) for i, leak in enumerate(leaks, 1)]
    group_entries.sort(key=lambda g: (g.verdict != "leak", -g.count, g.signature))

    window = observation.window
    open_fds = sorted((s.record for s in observation.open_fds if not s.at_exit), key=lambda r: (r.pid, r.fd))
    return Report(
        source=observation.source,
        window=Window(
            start=window.start if epoch else None,
            end=window.end if epoch else None,
            events=window.events,
            lines=window.lines,
            unparsed_lines=window.unparsed_lines,
            lost_events=window.lost_events,
        ),
        processes=tuple(
            ProcessEntry(
                p.pid,
                p.parent,
                p.command,
                p.exited,
                p.exit_status,
                p.opened,
                p.closed,
                p.open_at_end,
                p.fd_soft_limit,
                p.inherited_open,
            )
            for p in sorted(observation.processes, key=lambda p: (p.start_seq, p.pid))
        ),
        leaks=tuple(leaks),
        open_fds=tuple(_entry(r, epoch) for r in open_fds),
        groups=tuple(group_entries),
        fd_errors=observation.errors,
        warnings=observation.warnings,
        timeline=report_timeline(observation.timelines, epoch),
    )


def _leak(
    key: tuple[FdKind, str],
    survivors: list[OpenFd],
    act: GroupActivity,
    verdict: Verdict,
    pids: tuple[int, ...],
    epoch: bool,
) -> Leak:
    own = sorted(
        (s.record for s in survivors if not s.record.copied and s.record.fd not in STD_STREAMS),
        key=lambda r: (r.line or 0, r.pid, r.fd),
    )
    times = [r.ts for r in own if r.ts is not None]
    first_ts, last_ts = (min(times), max(times)) if times else (None, None)
    rate = 0.0
    if first_ts is not None and last_ts is not None and last_ts > first_ts:
        rate = round((len(own) - 1) / (last_ts - first_ts) * 60, 2)
    return Leak(
        id="",
        kind=key[0].value,
        signature=key[1],
        count=len(survivors),
        opened=act.opened,
        closed=act.closed,
        pids=pids,
        first_ts=first_ts if epoch else None,
        last_ts=last_ts if epoch else None,
        rate_per_min=rate,
        confidence=verdict.confidence or "low",
        reason=verdict.reason,
        examples=tuple(_entry(r, epoch) for r in own[:MAX_EXAMPLES]),
    )


def _numbered(leak: Leak, n: int) -> Leak:
    return replace(leak, id=f"L{n}")


def _entry(record: FdRecord, epoch: bool) -> FdEntry:
    return FdEntry(
        record.pid,
        record.fd,
        record.kind.value,
        record.target,
        record.syscall,
        record.ts if epoch else None,
        record.line,
    )


__all__ = ["build_report"]
