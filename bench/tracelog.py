"""Build the benchmark's strace log: trace bench/workloads/busy_worker.py until the log is big enough.

Every line comes from real tracing; nothing is copied or synthesised. The log is
written next to a small JSON file describing it, so a later run can reuse it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

from fdleak.sources.strace.decode import FD_SYSCALLS  # one list: what fdleak itself traces
from procs import children_of, die_with_parent, kill_group

WORKLOAD = Path(__file__).resolve().parent / "workloads" / "busy_worker.py"
PROGRESS_EVERY = 10.0  # seconds between progress lines


@dataclass(frozen=True)
class LogInfo:
    lines: int
    bytes: int
    trace_seconds: float
    syscalls: list[str]
    workload: str  # the workload's own closing line
    strace_status: int


class LineCounter:
    """Counts the lines of a file that strace is still writing, reading only what is new."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: BinaryIO | None = None
        self.lines = 0
        self.bytes = 0

    def update(self) -> None:
        if self.handle is None:
            if not self.path.exists():
                return  # strace has not created it yet
            self.handle = open(self.path, "rb")  # noqa: SIM115 - kept open across updates
        while chunk := self.handle.read(1 << 24):
            self.lines += chunk.count(b"\n")
            self.bytes += len(chunk)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def meta_path(log: Path) -> Path:
    return log.with_name(log.name + ".json")


def cached(log: Path, lines: int, min_bytes: int) -> LogInfo | None:
    """The log's description if a complete one of at least this size is on disk."""
    try:
        info = LogInfo(**json.loads(meta_path(log).read_text()))
        size = log.stat().st_size
    except (OSError, ValueError, TypeError):
        return None  # absent, or not written by this script: trace anew
    if size != info.bytes or info.lines < lines or info.bytes < min_bytes:
        return None
    return info


def strace_binary() -> str:
    found = shutil.which("strace")
    if found is None:
        sys.exit("bench: strace is not installed; apt-get install strace")
    return found


def accepted_syscalls(strace: str) -> list[str]:
    """FD_SYSCALLS minus the names this strace rejects (older versions lack some)."""
    wanted = FD_SYSCALLS.split(",")

    def accepts(names: list[str]) -> bool:
        probe = [strace, "-e", "trace=" + ",".join(names), "-o", os.devnull, "true"]
        return subprocess.run(probe, capture_output=True, check=False).returncode == 0

    if accepts(wanted):
        return wanted
    kept = [name for name in wanted if accepts([name])]
    print(f"  strace rejects {', '.join(sorted(set(wanted) - set(kept)))}; tracing without them")
    return kept


def build(log: Path, lines: int, min_bytes: int) -> LogInfo:
    strace = strace_binary()
    syscalls = accepted_syscalls(strace)
    partial = log.with_name(log.name + ".partial")
    stderr_path = log.with_name(log.name + ".stderr")
    cap = max(900.0, lines / 5_000)  # a safety net: the line count stops the workload first
    scratch = log.with_name("busy_worker-tmp")
    shutil.rmtree(scratch, ignore_errors=True)  # left over if strace died under the workload
    scratch.mkdir()
    command = [
        *(strace, "-f", "-ttt", "-y", "-s", "256", "--seccomp-bpf"),
        *("-e", "trace=" + ",".join(syscalls), "-o", str(partial)),
        *(sys.executable, str(WORKLOAD), "--seconds", f"{cap:.0f}", "--tmp-root", str(scratch)),
    ]
    print(f"building {log}: tracing {WORKLOAD.name} until {lines:,} lines and {min_bytes / 1e6:,.0f} MB")
    print(f"  $ {' '.join(command[:7])} -e trace=<{len(syscalls)} fd syscalls> -o {partial.name} ...")
    started = time.monotonic()
    with open(stderr_path, "wb") as stderr:
        # Its own session: Ctrl-C reaches only this script, which then stops the trace in
        # order. SIGKILL if this script dies: `strace -o FILE PROG` blocks SIGTERM (-I 3),
        # and the workload stops by itself when strace dies.
        tracer = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGKILL),
        )
    counter = LineCounter(partial)
    try:
        follow(tracer, counter, lines, min_bytes, started)
        stop_trace(tracer, grace=60)
        counter.update()
    except BaseException:
        stop_trace(tracer, grace=10)
        partial.unlink(missing_ok=True)
        raise
    finally:
        counter.close()
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.monotonic() - started
    workload = last_line(stderr_path, prefix="busy_worker: stopped")
    print(f"  done: {counter.lines:,} lines, {counter.bytes / 1e6:,.0f} MB in {seconds:.0f} s")
    print(f"  {workload}")
    if tracer.returncode != 0:
        print(f"  note: strace exited with status {tracer.returncode}; see {stderr_path}")
    info = LogInfo(counter.lines, counter.bytes, seconds, syscalls, workload, tracer.returncode)
    partial.replace(log)
    meta_path(log).write_text(json.dumps(asdict(info), indent=1) + "\n")
    return info


def follow(
    tracer: subprocess.Popen[bytes], counter: LineCounter, lines: int, min_bytes: int, started: float
) -> None:
    """Wait until the log holds `lines` lines and `min_bytes` bytes, printing progress."""
    shown = started
    while tracer.poll() is None:
        time.sleep(0.5)
        counter.update()
        now = time.monotonic()
        if now - shown >= PROGRESS_EVERY:
            shown = now
            rate = counter.lines / (now - started)
            print(
                f"  {counter.lines / 1e6:6.2f} M lines {counter.bytes / 1e6:7,.0f} MB "
                f"{now - started:5.0f} s  ({rate:,.0f} lines/s)",
                flush=True,
            )
        if counter.lines >= lines and counter.bytes >= min_bytes:
            return
    raise RuntimeError(f"the trace ended early with status {tracer.returncode} at {counter.lines:,} lines")


def stop_trace(tracer: subprocess.Popen[bytes], grace: float) -> None:
    """Stop the workload so that strace sees its shutdown, then make sure nothing is left.

    SIGTERM goes to the workload's parent, not to strace: with --seccomp-bpf, a
    tracee that strace detaches from gets ENOSYS from every traced syscall, close
    included, and could not shut down cleanly."""
    for pid in children_of(tracer.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    try:
        tracer.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        print("  the workload did not stop in time; killing the trace", file=sys.stderr)
    kill_group(tracer, grace=2)


def last_line(path: Path, prefix: str) -> str:
    try:
        found = [line for line in path.read_text(errors="replace").splitlines() if line.startswith(prefix)]
    except OSError:
        return ""
    return found[-1] if found else f"(no '{prefix}' line in {path})"
