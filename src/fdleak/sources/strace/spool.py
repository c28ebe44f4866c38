"""strace's output drained as fast as strace writes it, parsed as fast as fdleak can.

Parsing a line costs fdleak microseconds; if it read strace's pipe only as fast as it
parses, a busy target would fill the pipe, strace would block writing, and every traced
system call of the target would wait on fdleak's parser. So a reader thread empties the
pipe into memory (up to a bound, then strace waits after all), and the parser takes
blocks of lines from there, at a lower CPU priority than the target and strace. When
little came, the reader lets the pipe fill for a moment before it reads again
(READ_PAUSE): fewer wake-ups for strace to pay for.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections import deque
from collections.abc import Iterator

from fdleak.sources.strace.blocks import whole_lines

SPOOL_LIMIT = 256 << 20  # bytes held in memory before strace has to wait
_CHUNK = 1 << 20
_BLOCK = 8 << 20  # most bytes handed to the parser at once: more opens fold with their closes
_F_SETPIPE_SZ = 1031
_F_GETPIPE_SZ = 1032
# after a read that found the pipe less than a quarter full, the reader waits this long:
# strace writes every line with a write() of its own, and one that finds a reader waiting
# must wake it, a context switch per line; filling the pipe meanwhile wakes nobody. A
# Celery worker under fdleak run: 283 tasks/s without the wait, 391 with it (407
# untraced); the syscall-heavy bench's traced tree: a quarter less CPU. The price: a
# single-threaded tracee no longer gains from fdleak keeping idle CPUs awake
# (docs/benchmarks.md)
READ_PAUSE = 0.02
PARSER_NICENESS = 10


class Spool:
    """Reads ``fd`` (a pipe or FIFO) in a thread; ``blocks()`` yields what it read."""

    def __init__(self, fd: int, limit: int = SPOOL_LIMIT) -> None:
        self._fd = fd
        self._limit = limit
        self._chunks: deque[bytes] = deque()
        self._held = 0
        self._ended = False
        self._discarding = False
        self._changed = threading.Condition()
        self.peak = 0  # most bytes held at once
        self._quiet = _grow_pipe(fd) // 4  # fewer bytes than this in a read: pause
        self._thread = threading.Thread(target=self._read, name="fdleak-spool", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while chunk := os.read(self._fd, _CHUNK):
                if len(chunk) < self._quiet:
                    time.sleep(READ_PAUSE)
                with self._changed:
                    while self._held >= self._limit and not self._discarding:
                        self._changed.wait()
                    if self._discarding:
                        continue
                    self._chunks.append(chunk)
                    self._held += len(chunk)
                    self.peak = max(self.peak, self._held)
                    self._changed.notify_all()
        except OSError:
            pass  # closed under us: the trace is being torn down
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def _take(self) -> bytes | None:
        """Everything held (up to ``_BLOCK`` bytes), once there is something; None at the end."""
        with self._changed:
            while not self._chunks and not self._ended:
                self._changed.wait()
            if not self._chunks:
                return None
            taken = [self._chunks.popleft()]
            size = len(taken[0])
            while self._chunks and size + len(self._chunks[0]) <= _BLOCK:
                taken.append(self._chunks.popleft())
                size += len(taken[-1])
            self._held -= size
            self._changed.notify_all()
        return taken[0] if len(taken) == 1 else b"".join(taken)

    def blocks(self) -> Iterator[bytes]:
        """Everything read, in blocks of whole lines; a last line without its newline comes
        alone at the end."""
        lower_priority()
        yield from whole_lines(iter(self._take, None))

    def discard(self) -> None:
        """Nobody will read on: drop what is held and all that comes, so strace never
        blocks on a full pipe while the trace is torn down."""
        with self._changed:
            self._discarding = True
            self._chunks.clear()
            self._held = 0
            self._changed.notify_all()

    def close(self) -> None:
        """Once the writer has gone: wait for the reader, then close the pipe."""
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            os.close(self._fd)


def lower_priority() -> None:
    """This thread (the parser) yields the CPU to the target and strace: nice is per
    thread on Linux, so the spool's reader keeps its normal priority."""
    with contextlib.suppress(OSError):
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, max(current, PARSER_NICENESS))


def _grow_pipe(fd: int) -> int:
    """A 1 MB pipe (the unprivileged maximum) absorbs bursts before the reader wakes; its
    size in bytes (64 KB, Linux's default, where it cannot be grown)."""
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, _F_SETPIPE_SZ, 1 << 20)
    try:
        return fcntl.fcntl(fd, _F_GETPIPE_SZ)
    except OSError:
        return 0  # not a pipe: no pause
