"""What changed between two snapshots, grouped by signature, biggest growth first."""

from __future__ import annotations

from fdleak.model.snapshot import Change, OpenFile, ProcessSnapshot, Snapshot, SnapshotDiff

Held = list[tuple[int, OpenFile]]  # (pid, fd) pairs of one group
_SAME_START = 1.0  # seconds: start times read at different moments round differently


def diff_snapshots(before: Snapshot, after: Snapshot) -> SnapshotDiff:
    """An fd is unchanged when the same process holds the same fd number with the same target."""
    old = {p.pid: p for p in before.processes}
    new = {p.pid: p for p in after.processes}
    started = tuple(pid for pid, p in new.items() if not _same(old.get(pid), p))
    ended = tuple(pid for pid, p in old.items() if not _same(p, new.get(pid)))
    counts: dict[tuple[str, str], list[int]] = {}
    appeared: dict[tuple[str, str], Held] = {}
    disappeared: dict[tuple[str, str], Held] = {}
    pids: dict[tuple[str, str], set[int]] = {}
    for side, processes in ((0, before.processes), (1, after.processes)):
        for process in processes:
            for entry in process.fds:
                key = (entry.kind, entry.signature)
                counts.setdefault(key, [0, 0])[side] += 1
                pids.setdefault(key, set()).add(process.pid)
    for pid in old.keys() | new.keys():
        a, b = old.get(pid), new.get(pid)
        if not _same(a, b):  # a recycled pid is two processes: all of one went, all of the other came
            _add_all(a, disappeared)
            _add_all(b, appeared)
            continue
        assert a is not None and b is not None
        a_fds = {(f.fd, f.target): f for f in a.fds}
        b_fds = {(f.fd, f.target): f for f in b.fds}
        for held in a_fds.keys() - b_fds.keys():
            entry = a_fds[held]
            disappeared.setdefault((entry.kind, entry.signature), []).append((pid, entry))
        for held in b_fds.keys() - a_fds.keys():
            entry = b_fds[held]
            appeared.setdefault((entry.kind, entry.signature), []).append((pid, entry))
    changes = [
        Change(
            kind=key[0],
            signature=key[1],
            before=counts[key][0],
            after=counts[key][1],
            pids=tuple(sorted(pids[key])),
            appeared=tuple(sorted(appeared.get(key, ()), key=_order)),
            disappeared=tuple(sorted(disappeared.get(key, ()), key=_order)),
        )
        for key in appeared.keys() | disappeared.keys()
    ]
    changes.sort(key=lambda c: (-c.growth, -len(c.appeared), c.kind, c.signature))
    return SnapshotDiff(before.taken, after.taken, tuple(changes), started, ended)


def _same(a: ProcessSnapshot | None, b: ProcessSnapshot | None) -> bool:
    return a is not None and b is not None and abs(a.start_time - b.start_time) < _SAME_START


def _add_all(process: ProcessSnapshot | None, into: dict[tuple[str, str], Held]) -> None:
    if process is not None:
        for entry in process.fds:
            into.setdefault((entry.kind, entry.signature), []).append((process.pid, entry))


def _order(item: tuple[int, OpenFile]) -> tuple[int, int]:
    return item[0], item[1].fd
