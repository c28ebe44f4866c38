"""strace running now: launch a command under it and stream its output, bounded and safe.

strace writes to a FIFO that fdleak reads as it goes: no temporary log grows on disk.
Safety: strace gets a parent-death signal, so it dies with fdleak even on SIGKILL; the
command is started through ``setpriv --pdeathsig KILL``, so it dies with strace and is
never left running untraced or, under seccomp-bpf, with failing system calls.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from fdleak.errors import InputError, TraceFailed
from fdleak.sources.strace.decode import FD_SYSCALLS
from fdleak.system import Strace, find_setpriv

_PR_SET_PDEATHSIG = 1
STRING_LIMIT = 256


class LiveTrace:
    """A running strace; ``lines()`` yields its output until it exits."""

    def __init__(
        self, process: subprocess.Popen[bytes], fifo: IO[str], keep: IO[str] | None, keep_limit: int
    ):
        self.process = process
        self._fifo = fifo
        self._keep = keep
        self._keep_left = keep_limit
        self.keep_truncated = False
        self.stopped_early = False

    def lines(self) -> Iterator[str]:
        for line in self._fifo:
            if self._keep is not None:
                self._save(line)
            yield line

    def _save(self, line: str) -> None:
        assert self._keep is not None
        if self._keep_left < len(line):
            self.keep_truncated = True
            self._keep.close()
            self._keep = None
            return
        self._keep_left -= len(line)
        self._keep.write(line)

    def stop_after(self, seconds: float) -> None:
        """``stop()`` once ``seconds`` have passed (a daemon timer: it never holds fdleak up)."""
        timer = threading.Timer(seconds, self.stop)
        timer.daemon = True
        timer.start()

    def stop(self) -> None:
        """End the trace: strace detaches and passes the signal on to the command."""
        if self.process.poll() is None:
            self.stopped_early = True
            self.process.send_signal(signal.SIGHUP)


def strace_argv(strace: Strace, output: str, seccomp: bool) -> list[str]:
    """strace's options for fdleak: follow forks, epoch times, fd paths, fdleak's fd calls.

    -I2: SIGHUP ends strace (it detaches first); with -I3, its default with -o and a
    command, it would be blocked for the whole run."""
    argv = [strace.path, "-f", "-ttt", "-y", "-s", str(STRING_LIMIT), "-I2", "-e", f"trace={FD_SYSCALLS}"]
    if seccomp:
        argv += ["--seccomp-bpf", "--kill-on-exit"]
    return [*argv, "-o", output]


def open_keep(path: str | None) -> IO[str] | None:
    """The --keep-trace file, or None."""
    if path is None:
        return None
    try:
        # closed by the caller, or by LiveTrace when the size bound is hit
        return open(path, "w", encoding="latin-1", newline="\n")
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror}") from None


@contextmanager
def launch(
    strace: Strace, command: list[str], keep_trace: str | None = None, keep_limit: int = 0
) -> Iterator[LiveTrace]:
    setpriv = find_setpriv()
    wrapper = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
    with tempfile.TemporaryDirectory(prefix="fdleak-") as scratch:
        fifo_path = os.path.join(scratch, "trace")
        os.mkfifo(fifo_path, 0o600)
        process = subprocess.Popen(
            [*strace_argv(strace, fifo_path, strace.kills_on_exit), "--", *wrapper, *command],
            preexec_fn=die_with_parent,
        )
        keep = None
        try:
            fifo = _open_when_written(fifo_path, process)
            keep = open_keep(keep_trace)
            with fifo:
                yield LiveTrace(process, fifo, keep, keep_limit)
        finally:
            if keep is not None and not keep.closed:
                keep.close()
            if process.poll() is None:
                process.send_signal(signal.SIGHUP)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _open_when_written(path: str, process: subprocess.Popen[bytes]) -> IO[str]:
    """The FIFO's read end once strace has opened it for writing, or an error if strace
    exits first. A plain blocking open would wait forever for a strace that failed."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while not poller.poll(100):
        # no POLLHUP before a writer has come and gone: nothing yet means not opened yet
        if process.poll() is not None:
            os.close(fd)
            raise TraceFailed(
                f"strace exited with status {process.returncode} before tracing anything",
                "its own message is above",
            )
    os.set_blocking(fd, True)
    return open(fd, encoding="latin-1", newline="\n")


def die_with_parent() -> None:
    """In strace, before exec: SIGKILL when fdleak dies, however it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
