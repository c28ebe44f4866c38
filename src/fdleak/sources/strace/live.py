"""strace running now: launch a command under it and stream its output, bounded and safe.

strace writes to a FIFO that fdleak reads as it goes: no temporary log grows on disk.
The command and every process it starts must never outlive their tracer: untraced they
would escape the trace, and under seccomp-bpf every traced system call would fail with
ENOSYS. So:
- with strace 6.6+, ``--kill-on-exit`` makes strace kill every tracee when it exits, and
  strace gets a parent-death signal: it dies with fdleak, even on SIGKILL;
- with an older strace, guard.py runs strace as the leader of a new process group the
  command inherits, and kills the whole group at once when fdleak dies; stopping early
  kills the command's processes and lets strace end by itself.
The command also runs under ``setpriv --pdeathsig KILL``: it dies with strace.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO

from fdleak.errors import InputError, TraceFailed
from fdleak.procfs.process import group_members
from fdleak.sources.strace.decode import FD_SYSCALLS
from fdleak.sources.strace.spool import Spool
from fdleak.system import Strace, die_with_parent, find_setpriv

STRING_LIMIT = 256
# strace formats each -ttt time through localtime(), which, when TZ is unset, makes glibc
# stat /etc/localtime once per line: a quarter more time for a program making many fd
# calls. With any TZ it does not, and epoch seconds do not depend on it.
STRACE_TZ = "UTC"
GUARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guard.py")


class LiveTrace:
    """A running strace; ``blocks()`` yields its output until it exits."""

    def __init__(
        self, process: subprocess.Popen[bytes], output: int, keep: IO[bytes] | None, keep_limit: int
    ):
        self.process = process
        self.spool = Spool(output)
        self._keep = keep
        self._keep_left = keep_limit
        self.keep_truncated = False
        self.stopped_early = False

    def blocks(self) -> Iterator[bytes]:
        """strace's output in blocks of whole lines, as it comes, until strace exits."""
        for block in self.spool.blocks():
            if self._keep is not None:
                self._save(block)
            yield block

    def _save(self, block: bytes) -> None:
        assert self._keep is not None
        if self._keep_left < len(block):
            # whole lines only, up to the bound
            self._keep.write(block[: block.rfind(b"\n", 0, self._keep_left) + 1])
            self.keep_truncated = True
            self._keep.close()
            self._keep = None
            return
        self._keep_left -= len(block)
        self._keep.write(block)

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


def strace_argv(strace: Strace, output: str, seccomp: bool, fd_paths: bool = True) -> list[str]:
    """strace's options for fdleak: follow forks, epoch times, fd paths, fdleak's fd calls.

    -I2: SIGHUP ends strace (it detaches first); with -I3, its default with -o and a
    command, it would be blocked for the whole run. ``fd_paths`` False drops -y: strace
    then reads no /proc/PID/fd link for each fd it prints (up to a quarter of its time on
    fd-heavy code), and relative paths and pipe and socket inodes go unresolved."""
    paths = ["-y"] if fd_paths else []
    argv = [strace.path, "-f", "-ttt", *paths, "-s", str(STRING_LIMIT), "-I2", "-e", f"trace={FD_SYSCALLS}"]
    if seccomp:
        argv.append("--seccomp-bpf")
    if strace.kills_on_exit:
        argv.append("--kill-on-exit")
    return [*argv, "-o", output]


def strace_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """strace's environment: ``env`` (default fdleak's) with ``STRACE_TZ``."""
    return {**(os.environ if env is None else env), "TZ": STRACE_TZ}


def command_tz(env: Mapping[str, str] | None = None) -> list[str]:
    """strace's -E option that gives a launched command its own TZ back, or none."""
    own = (os.environ if env is None else env).get("TZ")
    return ["-E", "TZ" if own is None else f"TZ={own}"]


def open_keep(path: str | None) -> IO[bytes] | None:
    """The --keep-trace file, or None."""
    if path is None:
        return None
    try:
        # closed by the caller, or by LiveTrace when the size bound is hit
        return open(path, "wb")
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror}") from None


class GuardedTrace(LiveTrace):
    """strace older than 6.6 (no --kill-on-exit), run by guard.py as the leader of its own
    process group, which the command and all its children inherit."""

    def __init__(
        self, guard: subprocess.Popen[bytes], group: int, output: int, keep: IO[bytes] | None, keep_limit: int
    ):
        super().__init__(guard, output, keep, keep_limit)
        self.group = group

    def stop(self) -> None:
        """End the command's processes, never strace: once none is left strace exits on
        its own, its last lines written. (SIGHUP would make strace detach from them, and
        a detached process under seccomp-bpf fails every traced system call.)"""
        if self.process.poll() is None and not self.stopped_early:
            self.stopped_early = True
            threading.Thread(target=self._end_members, daemon=True).start()

    def _end_members(self) -> None:
        while self.process.poll() is None:  # new forks may appear while the first die
            for pid in group_members(self.group):  # /proc, read fresh each round
                if pid != self.group:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)

    def kill_all(self) -> None:
        """strace and the command at once: the guard's SIGTERM does kill(-group, SIGKILL)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)


@contextmanager
def launch(
    strace: Strace,
    command: list[str],
    keep_trace: str | None = None,
    keep_limit: int = 0,
    seccomp: bool = False,
    env: dict[str, str] | None = None,
    fd_paths: bool = True,
) -> Iterator[LiveTrace]:
    """``command`` under strace (with ``env``, default fdleak's; ``fd_paths``: -y); it never
    outlives strace (see the module's docstring)."""
    setpriv = find_setpriv()
    wrapper = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
    with tempfile.TemporaryDirectory(prefix="fdleak-") as scratch:
        fifo_path = os.path.join(scratch, "trace")
        os.mkfifo(fifo_path, 0o600)
        argv = [
            *strace_argv(strace, fifo_path, seccomp, fd_paths),
            *command_tz(env),
            "--",
            *wrapper,
            *command,
        ]
        env = strace_environment(env)
        reader = os.open(fifo_path, os.O_RDONLY | os.O_NONBLOCK)  # before strace opens it
        try:
            if strace.kills_on_exit:
                process, group = subprocess.Popen(argv, preexec_fn=die_with_parent, env=env), 0
            else:
                process, group = _start_guarded(argv, reader, env)
        except BaseException:
            os.close(reader)
            raise
        keep = None
        trace: LiveTrace | None = None
        try:
            _wait_written(reader, process)
            # both ends are open: the names are needed no more, and from here a kill -9 of
            # fdleak leaves nothing in $TMPDIR (TemporaryDirectory takes a gone one as done;
            # one a cleaner of /tmp took first is no reason to stop the trace)
            with contextlib.suppress(OSError):
                os.unlink(fifo_path)
                os.rmdir(scratch)
            keep = open_keep(keep_trace)
            trace = (
                GuardedTrace(process, group, reader, keep, keep_limit)
                if group
                else LiveTrace(process, reader, keep, keep_limit)
            )
            yield trace
        finally:
            if keep is not None and not keep.closed:
                keep.close()
            end_trace(process, trace)
            if trace is None:
                os.close(reader)


def _start_guarded(
    argv: list[str], fifo: int, env: dict[str, str] | None
) -> tuple[subprocess.Popen[bytes], int]:
    read_end, write_end = os.pipe()
    try:
        guard = subprocess.Popen(
            [sys.executable, "-I", GUARD, str(os.getpid()), str(write_end), *argv],
            # the guard holds the FIFO's read end too, never reading: when fdleak dies, strace's
            # next write blocks rather than kill strace with SIGPIPE before the guard acts
            pass_fds=(write_end, fifo),
            # its own group: a kill of fdleak's whole group reaches it as fdleak's death
            preexec_fn=os.setpgrp,
            env=env,
        )
    finally:
        os.close(write_end)
    with open(read_end, "rb") as answer:
        line = answer.readline()
    if not line.strip().isdigit():
        guard.wait()
        raise TraceFailed(f"could not start strace (status {guard.returncode})", "its own message is above")
    return guard, int(line)


def end_trace(process: subprocess.Popen[bytes], trace: LiveTrace | None) -> None:
    """End strace (``process``) and wait for it: SIGHUP makes it detach from every process
    (a guarded one has its group killed instead), SIGKILL after 30 s (the kernel detaches
    the tracees of a dead tracer). Output still unread is dropped so strace never blocks."""
    if trace is not None:
        trace.spool.discard()
    if process.poll() is None:
        if isinstance(trace, GuardedTrace):
            trace.kill_all()
        else:
            process.send_signal(signal.SIGHUP)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if trace is not None:
        trace.spool.close()


def _wait_written(fd: int, process: subprocess.Popen[bytes]) -> None:
    """Return once strace has opened the FIFO ``fd`` reads (and made it blocking), or raise
    if strace exits first. A plain blocking open would wait forever for a strace that failed."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while not poller.poll(100):
        # no POLLHUP before a writer has come and gone: nothing yet means not opened yet
        if process.poll() is not None:
            raise TraceFailed(
                f"strace exited with status {process.returncode} before tracing anything",
                "its own message is above",
            )
    os.set_blocking(fd, True)
