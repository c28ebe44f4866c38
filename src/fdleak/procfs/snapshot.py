"""An lsof-like inventory of processes from /proc: every fd with its kind, target and fdinfo."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from fdleak.errors import AccessDenied, ProcessGone
from fdleak.model.kinds import FdKind, kind_of_link
from fdleak.model.signature import signature_of
from fdleak.model.snapshot import OpenFile, ProcessSnapshot, Snapshot, SocketInfo
from fdleak.procfs.fds import fd_links, read_fds
from fdleak.procfs.net import socket_table, target_of
from fdleak.procfs.process import PROC, fd_limits, read_process

_SOCKET_LINK = "socket:["
_PIPE_LINK = "pipe:["
_PIPE_SIGNATURE = signature_of(FdKind.PIPE, "pipe:[1]")


def take_snapshot(pids: Iterable[int], details: bool = True, peers: bool = True) -> Snapshot:
    """Snapshot of ``pids``. ``details`` reads fdinfo (mode, close-on-exec, offset);
    ``peers`` looks for the other holders of each pipe in each process's family."""
    taken = time.time()
    processes = [snapshot_process(pid, details) for pid in pids]
    if peers:
        processes = _with_pipe_peers(processes)
    return Snapshot(taken, tuple(processes))


def snapshot_process(pid: int, details: bool = True) -> ProcessSnapshot:
    info = read_process(pid)
    soft, hard = fd_limits(pid)
    read = read_fds(pid, details)
    held = {_inode(link) for _, link, _ in read if link.startswith(_SOCKET_LINK)}
    sockets = socket_table(pid, held) if held else {}
    listening = {s.local.rpartition(":")[2] for s in sockets.values() if s.state == "LISTEN"}
    entries: list[OpenFile] = []
    append = entries.append
    # (kind, target, state, signature) by link: links repeat (both ends of a pipe, one file
    # opened many times, anon inodes, /dev/null), and a 100k-fd table must not pay the
    # regexes twice
    known: dict[str, tuple[str, str, str | None, str]] = {}
    for fd, link, fdinfo in read:
        if fdinfo is None:
            mode, cloexec, pos, directory = "", False, None, False
        else:
            mode, cloexec, pos, directory = fdinfo
        seen = known.get(link) if not directory else None
        if seen is None:
            if link.startswith(_PIPE_LINK):
                seen = ("pipe", link, None, _PIPE_SIGNATURE)
            else:
                kind, target, state = classify(link, sockets, directory)
                sock = sockets.get(_inode(link)) if state else None
                hint = _syscall_hint(sock, listening) if sock else ""
                seen = (kind.value, target, state, signature_of(kind, target, hint))
            if not directory:
                known[link] = seen
        append(OpenFile(fd, seen[0], seen[1], seen[3], mode, cloexec, pos, seen[2]))
    entries.sort(key=lambda e: e.fd)
    still_there = os.path.exists(f"{PROC}/{pid}")
    note = None if still_there else "the process exited while it was being read"
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
    holders: dict[str, set[int]] = {}  # pipe -> pids holding it
    for process in processes:  # already read: only the other processes need listing
        for entry in process.fds:
            if entry.kind == "pipe":
                holders.setdefault(entry.target, set()).add(process.pid)
    if not holders:
        return processes
    _pipe_holders(holders, skip={p.pid for p in processes})
    shared = {pipe for pipe, pids in holders.items() if len(pids) > 1}
    out = []
    for process in processes:
        if not any(entry.target in shared for entry in process.fds if entry.kind == "pipe"):
            out.append(process)  # no pipe with a peer: nothing to rebuild
            continue
        fds = []
        for entry in process.fds:
            if entry.kind == "pipe" and entry.target in shared:
                entry = entry._replace(peers=tuple(sorted(holders[entry.target] - {process.pid})))
            fds.append(entry)
        out.append(process._replace(fds=tuple(fds)))
    return out


def _pipe_holders(holders: dict[str, set[int]], skip: set[int]) -> None:
    """Add the pids holding each pipe of ``holders`` among the snapshotted processes' families.

    A pipe joins a parent and its children or siblings (a subprocess, a prefork pool, a
    shell pipeline): looking there, not in every process of the box, keeps the cost
    independent of how busy the box is.
    """
    for pid in _families(skip) - skip:
        try:
            for _, link in fd_links(pid):
                if link in holders:
                    holders[link].add(pid)
        except (ProcessGone, AccessDenied):
            continue


def _families(pids: set[int]) -> set[int]:
    """Each pid's parent and every descendant of that parent."""
    parent_of: dict[int, int] = {}
    for name in os.listdir(PROC):
        if name.isdigit():
            try:
                with open(f"{PROC}/{name}/stat", "rb") as stat:
                    text = stat.read()
            except OSError:
                continue
            parent_of[int(name)] = int(text[text.rindex(b")") + 2 :].split(None, 2)[1])
    children: dict[int, list[int]] = {}
    for child, parent in parent_of.items():
        children.setdefault(parent, []).append(child)
    family: set[int] = set()
    # a daemon's parent is init: then its own subtree, never the whole box
    stack = [parent if (parent := parent_of.get(pid, 0)) > 1 else pid for pid in pids]
    while stack:
        pid = stack.pop()
        if pid in family:
            continue
        family.add(pid)
        stack.extend(children.get(pid, ()))
    return family | pids
