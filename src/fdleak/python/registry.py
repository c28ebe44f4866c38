"""The registry: for each fd number, the last creation of it seen from Python, and where."""

from __future__ import annotations

import os
import time
import weakref
from itertools import count
from threading import RLock, get_ident
from types import FrameType
from typing import Any, NamedTuple

from fdleak.python.stacks import RawStack, capture

_new = tuple.__new__
_fstat = os.fstat  # bound now: os.fstat is never wrapped, and a lookup per record is saved
_now, _weak = time.time, weakref.ref  # the same for these two


class Created(NamedTuple):
    """One fd made from Python. A named tuple: one is built per fd creation, on the hot path."""

    seq: int  # order of creation across the process: newer than a baseline's seq means inside it
    dev: int  # (dev, ino) of the object it referred to: a reused number with another
    ino: int  # object behind it is not blamed on this stack
    stack: RawStack
    call: str  # the Python call that made it: "open", "os.pipe", "socket.accept"...
    thread: int  # threading.get_ident() of the creating thread (thread pools: which task)
    ts: float
    # the Python object that owns the fd (a file, a socket), weakly: once it is gone or
    # closed, so is the fd, even though its close() never went through a Python call
    owner: weakref.ref[Any] | None = None


# what /proc shows for the anonymous inodes, which all share one inode number: an fd of
# another kind on the same number is not the one recorded
_ANON_LINKS = {
    "os.eventfd": "anon_inode:[eventfd]",
    "select.epoll": "anon_inode:[eventpoll]",
    "os.timerfd_create": "anon_inode:[timerfd]",
    "os.pidfd_open": "anon_inode:[pidfd]",
}


class Registry:
    """fd -> Created. Keyed by number, so it never holds more entries than the process's
    highest fd: a closed fd's entry stays until the number is reused (the identity check
    at a checkpoint tells a stale entry from a live one)."""

    __slots__ = ("__weakref__", "_order", "_seq", "depth", "last", "records")

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.records: dict[int, Created] = {}
        self.last = 0  # seq of the newest record
        self._seq = count(1)
        # reentrant: a signal handler that makes an fd may run while this thread holds it
        self._order = RLock()
        _registries.add(self)

    def record(self, fd: int, call: str, frame: FrameType | None, owner: Any = None) -> None:
        """``fd`` was just created by ``call``; ``frame`` is the caller's frame."""
        try:
            st = _fstat(fd)
        except (OSError, TypeError):
            return  # closed already by another thread, or not an fd: nothing to blame
        made = (
            st.st_dev,
            st.st_ino,
            capture(frame, self.depth),
            call,
            get_ident(),
            _now(),
            None if owner is None else _weak(owner),
        )
        # numbered and stored in one step: two threads recording at once could otherwise
        # store out of seq order, and live_since (which reads the records newest first and
        # stops at the first older than its seq) would miss the newer one
        records = self.records
        with self._order:
            seq = next(self._seq)
            records.pop(fd, None)  # removed first so that the dict stays in seq order
            # tuple.__new__: the named tuple's generated __new__ costs a Python call per fd
            records[fd] = _new(Created, (seq, *made))
            self.last = seq

    def adopt(self, fd: int, call: str, frame: FrameType | None, owner: Any = None) -> None:
        """``fd`` was wrapped (os.fdopen, socket(fileno=...)) rather than created: keep the
        record of its creation if there is one (its owner is now ``owner``), else this is
        the first Python saw of it."""
        known = self.records.get(fd)
        if known is not None:
            try:
                st = _fstat(fd)
            except (OSError, TypeError):
                return
            if (st.st_dev, st.st_ino) == (known.dev, known.ino) and _alive(known, fd, pending=True):
                if owner is not None:
                    self.records[fd] = known._replace(owner=weakref.ref(owner))
                return
        self.record(fd, call, frame, owner)

    def forget(self, fd: int) -> None:
        """``fd`` is being closed by os.close."""
        self.records.pop(fd, None)

    def live_since(self, seq: int) -> bool:
        """Whether an fd recorded after ``seq`` may still be open: its number holds the same
        object and its owner has not closed it (an anonymous inode counts as open: its
        identity is shared)."""
        if self.last <= seq:
            return False
        newest_first = []
        try:
            for item in reversed(self.records.items()):
                if item[1].seq <= seq:
                    break
                newest_first.append(item)
        except RuntimeError:  # another thread recorded meanwhile: assume the worst
            return True
        for fd, known in newest_first:
            if known.owner is not None and not _alive(known, fd):
                continue  # its file or socket closed it: no system call needed to know
            try:
                st = _fstat(fd)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (known.dev, known.ino):
                return True
        return False

    def current(self, fd: int, st: os.stat_result, link: str, after: int) -> Created | None:
        """The record of ``fd`` if it describes the object open there now (``st``, ``link``)
        and was made after seq ``after``; a record from before that, or of another object, is
        stale."""
        known = self.records.get(fd)
        if known is None or known.seq <= after or (known.dev, known.ino) != (st.st_dev, st.st_ino):
            return None
        if _ANON_LINKS.get(known.call, link) != link or not _alive(known, fd):
            return None
        return known


_registries: weakref.WeakSet[Registry] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for registry in list(_registries):
        registry._order = RLock()  # held by another thread at the fork: never released here


os.register_at_fork(after_in_child=_after_fork_in_child)


def _alive(known: Created, fd: int, pending: bool = False) -> bool:
    """False when the object that owned the fd is gone or closed (so the fd was closed)."""
    if known.owner is None:
        return True
    owner = known.owner()
    if owner is None:
        return pending  # a socket being re-wrapped (ssl, detach()): its old owner may be gone
    if getattr(owner, "closed", False) is True:
        return False  # a closed file: asked without the exception fileno() would raise
    try:
        return bool(owner.fileno() == fd)
    except (OSError, ValueError, AttributeError):
        return False  # "I/O operation on closed file"
