"""The registry: for each fd number, the last creation of it seen from Python, and where."""

from __future__ import annotations

import os
import time
from itertools import count
from threading import get_ident
from types import FrameType
from typing import NamedTuple

from fdleak.python.stacks import RawStack, capture

_fstat = os.fstat  # bound now: os.fstat is never wrapped, and a lookup per record is saved


class Created(NamedTuple):
    """One fd made from Python. A named tuple: one is built per fd creation, on the hot path."""

    seq: int  # order of creation across the process: newer than a baseline's seq means inside it
    dev: int  # (dev, ino) of the object it referred to: a reused number with another
    ino: int  # object behind it is not blamed on this stack
    stack: RawStack
    call: str  # the Python call that made it: "open", "os.pipe", "socket.accept"...
    thread: int  # threading.get_ident() of the creating thread (thread pools: which task)
    ts: float


class Registry:
    """fd -> Created. Keyed by number, so it never holds more entries than the process's
    highest fd: a closed fd's entry stays until the number is reused (the identity check
    at a checkpoint tells a stale entry from a live one)."""

    __slots__ = ("_seq", "depth", "last", "records")

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.records: dict[int, Created] = {}
        self.last = 0  # seq of the newest record
        self._seq = count(1)

    def record(self, fd: int, call: str, frame: FrameType | None) -> None:
        """``fd`` was just created by ``call``; ``frame`` is the caller's frame."""
        try:
            st = _fstat(fd)
        except (OSError, TypeError):
            return  # closed already by another thread, or not an fd: nothing to blame
        self.last = seq = next(self._seq)
        self.records[fd] = Created(
            seq, st.st_dev, st.st_ino, capture(frame, self.depth), call, get_ident(), time.time()
        )

    def adopt(self, fd: int, call: str, frame: FrameType | None) -> None:
        """``fd`` was wrapped (os.fdopen, socket(fileno=...)) rather than created: keep the
        record of its creation if there is one, else this is the first Python saw of it."""
        known = self.records.get(fd)
        if known is not None:
            try:
                st = _fstat(fd)
            except (OSError, TypeError):
                return
            if (st.st_dev, st.st_ino) == (known.dev, known.ino):
                return
        self.record(fd, call, frame)

    def current(self, fd: int, st: os.stat_result, after: int) -> Created | None:
        """The record of ``fd`` if it describes the object open there now (``st``) and was
        made after seq ``after``; a record from before that, or of another object, is stale."""
        known = self.records.get(fd)
        if known is None or known.seq <= after or (known.dev, known.ino) != (st.st_dev, st.st_ino):
            return None
        return known
