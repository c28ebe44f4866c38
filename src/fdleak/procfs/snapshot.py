"""An lsof-like inventory of processes from /proc: every fd with its kind, target and fdinfo."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import replace

from fdleak.errors import AccessDenied, ProcessGone
from fdleak.model.kinds import FdKind, kind_of_link
from fdleak.model.signature import signature_of
from fdleak.model.snapshot import OpenFile, ProcessSnapshot, Snapshot, SocketInfo
from fdleak.procfs.fds import FdInfoReader, fd_links
from fdleak.procfs.net import socket_table, target_of
from fdleak.procfs.process import PROC, fd_limits, read_process

_SOCKET_LINK = "socket:["
_PIPE_LINK = "pipe:["


def take_snapshot(pids: Iterable[int], details: bool = True, peers: bool = True) -> Snapshot:
    """Snapshot of ``pids``. ``details`` reads fdinfo (mode, close-on-exec, offset);
    ``peers`` looks for the other holders of each pipe among all readable processes."""
    taken = time.time()
    processes = [snapshot_process(pid, details) for pid in pids]
    if peers:
        processes = _with_pipe_peers(processes)
    return Snapshot(taken, tuple(processes))


def snapshot_process(pid: int, details: bool = True) -> ProcessSnapshot:
    info = read_process(pid)
    soft, hard = fd_limits(pid)
    links = list(fd_links(pid))
    sockets: dict[int, SocketInfo] = {}
    if any(link.startswith(_SOCKET_LINK) for _, link in links):
        sockets = socket_table(pid)
    listening = {s.local.rpartition(":")[2] for s in sockets.values() if s.state == "LISTEN"}
    entries: list[OpenFile] = []
    vanished = 0
    reader = FdInfoReader(pid) if details else None
    try:
        for fd, link in links:
            fdinfo = reader.read(fd) if reader is not None else None
            if reader is not None and fdinfo is None:
                vanished += 1  # closed since listing: a snapshot shows only fds still there
                continue
            kind, target, state = classify(link, sockets, fdinfo.directory if fdinfo else False)
            sock = sockets.get(_inode(link)) if state else None
            entries.append(
                OpenFile(
                    fd=fd,
                    kind=kind.value,
                    target=target,
                    signature=signature_of(kind, target, _syscall_hint(sock, listening) if sock else ""),
                    mode=fdinfo.mode if fdinfo else "",
                    cloexec=fdinfo.cloexec if fdinfo else False,
                    pos=fdinfo.pos if fdinfo else None,
                    state=state,
                )
            )
    finally:
        if reader is not None:
            reader.close()
    entries.sort(key=lambda e: e.fd)
    still_there = os.path.exists(f"{PROC}/{pid}")
    note = None if still_there else "the process exited while it was being read"
    if still_there and vanished:
        note = f"{vanished} fds closed while being read"
    return ProcessSnapshot(
        pid=pid,
        start_time=info.start_time,
        parent=info.parent,
        command=info.command,
        soft_limit=soft,
        hard_limit=hard,
        fds=tuple(entries),
        complete=still_there,
        note=note,
    )


def classify(
    link: str, sockets: dict[int, SocketInfo], directory: bool = False
) -> tuple[FdKind, str, str | None]:
    """(kind, target, socket state) of one /proc/PID/fd link."""
    if link.startswith(_SOCKET_LINK):
        info = sockets.get(_inode(link))
        if info is None:
            return FdKind.SOCKET, link, None  # netlink, packet...: only the inode is known
        return FdKind.SOCKET, target_of(info), info.state or None
    if directory and link.startswith("/"):
        return FdKind.DIRECTORY, link, None
    return kind_of_link(link), link, None


def _syscall_hint(info: SocketInfo, listening: set[str]) -> str:
    # /proc cannot tell an accepted connection from a client's; a connection whose local
    # end is a listening port is the server's end, whose peer port is the ephemeral one.
    if info.remote and info.local.rpartition(":")[2] in listening:
        return "accept"
    return ""


def _inode(link: str) -> int:
    try:
        return int(link[link.index("[") + 1 : link.index("]")])
    except ValueError:
        return -1


def _with_pipe_peers(processes: list[ProcessSnapshot]) -> list[ProcessSnapshot]:
    wanted = {e.target for p in processes for e in p.fds if e.target.startswith(_PIPE_LINK)}
    if not wanted:
        return processes
    holders = _pipe_holders(wanted)
    out = []
    for process in processes:
        fds = tuple(
            replace(e, peers=tuple(sorted(holders.get(e.target, set()) - {process.pid})))
            if e.target.startswith(_PIPE_LINK)
            else e
            for e in process.fds
        )
        out.append(replace(process, fds=fds))
    return out


def _pipe_holders(wanted: set[str]) -> dict[str, set[int]]:
    """Which pids hold each pipe, among every process this user may read."""
    holders: dict[str, set[int]] = {}
    for name in os.listdir(PROC):
        if not name.isdigit():
            continue
        try:
            for _, link in fd_links(int(name)):
                if link in wanted:
                    holders.setdefault(link, set()).add(int(name))
        except (ProcessGone, AccessDenied):
            continue
    return holders
