"""Snapshot diffs on hand-made snapshots: matching by process identity, grouping, order."""

from __future__ import annotations

from fdleak.analysis.diff import diff_snapshots
from fdleak.model.snapshot import OpenFile, ProcessSnapshot, Snapshot


def fd(number: int, target: str, signature: str, kind: str = "file") -> OpenFile:
    return OpenFile(number, kind, target, signature, "r", False, 0)


def process(pid: int, start: float, *fds: OpenFile) -> ProcessSnapshot:
    return ProcessSnapshot(pid, start, 1, "worker", 1024, 4096, fds)


def test_growth_is_grouped_by_signature_biggest_first() -> None:
    before = Snapshot(0.0, (process(10, 5.0, fd(3, "/a/1", "/a/*"), fd(4, "pipe:[1]", "pipe:[*]", "pipe")),))
    after = Snapshot(
        60.0,
        (
            process(
                10,
                5.0,
                fd(3, "/a/1", "/a/*"),
                *(fd(5 + i, f"/a/{i + 2}", "/a/*") for i in range(3)),
                fd(9, "/log", "/log"),
            ),
        ),
    )
    diff = diff_snapshots(before, after)
    assert [(c.signature, c.growth) for c in diff.changes] == [("/a/*", 3), ("/log", 1), ("pipe:[*]", -1)]
    assert [f.fd for _, f in diff.changes[0].appeared] == [5, 6, 7]
    assert diff.changes[2].disappeared[0][1].target == "pipe:[1]"
    assert diff.started == diff.ended == ()


def test_same_fd_number_with_another_target_is_one_gone_and_one_new() -> None:
    before = Snapshot(0.0, (process(10, 5.0, fd(3, "/a/1", "/a/*")),))
    after = Snapshot(1.0, (process(10, 5.0, fd(3, "/a/2", "/a/*")),))
    (change,) = diff_snapshots(before, after).changes
    assert change.growth == 0 and len(change.appeared) == len(change.disappeared) == 1


def test_a_recycled_pid_is_another_process() -> None:
    before = Snapshot(0.0, (process(10, 5.0, fd(3, "/a/1", "/a/*")),))
    after = Snapshot(1.0, (process(10, 500.0, fd(3, "/a/1", "/a/*")),))
    diff = diff_snapshots(before, after)
    assert diff.started == (10,) and diff.ended == (10,)
    (change,) = diff.changes
    assert change.appeared and change.disappeared


def test_json_round_trip_of_a_snapshot() -> None:
    snap = Snapshot(
        3.0,
        (
            process(
                10,
                5.0,
                fd(3, "/a/1", "/a/*"),
                OpenFile(4, "pipe", "pipe:[9]", "pipe:[*]", "w", True, None, None, (11, 12)),
            ),
        ),
    )
    assert Snapshot.from_json(snap.to_json()) == snap
