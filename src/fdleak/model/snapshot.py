"""Snapshots (format fdleak.snapshot/1): every fd of some processes at one moment, from /proc.

Named tuples, not dataclasses as in the rest of the model: `fdleak snapshot` must cost less
than lsof, start-up included. Importing dataclasses (it imports inspect, ast, dis and
tokenize) took 8-11 ms here and making each frozen dataclass about 1 ms, against about 4 ms
for typing and next to nothing per named tuple; an OpenFile is also made in 0.3 µs instead
of 1 µs, 10k times a snapshot. They are just as immutable (``_replace``, ``_asdict``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from fdleak import __version__
from fdleak.errors import InputError

SNAPSHOT_SCHEMA = "fdleak.snapshot/1"


class SocketInfo(NamedTuple):
    """What /proc/PID/net/{tcp,udp,unix,...} says of a socket inode."""

    protocol: str  # TCP, TCPv6, UDP, UDPv6, UNIX, NETLINK...
    local: str
    remote: str  # "" when not connected
    state: str  # TCP state (ESTABLISHED, CLOSE_WAIT, LISTEN...), UNIX state, or ""


class OpenFile(NamedTuple):
    """One fd as /proc/PID/fd and /proc/PID/fdinfo show it."""

    fd: int
    kind: str
    target: str
    signature: str
    mode: str  # r, w, rw (lsof's r, w, u)
    cloexec: bool
    pos: int | None
    state: str | None = None  # sockets: TCP/UNIX state
    peers: tuple[int, ...] = ()  # pipes: pids holding the same pipe, where found


class ProcessSnapshot(NamedTuple):
    pid: int
    start_time: float  # epoch seconds: a pid plus this is one process, even when pids are reused
    parent: int | None
    command: str
    soft_limit: int | None
    hard_limit: int | None
    fds: tuple[OpenFile, ...]
    complete: bool = True  # False when fds vanished or could not be read mid-snapshot
    note: str | None = None  # why it is incomplete

    def by_group(self) -> dict[tuple[str, str], list[OpenFile]]:
        groups: dict[tuple[str, str], list[OpenFile]] = {}
        for entry in self.fds:
            groups.setdefault((entry.kind, entry.signature), []).append(entry)
        return groups


class Snapshot(NamedTuple):
    taken: float
    processes: tuple[ProcessSnapshot, ...]
    tool_version: str = __version__
    schema: str = SNAPSHOT_SCHEMA

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "tool": {"name": "fdleak", "version": self.tool_version},
            "taken": self.taken,
            "processes": [
                p._asdict() | {"fds": [f._asdict() | {"peers": list(f.peers)} for f in p.fds]}
                for p in self.processes
            ],
        }

    @classmethod
    def from_json(cls, data: Any, name: str = "snapshot") -> Snapshot:
        if not isinstance(data, dict) or data.get("schema") != SNAPSHOT_SCHEMA:
            raise InputError(
                f"{name} is not an fdleak snapshot",
                f"write one with: fdleak snapshot -p PID --json {name}",
            )
        try:
            processes = tuple(_process_from(p) for p in data["processes"])
            return cls(float(data["taken"]), processes, data.get("tool", {}).get("version", "unknown"))
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(
                f"{name} is a damaged fdleak snapshot ({type(error).__name__}: {error})"
            ) from None


def _process_from(data: dict[str, Any]) -> ProcessSnapshot:
    fds = tuple(
        OpenFile(
            fd=int(f["fd"]),
            kind=str(f["kind"]),
            target=str(f["target"]),
            signature=str(f["signature"]),
            mode=str(f.get("mode", "")),
            cloexec=bool(f.get("cloexec", False)),
            pos=f.get("pos"),
            state=f.get("state"),
            peers=tuple(f.get("peers", ())),
        )
        for f in data["fds"]
    )
    return ProcessSnapshot(
        pid=int(data["pid"]),
        start_time=float(data["start_time"]),
        parent=data.get("parent"),
        command=str(data.get("command", "")),
        soft_limit=data.get("soft_limit"),
        hard_limit=data.get("hard_limit"),
        fds=fds,
        complete=bool(data.get("complete", True)),
        note=data.get("note"),
    )


class Change(NamedTuple):
    """One signature group between two snapshots."""

    kind: str
    signature: str
    before: int
    after: int
    pids: tuple[int, ...]
    appeared: tuple[tuple[int, OpenFile], ...]  # (pid, fd) in the newer snapshot only
    disappeared: tuple[tuple[int, OpenFile], ...]

    @property
    def growth(self) -> int:
        return self.after - self.before


class SnapshotDiff(NamedTuple):
    before: float
    after: float
    changes: tuple[Change, ...]  # groups that changed, biggest growth first
    started: tuple[int, ...] = ()  # processes only in the newer snapshot
    ended: tuple[int, ...] = ()  # processes only in the older one

    def to_json(self) -> dict[str, Any]:
        def fds(items: tuple[tuple[int, OpenFile], ...]) -> list[dict[str, Any]]:
            return [{"pid": pid, "fd": f.fd, "target": f.target} for pid, f in items]

        return {
            "schema": "fdleak.diff/1",
            "tool": {"name": "fdleak", "version": __version__},
            "before": self.before,
            "after": self.after,
            "started": list(self.started),
            "ended": list(self.ended),
            "changes": [
                {
                    "kind": c.kind,
                    "signature": c.signature,
                    "before": c.before,
                    "after": c.after,
                    "growth": c.growth,
                    "pids": list(c.pids),
                    "appeared": fds(c.appeared),
                    "disappeared": fds(c.disappeared),
                }
                for c in self.changes
            ],
        }
