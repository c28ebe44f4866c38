"""strace attached to running processes (``-f -p PID ...``): bounded, and never left behind.

strace writes into an anonymous pipe (``-o /dev/fd/N``) that fdleak reads as it goes, so
nothing grows on disk and the read ends when strace exits. strace gets a parent-death
signal: when fdleak dies, even by SIGKILL, strace is killed and the kernel detaches every
tracee, which carries on untraced. Its stderr is read to learn when each process is
attached and why an attach failed.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from fdleak.errors import AccessDenied, TraceFailed
from fdleak.procfs.ptrace import container_hint
from fdleak.sources.strace.live import LiveTrace, end_trace, open_keep, strace_argv, strace_environment
from fdleak.system import Strace, die_with_parent

# strace names itself by its argv[0]: "strace: " or "/usr/bin/strace: "
_ATTACHED = re.compile(r"^\S*strace: Process (\d+) attached")
_REFUSED = re.compile(r"^\S*strace: attach: ptrace\(PTRACE_\w+, (\d+)\): (.+)$")
_DETACHED = re.compile(r"^\S*strace: Process \d+ detached")
ATTACH_TIMEOUT = 20.0  # seconds for strace to attach to every process
_MAX_MESSAGES = 20


class AttachedTrace(LiveTrace):
    """A running ``strace -p``; knows which processes it attached and which it could not."""

    def __init__(
        self, process: subprocess.Popen[bytes], output: int, keep: IO[bytes] | None, keep_limit: int
    ):
        super().__init__(process, output, keep, keep_limit)
        self.attached: set[int] = set()
        self.refused: dict[int, str] = {}  # pid -> strace's reason
        self.messages: list[str] = []  # anything else strace said
        self._changed = threading.Condition()

    def listen(self, stderr: IO[bytes]) -> None:
        """Read strace's stderr until it closes (run in a thread)."""
        for raw in stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._changed:
                if match := _ATTACHED.match(line):
                    self.attached.add(int(match.group(1)))
                elif match := _REFUSED.match(line):
                    self.refused[int(match.group(1))] = match.group(2)
                elif not _DETACHED.match(line) and len(self.messages) < _MAX_MESSAGES:
                    self.messages.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_attached(self, pids: set[int], timeout: float = ATTACH_TIMEOUT) -> set[int]:
        """The pids of ``pids`` attached, once strace has answered for each (or exited)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not pids <= self.attached | set(self.refused) and self.process.poll() is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(min(left, 0.1))
            return self.attached & pids

    def failure(self) -> AccessDenied | TraceFailed | None:
        """Why nothing was traced, when strace attached to no process at all."""
        if self.attached:
            return None
        if self.refused:
            pid, reason = next(iter(self.refused.items()))
            if "not permitted" in reason:
                return AccessDenied(f"cannot trace pid {pid}: ptrace refused ({reason})", container_hint())
            return TraceFailed(f"strace could not attach to pid {pid}: {reason}")
        said = "; ".join(self.messages[-2:]) or f"exit status {self.process.returncode}"
        return TraceFailed(f"strace attached to no process ({said})")


@contextmanager
def attach(
    strace: Strace, pids: list[int], keep_trace: str | None = None, keep_limit: int = 0
) -> Iterator[AttachedTrace]:
    """``strace -f`` attached to each of ``pids`` (with -f, all of a process's threads too)."""
    read_end, write_end = os.pipe()
    targets = [arg for pid in pids for arg in ("-p", str(pid))]
    try:
        process = subprocess.Popen(
            [*strace_argv(strace, f"/dev/fd/{write_end}", seccomp=False), *targets],
            pass_fds=(write_end,),
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=die_with_parent,
            env=strace_environment(),
        )
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)  # strace holds the only write end: its exit ends our read
    keep = None
    trace: AttachedTrace | None = None
    listener: threading.Thread | None = None
    try:
        keep = open_keep(keep_trace)
        trace = AttachedTrace(process, read_end, keep, keep_limit)
        assert process.stderr is not None
        listener = threading.Thread(target=trace.listen, args=(process.stderr,), daemon=True)
        listener.start()
        yield trace
    finally:
        end_trace(process, trace)
        if listener is not None:
            listener.join(timeout=5)  # stderr is at its end once strace has exited
        if keep is not None and not keep.closed:
            keep.close()
        if trace is None:
            os.close(read_end)
        if process.stderr is not None:
            process.stderr.close()
