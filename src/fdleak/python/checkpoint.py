"""Baselines and checkpoints: which of this process's fds appeared since a baseline, and from where.

/proc/self/fd is the truth: every fd is found, whoever made it (Python, C extensions,
ctypes). The registry adds a stack to those Python made, when its record is of the
object open at that number now and was made inside the window.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from fdleak.model.kinds import FdKind
from fdleak.model.report import FdEntry, Frame, Origin
from fdleak.model.signature import signature_of
from fdleak.procfs.fds import read_fds
from fdleak.procfs.net import socket_table
from fdleak.procfs.snapshot import classify
from fdleak.python.pids import getpid
from fdleak.python.registry import Registry
from fdleak.python.stacks import RawStack, frames_of, origin_frame

_new = tuple.__new__  # a named tuple's own __new__ is a Python call: made twice a task
_STD_STREAMS = 3  # 0-2 are never leaks, and output capture points them elsewhere and back


class Baseline(NamedTuple):
    """This process's fds at one moment: fd -> (link text, registry seq when seen open).
    A named tuple: a Celery task makes one at its start and at its end, on the hot path."""

    fds: Mapping[int, tuple[str, int]]
    seq: int  # registry seq when it was taken: records after it were made inside the window
    # numbers only, no links (take_quick_baseline): an fd that C code closed and made again
    # under the same number inside the window goes unseen; Python's are still told apart
    quick: bool = False
    # how many fds were open (-1: unknown); with it, a window whose count came out even and
    # left no fd Python made open is known to have opened nothing, without a listing
    open_count: int = -1

    def including(self, fds: Iterable[OpenedFd], seq: int) -> Baseline:
        """This baseline plus ``fds`` (opened since, but owned by someone else: a session
        fixture, a connection pool), as known at registry seq ``seq``."""
        more = {item.fd: (item.link, seq) for item in fds}
        return Baseline({**self.fds, **more}, self.seq, self.quick)  # count unknown


@dataclass(frozen=True, slots=True)
class OpenedFd:
    """An fd open now that was not open at the baseline (or was re-created since)."""

    fd: int
    kind: FdKind
    target: str
    signature: str
    link: str  # the /proc/self/fd link text
    call: str | None  # the Python call that made it; None when no Python hook saw it (C code)
    ts: float | None  # when it was made, when known
    thread: int | None  # threading.get_ident() of the thread that made it, when known
    stack: RawStack = field(default=(), repr=False)  # innermost first; () when unknown

    def frames(self, root: str | None = None) -> tuple[Frame, ...]:
        """The stack that made it, outermost first (the report's order); () when unknown."""
        return frames_of(self.stack, root)

    def origin_frame(self, root: str | None = None) -> Frame | None:
        """The frame to blame: the innermost frame of the user's code (not stdlib,
        site-packages or fdleak), or the innermost frame when there is none."""
        return origin_frame(self.stack, root)

    def origin(self, task: str | None = None, root: str | None = None) -> Origin:
        """The report's origin: ``task`` (Celery task or test name) and the frames."""
        return Origin(task, self.frames(root))

    def entry(self, pid: int | None = None) -> FdEntry:
        """The report's fd entry (an example of a leak, or one of open_fds)."""
        return FdEntry(
            pid if pid is not None else os.getpid(),
            self.fd,
            self.kind.value,
            self.target,
            self.call or "unknown",
            self.ts,
            None,
        )


_SELF_FD = "/proc/self/fd"


def take_baseline(registry: Registry) -> Baseline:
    # seq before the listing: a record made while it runs is newer than the baseline, so
    # its fd is checked at the diff with its stack. Read after, the record of an fd made
    # just after the listing would count as older than the baseline: the fd new at the
    # diff, its stack dropped (and in a thread pool, blamed on the wrong task)
    seq = registry.last
    links = {fd: link for fd, link, _ in read_fds(os.getpid(), details=False)}
    return Baseline({fd: (link, seq) for fd, link in links.items()}, seq)


def take_quick_baseline(registry: Registry, counter: FdCounter, previous: Baseline | None = None) -> Baseline:
    """A baseline of fd numbers alone: one directory listing, no readlink (a Celery task's
    start: the per-task cost must stay small). With ``previous`` (this process's last quick
    baseline), not even the listing when the fd count is the same and no fd Python made
    since is still open: the numbers are the same (unless, in between, C code or an
    unhooked close freed one while C code made another)."""
    # seq before the count and the listing: a record racing with them is then either in
    # the count (which no longer matches) or found at the diff, newer than the baseline
    seq = registry.last
    count = counter.count()
    if (
        previous is not None
        and previous.quick
        and count >= 0
        and count == previous.open_count
        and not registry.live_since(previous.seq)
    ):
        # the same numbers, each still known open since ``previous``: records made since
        # are then checked against the objects open now, and none of them is
        if seq == previous.seq:
            return previous  # a task's usual start: not even a record made since
        return _new(Baseline, (previous.fds, seq, True, count))  # quick, with its count
    # the listing lists the directory fd it reads through, at the lowest free number: find
    # that number first (F_DUPFD, which the tracker does not hook) so it is left out
    try:
        lowest = fcntl.fcntl(2, fcntl.F_DUPFD, 0)
        os.close(lowest)
    except OSError:
        lowest = -1
    names = os.listdir(_SELF_FD)
    if lowest >= 0 and _is_open(lowest):
        lowest = -1  # another thread took that number before the listing: the fd is its, not ours
    fds = {int(n): ("", seq) for n in names if int(n) != lowest}
    # the count goes with the listing only if nothing changed between the two
    same = count >= 0 and count == len(fds) and counter.count() == count
    return Baseline(fds, seq, quick=True, open_count=count if same else -1)


def unchanged(registry: Registry, counter: FdCounter, baseline: Baseline) -> Baseline | None:
    """When the window since ``baseline`` opened nothing that is still open, as far as the
    count tells (as many fds as then, and none of those Python made since still open):
    the same baseline, as of now. None when it must be diffed."""
    if baseline.open_count < 0:
        return None
    seq = registry.last  # before the count, as in take_quick_baseline
    count = counter.count()
    if count != baseline.open_count or registry.live_since(baseline.seq):
        return None
    # nothing new, unless C code (or an unhooked close) freed a baseline fd and C code
    # made another one
    if seq == baseline.seq:
        return baseline  # not even a record made since: the very same (a count means quick)
    return _new(Baseline, (baseline.fds, seq, True, count))  # quick, with its count


_open, _close = os.open, os.close  # the unhooked ones: fdleak's own fd is nobody's to record
_fstat = os.fstat  # never wrapped; bound once: the count is read twice a task


class FdCounter:
    """How many fds this process has open, for a task's start and end: fstat() of a
    directory fd on /proc/self/fd, held open (the count, Linux 6.2+; a stat() by path
    costs two to three times as much, in a busy worker about 11 µs). The fd is fdleak's
    own: reopened in a forked child (the one it inherited is its parent's), close-on-exec,
    and never reported (a listing leaves out a link to its own /proc/PID/fd)."""

    def __init__(self) -> None:
        self._pid = 0
        self._fd = -1
        self._works = True

    def count(self) -> int:
        """The count, or -1 where the kernel does not give it (older than 6.2)."""
        if self._pid != getpid():
            self._reopen()
        if self._fd < 0:
            return -1
        try:
            return _fstat(self._fd).st_size
        except OSError:
            return -1

    def close(self) -> None:
        if self._fd >= 0 and self._pid == getpid():
            _close(self._fd)
        self._fd = -1

    def _reopen(self) -> None:
        if self._fd >= 0 and self._points_at(self._pid):
            _close(self._fd)  # inherited from the parent, and still the parent's directory
        self._fd, self._pid = -1, getpid()
        if not self._works:
            return
        try:
            fd = _open(_SELF_FD, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            self._works = False
            return
        if os.fstat(fd).st_size <= 0:  # a kernel that does not count: no fd held for nothing
            _close(fd)
            self._works = False
            return
        self._fd = fd

    def _points_at(self, pid: int) -> bool:
        """Whether our fd still is the directory of ``pid``'s fds (a child may have closed
        it, and the number may now be another's)."""
        try:
            return os.readlink(f"{_SELF_FD}/{self._fd}") == f"/proc/{pid}/fd"
        except OSError:
            return False


def _is_open(fd: int) -> bool:
    try:
        fcntl.fcntl(fd, fcntl.F_GETFD)
    except OSError:
        return False
    return True


def opened_since(registry: Registry, baseline: Baseline) -> tuple[OpenedFd, ...]:
    """The fds open now that were not open at ``baseline``, in fd order."""
    pid = os.getpid()
    found: list[tuple[int, str, os.stat_result]] = []
    for fd, link in _links(pid, registry, baseline):
        if fd < _STD_STREAMS:
            continue
        known = baseline.fds.get(fd)
        same = known is not None and (baseline.quick or known[0] == link)
        made = registry.records.get(fd)
        if same and known is not None and (made is None or made.seq <= known[1]):
            continue  # the same object as at the baseline, and Python did not re-create it
        try:
            st = os.fstat(fd)
        except OSError:
            continue  # closed since the listing
        if same and known is not None and registry.current(fd, st, link, known[1]) is None:
            continue  # a newer record, but of an object no longer there
        found.append((fd, link, st))
    held = {_inode(link) for _, link, _ in found if link.startswith("socket:[")}
    sockets = socket_table(pid, held) if held else {}
    out = []
    for fd, link, st in found:
        known = baseline.fds.get(fd)
        made = registry.current(fd, st, link, known[1] if known is not None else baseline.seq)
        kind, target, _ = classify(link, sockets, stat.S_ISDIR(st.st_mode))
        hint = "accept" if made is not None and made.call == "socket.accept" else ""
        out.append(
            OpenedFd(
                fd,
                kind,
                target,
                signature_of(kind, target, hint),
                link,
                made.call if made else None,
                made.ts if made else None,
                made.thread if made else None,
                made.stack if made else (),
            )
        )
    return tuple(out)


def _links(pid: int, registry: Registry, baseline: Baseline) -> list[tuple[int, str]]:
    """(fd, link) of the open fds; after a quick baseline, only of those that may be new."""
    if not baseline.quick:
        return [(fd, link) for fd, link, _ in read_fds(pid, details=False)]
    out = []
    own = f"/proc/{pid}/fd"  # the directory fd a listing of /proc/self/fd reads through
    for name in os.listdir(_SELF_FD):
        fd = int(name)
        known = baseline.fds.get(fd)
        made = registry.records.get(fd)
        if known is not None and (made is None or made.seq <= known[1]):
            continue  # there at the baseline, and not re-made by Python since
        try:
            link = os.readlink(f"{_SELF_FD}/{name}")
        except OSError:
            continue  # closed since the listing
        if link != own:
            out.append((fd, link))
    return out


def _inode(link: str) -> int:
    try:
        return int(link[link.index("[") + 1 : link.index("]")])
    except ValueError:
        return -1
