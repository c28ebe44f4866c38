"""bpftrace running the program: started, known attached, bounded, and never left behind.

bpftrace is fdleak's child with a parent-death signal (SIGKILL): if fdleak dies, however
it dies, bpftrace dies and the kernel removes its probes; the traced processes never
notice either way (tracepoints do not stop them). Its stdout, line-buffered, is read as
it comes; its stderr is read in a thread for two signs: bpftrace's own
"__BPFTRACE_NOTIFY_PROBES_ATTACHED" (printed once every probe is attached; bpftrace's
runtime tests wait on it too) and its errors. SIGINT ends it cleanly: it prints what its
buffers hold, then its maps (the reader skips those), and exits.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO

from fdleak.errors import TraceFailed
from fdleak.sources.bpftrace.perf_events import stop_sampling
from fdleak.sources.bpftrace.program import STRLEN
from fdleak.system import die_with_parent

GATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gate.py")
ATTACH_TIMEOUT = 60.0  # seconds for bpftrace to compile and attach (about 1-2 s here)
_ATTACHED = "__BPFTRACE_NOTIFY_PROBES_ATTACHED"
PERF_PAGES = 1024  # per CPU: 4 MB of perf buffer each (bpftrace's default: 64 pages)
_MAX_MESSAGES = 20
_LOST = re.compile(r"Lost (\d+) events")
_STOP_TRIES = 5  # SIGINTs, a second apart, before SIGKILL


class BpfTrace:
    """A running bpftrace; ``lines()`` yields its stdout until it exits."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.errors: list[str] = []  # bpftrace's ERROR lines (and anything unexpected)
        self.lost = 0  # events bpftrace said on stderr it dropped (its perf buffer was full)
        self.stopped_early = False
        self.quieted = 0  # tracepoint perf events no longer sampled (perf_events.py)
        self._attached = threading.Event()

    def listen(self, stderr: IO[bytes]) -> None:
        """Read bpftrace's stderr until it closes (run in a thread)."""
        for raw in stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line == _ATTACHED:
                self._attached.set()
            elif (lost := _LOST.match(line)) is not None:
                self.lost += int(lost.group(1))
            # (the memlock limit bpftrace fails to raise is not needed since Linux 5.11)
            elif "ERROR:" in line and "MEMLOCK" not in line and len(self.errors) < _MAX_MESSAGES:
                self.errors.append(line.split("ERROR:", 1)[1].strip())
        self._attached.set()  # wake a waiter: bpftrace is gone (or closed its stderr)

    def lines(self) -> Iterator[str]:
        """bpftrace's output lines."""
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            yield raw.decode("utf-8", "surrogateescape")

    def wait_attached(self, timeout: float = ATTACH_TIMEOUT) -> bool:
        """True once bpftrace says every probe is attached (False: it exited first); its
        tracepoints' perf events then take no more samples (perf_events.py)."""
        if not self._attached.wait(timeout) or self.process.poll() is not None:
            return False
        self.quieted = stop_sampling(self.process.pid)
        return True

    def failure(self) -> TraceFailed:
        said = "; ".join(self.errors[-2:]) or f"exit status {self.process.poll()}"
        return TraceFailed(f"bpftrace could not start the trace ({said})")

    def stop_after(self, seconds: float) -> None:
        timer = threading.Timer(seconds, self.stop)
        timer.daemon = True
        timer.start()

    def stop(self) -> None:
        """End the trace: bpftrace prints what its buffers hold and exits."""
        if self.process.poll() is None and not self.stopped_early:
            self.stopped_early = True
            threading.Thread(target=self._end, daemon=True).start()

    def _end(self) -> None:
        # bpftrace now and then lets a SIGINT pass without exiting: ask again, then insist
        for _ in range(_STOP_TRIES):
            with suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=1.0)
                return
            except subprocess.TimeoutExpired:
                continue
        with suppress(ProcessLookupError):
            self.process.kill()


def _prepare() -> None:
    """In bpftrace, before exec: die with fdleak; SIGINT must end it, even where fdleak was
    started with SIGINT ignored (a shell's background job), which exec would keep."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def bpftrace_env() -> dict[str, str]:
    env = dict(os.environ, BPFTRACE_STRLEN=str(STRLEN), **{_ATTACHED: "1"})
    env.setdefault("BPFTRACE_PERF_RB_PAGES", str(PERF_PAGES))  # the user's own size wins
    return env


@contextmanager
def run_bpftrace(path: str, program: str) -> Iterator[BpfTrace]:
    """bpftrace running ``program``; ended (SIGINT, then SIGKILL) and reaped on the way out."""
    process = subprocess.Popen(
        [path, "-B", "line", "-e", program],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_prepare,
        env=bpftrace_env(),
    )
    trace = BpfTrace(process)
    assert process.stderr is not None
    listener = threading.Thread(target=trace.listen, args=(process.stderr,), daemon=True)
    listener.start()
    try:
        yield trace
    finally:
        if process.poll() is None:
            trace.stop()
        try:
            process.wait(timeout=_STOP_TRIES + 5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        listener.join(timeout=5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@contextmanager
def gated(command: list[str], env: dict[str, str] | None) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """gate.py, waiting to exec ``command``; yields it and the fd that lets it go."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    try:
        gate = subprocess.Popen(
            [sys.executable, "-I", "-S", GATE, str(os.getpid()), str(ready_w), str(go_r), *command],
            pass_fds=(ready_w, go_r),
            env=env,
        )
    except BaseException:
        for fd in (ready_r, ready_w, go_r, go_w):
            os.close(fd)
        raise
    os.close(ready_w)
    os.close(go_r)
    try:
        os.read(ready_r, 1)  # end of file: the gate closed its end, it is waiting (or died)
        os.close(ready_r)
        if gate.poll() is not None:
            raise TraceFailed(f"could not start the command (status {gate.returncode})")
        yield gate, go_w
    finally:
        with suppress(OSError):
            os.close(go_w)  # a gate still waiting exits without running the command
        with suppress(OSError):
            os.close(ready_r)
        try:
            gate.wait(timeout=10)
        except subprocess.TimeoutExpired:
            gate.kill()
            gate.wait()
