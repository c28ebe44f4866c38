"""Several reports as one: the per-process reports of a worker's pool, for ``fdleak merge``.

Leaks are joined when they share kind, signature, task and the line that opened them;
counts add up, pids join. Confidence is the highest any process gave: a pool or cache
that each child opened once stays low however many children did it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from fdleak.model.observation import SourceInfo
from fdleak.model.report import CONFIDENCE_RANK, Leak, Origin, Report, Window, most_severe_first

EXAMPLES = 5


def merge_reports(reports: Sequence[Report]) -> Report:
    groups: dict[tuple[str, str, str | None, tuple[str, int] | None], list[Leak]] = {}
    for report in reports:
        for leak in report.leaks:
            groups.setdefault(_key(leak), []).append(leak)
    leaks = sorted((_join(parts) for parts in groups.values()), key=most_severe_first)
    starts = [r.window.start for r in reports if r.window.start is not None]
    ends = [r.window.end for r in reports if r.window.end is not None]
    modes = {r.source.mode for r in reports}
    return Report(
        source=SourceInfo(
            mode=modes.pop() if len(modes) == 1 else "python",
            inputs=tuple(i for r in reports for i in r.source.inputs),
            pids=tuple(sorted({p for r in reports for p in r.source.pids})),
        ),
        window=Window(
            min(starts) if starts else None,
            max(ends) if ends else None,
            sum(r.window.events for r in reports),
            sum(r.window.lines for r in reports),
            sum(r.window.unparsed_lines for r in reports),
            sum(r.window.lost_events for r in reports),
        ),
        processes=tuple(p for r in reports for p in r.processes),
        leaks=tuple(replace(leak, id=f"L{i}") for i, leak in enumerate(leaks, 1)),
        open_fds=tuple(fd for r in reports for fd in r.open_fds),
        warnings=tuple(w for r in reports for w in r.warnings),
    )


def _key(leak: Leak) -> tuple[str, str, str | None, tuple[str, int] | None]:
    origin = leak.origin
    frame = origin.frames[-1] if origin and origin.frames else None
    return (
        leak.kind,
        leak.signature,
        origin.task if origin else None,
        (frame.file, frame.line) if frame else None,
    )


def _join(parts: list[Leak]) -> Leak:
    if len(parts) == 1:
        return parts[0]
    best = min(parts, key=lambda leak: CONFIDENCE_RANK[leak.confidence])
    firsts = [p.first_ts for p in parts if p.first_ts is not None]
    lasts = [p.last_ts for p in parts if p.last_ts is not None]
    pids = tuple(sorted({pid for p in parts for pid in p.pids}))
    return replace(
        best,
        count=sum(p.count for p in parts),
        opened=sum(p.opened for p in parts),
        closed=sum(p.closed for p in parts),
        pids=pids,
        first_ts=min(firsts) if firsts else None,
        last_ts=max(lasts) if lasts else None,
        rate_per_min=sum(p.rate_per_min for p in parts),
        reason=f"in {len(pids)} processes; " + "; ".join(p.reason for p in parts[:3]),
        examples=tuple(e for p in parts for e in p.examples)[:EXAMPLES],
    )


Alike = dict[tuple[str, str], list[tuple[frozenset[int], Origin]]]  # (kind, signature) -> (pids, origin)


def with_origins(report: Report, python: Report, slack: float = 1.0) -> Report:
    """``report`` (from strace) with the origins the Python tracker's ``python`` report
    knows. A leak takes the origin of the Python leak holding one of its example fds
    (the same pid and fd number, made within ``slack`` seconds: fd numbers are reused);
    failing that, of the one Python leak of its kind and signature in the same processes
    (a report keeps a few examples only, so the two may show different fds)."""
    known: dict[tuple[int, int], list[tuple[float | None, Origin]]] = {}
    alike: Alike = {}
    for leak in python.leaks:
        if leak.origin is not None:
            for example in leak.examples:
                known.setdefault((example.pid, example.fd), []).append((example.ts, leak.origin))
            alike.setdefault((leak.kind, leak.signature), []).append((frozenset(leak.pids), leak.origin))
    leaks = []
    for leak in report.leaks:
        origin = leak.origin or _origin_of(leak, known, slack) or _alike_origin(leak, alike)
        leaks.append(replace(leak, origin=origin))
    return replace(report, leaks=tuple(leaks))


def _alike_origin(
    leak: Leak, alike: dict[tuple[str, str], list[tuple[frozenset[int], Origin]]]
) -> Origin | None:
    origins = {origin for pids, origin in alike.get((leak.kind, leak.signature), []) if pids & set(leak.pids)}
    return origins.pop() if len(origins) == 1 else None  # two candidates: say nothing rather than guess


def _origin_of(
    leak: Leak, known: dict[tuple[int, int], list[tuple[float | None, Origin]]], slack: float
) -> Origin | None:
    for example in leak.examples:
        for ts, origin in known.get((example.pid, example.fd), []):
            if ts is None or example.ts is None or abs(ts - example.ts) <= slack:
                return origin
    return None
