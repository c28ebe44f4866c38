"""The report's timeline: the processes worth charting, each thinned to a few hundred points."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from fdleak.model.timeline import Timeline

MAX_PROCESSES = 20
MAX_POINTS = 300


def report_timeline(
    timelines: Sequence[Timeline],
    epoch: bool,
    processes: int = MAX_PROCESSES,
    points: int = MAX_POINTS,
) -> tuple[Timeline, ...]:
    """The ``processes`` timelines with the highest peaks (ties: lowest pid), by pid, each
    at most ``points`` long. None without epoch timestamps: a chart of times-of-day or of
    relative times would not line up with the report's window."""
    if not epoch:
        return ()
    chosen = sorted((t for t in timelines if t.samples), key=lambda t: (-t.peak, t.pid))[:processes]
    return tuple(
        replace(t, samples=downsample(t.samples, points))
        for t in sorted(chosen, key=lambda t: (t.samples[0][0], t.pid))
    )


def downsample(samples: Sequence[tuple[float, int]], limit: int) -> tuple[tuple[float, int], ...]:
    """At most ``limit`` (>= 4) samples: the first, the last, and in each of equal time
    buckets between them its lowest and highest sample, in time order. A spike that a
    plain every-n-th choice would skip stays on the chart."""
    if len(samples) <= limit:
        return tuple(samples)
    first, last = samples[0], samples[-1]
    inner = samples[1:-1]
    buckets = (limit - 2) // 2
    start, span = first[0], (last[0] - first[0]) or 1.0
    chosen: list[list[tuple[float, int]]] = [[] for _ in range(buckets)]
    for sample in inner:
        index = min(buckets - 1, int((sample[0] - start) / span * buckets))
        chosen[index].append(sample)
    out = [first]
    for bucket in chosen:
        if bucket:
            low = min(bucket, key=lambda s: s[1])
            high = max(bucket, key=lambda s: s[1])
            out.extend(sorted({low, high}))
    out.append(last)
    return tuple(out)


__all__ = ["MAX_POINTS", "MAX_PROCESSES", "downsample", "report_timeline"]
