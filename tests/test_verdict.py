"""The leak verdict on hand-made records: leaks accumulate with work, pools do not."""

from __future__ import annotations

from fdleak.analysis.verdict import judge
from fdleak.model.kinds import FdKind
from fdleak.model.records import FdRecord, OpenFd


def fd(pid: int, n: int, line: int, level: int, *, copied: bool = False, at_exit: bool = False) -> OpenFd:
    record = FdRecord(
        pid, n, FdKind.FILE, f"/tmp/x_{n}", "/tmp/x_*", "openat", None, line, level=level, copied=copied
    )
    return OpenFd(record, at_exit=at_exit)


def test_steady_leak_is_high_confidence() -> None:
    # one fd kept per task, tasks spread over lines 100..1000
    survivors = [fd(10, 3 + i, 100 + 30 * i, level=i + 1) for i in range(30)]
    v = judge(survivors, {10: 100}, {10: 1000}, opened=30, closed=0, min_count=3)
    assert (v.name, v.confidence, v.growing) == ("leak", "high", True)
    assert v.accumulated == 30


def test_leak_on_an_error_path_among_many_closes() -> None:
    survivors = [fd(10, 3 + i, 100 + 90 * i, level=i + 1) for i in range(10)]
    v = judge(survivors, {10: 100}, {10: 1000}, opened=1000, closed=990, min_count=3)
    assert v.name == "leak"
    assert v.confidence in ("high", "medium")


def test_pool_filled_in_a_burst_is_not_a_leak() -> None:
    survivors = [fd(10, 3 + i, 100 + i, level=i + 1) for i in range(10)]
    v = judge(survivors, {10: 100}, {10: 5000}, opened=10, closed=0, min_count=3)
    assert v.confidence is None
    assert v.name == "pool"


def test_pool_that_replaces_members_stays_level() -> None:
    # ten connections, each replaced over time: the level at creation never climbs
    survivors = [fd(10, 3 + i, 500 * (i + 1), level=10) for i in range(10)]
    v = judge(survivors, {10: 100}, {10: 5000}, opened=200, closed=190, min_count=3)
    assert v.confidence is None


def test_prefork_parent_pipes_follow_children() -> None:
    # 4 children recycled at different times; each new child's 6 pipes come after the
    # old ones were closed, so the level is the same at every creation
    survivors = [fd(1, 10 + i, 1000 * (i // 6 + 1), level=24) for i in range(24)]
    v = judge(survivors, {1: 10}, {1: 5000}, opened=96, closed=72, min_count=3)
    assert v.confidence is None


def test_one_per_process_is_a_one_off() -> None:
    survivors = [fd(pid, 5, 50, level=1) for pid in (11, 12, 13, 14)]
    v = judge(
        survivors,
        {11: 50, 12: 50, 13: 50, 14: 50},
        {p: 900 for p in (11, 12, 13, 14)},
        opened=4,
        closed=0,
        min_count=3,
    )
    assert (v.name, v.confidence) == ("one-off", None)


def test_copies_from_fork_are_never_a_leak() -> None:
    survivors = [fd(20, 3 + i, 100 + 30 * i, level=i + 1, copied=True) for i in range(30)]
    v = judge(survivors, {}, {20: 1000}, opened=0, closed=0, min_count=3)
    assert v.confidence is None


def test_each_recycled_child_leaking_is_caught() -> None:
    # max-tasks-per-child hides nothing: every child accumulates until it exits
    survivors = []
    for child in (30, 31, 32):
        survivors += [fd(child, 5 + i, child * 100 + 10 * i, level=i + 1, at_exit=True) for i in range(8)]
    starts = {c: c * 100 for c in (30, 31, 32)}
    ends = {c: c * 100 + 80 for c in (30, 31, 32)}
    v = judge(survivors, starts, ends, opened=24, closed=0, min_count=3)
    assert v.name == "leak"
    assert v.accumulated == 24


def test_too_few_to_judge_is_low() -> None:
    survivors = [fd(10, 3, 500, level=1), fd(10, 4, 900, level=2)]
    v = judge(survivors, {10: 100}, {10: 1000}, opened=2, closed=0, min_count=3)
    assert v.confidence in (None, "low")
