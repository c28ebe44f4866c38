"""The report's timeline: counts the engine records per process, and the analysis that bounds them."""

from __future__ import annotations

from fdleak.analysis.timeline import downsample, report_timeline
from fdleak.lifecycle.timeline import MAX_POINTS, TimedEngine, _Counts
from fdleak.model.events import FdEvent, Op
from fdleak.model.kinds import FdKind
from fdleak.model.timeline import Timeline

T0 = 1_700_000_000.0


def create(seq: int, pid: int, fd: int, name: str) -> FdEvent:
    return FdEvent(seq, T0 + seq, pid, Op.CREATE, fd, kind=FdKind.FILE, target=name, syscall="openat")


def test_counts_follow_the_table_through_fork_close_and_exit() -> None:
    engine = TimedEngine()
    events = [
        create(1, 100, 3, "/a"),
        create(2, 100, 4, "/b"),
        FdEvent(3, T0 + 3, 100, Op.FORK, child=101),  # the child gets a copy of both
        create(4, 101, 5, "/c"),
        FdEvent(5, T0 + 5, 100, Op.CLOSE, 3),
        FdEvent(6, T0 + 6, 101, Op.EXIT, status=0),  # its fds go with it
        create(7, 100, 3, "/d"),
    ]
    for ev in events:
        engine.apply(ev)
    lines = {t.pid: t for t in engine.timelines()}
    assert lines[100].samples == ((T0 + 1, 1), (T0 + 2, 2), (T0 + 5, 1), (T0 + 7, 2))
    assert lines[101].samples == ((T0 + 3, 2), (T0 + 4, 3), (T0 + 6, 0))
    assert (lines[100].peak, lines[101].peak) == (2, 3)
    assert lines[101].exited and not lines[100].exited


def test_a_running_process_is_carried_to_the_last_timestamp() -> None:
    engine = TimedEngine()
    engine.apply(create(1, 100, 3, "/a"))
    engine.apply(create(9, 200, 3, "/b"))
    lines = {t.pid: t for t in engine.timelines()}
    assert lines[100].samples == ((T0 + 1, 1), (T0 + 9, 1))


def test_events_without_timestamps_make_no_timeline() -> None:
    engine = TimedEngine()
    engine.apply(FdEvent(1, None, 100, Op.CREATE, 3, kind=FdKind.FILE, target="/a", syscall="open"))
    assert engine.timelines() == ()


def test_thinning_bounds_the_points_and_keeps_the_extremes() -> None:
    counts = _Counts()
    for i in range(20 * MAX_POINTS):
        counts.add(float(i), 1000 if i == 12_345 else 10 + i % 7)
    assert len(counts.points) <= MAX_POINTS
    assert counts.peak == 1000 and max(n for _, n in counts.points) == 1000
    assert min(n for _, n in counts.points) == 10
    assert [t for t, _ in counts.points] == sorted(t for t, _ in counts.points)


def test_downsample_keeps_the_ends_and_a_spike() -> None:
    samples = [(float(i), 5) for i in range(10_000)]
    samples[7_777] = (7_777.0, 99)
    samples[-1] = (9_999.0, 1)
    out = downsample(samples, 300)
    assert len(out) <= 300 and out[0] == samples[0] and out[-1] == samples[-1]
    assert (7_777.0, 99) in out
    assert downsample(samples[:50], 300) == tuple(samples[:50])


def test_report_timeline_takes_the_highest_peaks_in_time_order() -> None:
    lines = [
        Timeline(pid, None, False, peak, ((T0 + pid, peak),)) for pid, peak in enumerate([3, 9, 1, 7], 1)
    ]
    chosen = report_timeline(lines, epoch=True, processes=2)
    assert [t.pid for t in chosen] == [2, 4]  # peaks 9 and 7, ordered by their first sample
    assert report_timeline(lines, epoch=False) == ()
