"""The floor of the ebpf backend's cost, for bench/overhead.py: its raw_syscalls probes doing
nothing but test each call's number, attached until a process ends.

    python3 bench/bare_probes.py PID

The same probes as fdleak's program (one at entry, one at exit), the same number
test (program.py's ``_member``), bpftrace started and its perf sampling stopped the same
way (``run_bpftrace``), but no map, no printing: what any tracer built on these
tracepoints costs every system call. Says "fdleak: tracing" on stderr once attached,
like ``fdleak trace``, and ends when PID does.
"""

from __future__ import annotations

import os
import shutil
import sys
import time

from fdleak.sources.bpftrace.launch import run_bpftrace
from fdleak.sources.bpftrace.program import _EXIT_CALLS, _FD_CALLS, _member


def bare_program() -> str:
    """The probes and their number tests. Each body only sets a map for pid 1 (init, which
    makes no fd call while the bench runs): an empty one might not keep the test."""
    probes = [("sys_enter", list(_FD_CALLS)), ("sys_exit", list(_EXIT_CALLS))]
    return "\n".join(
        f"tracepoint:raw_syscalls:{kind} {{\n  $id = args->id;\n"
        + "\n".join(_member(numbers))
        + "\n  if ($in) { if (pid == 1) { @x = 1; } }\n}"
        for kind, numbers in probes
    )


def main() -> int:
    pid = int(sys.argv[1])
    path = shutil.which("bpftrace")
    if path is None:
        print("bare_probes: bpftrace is not installed", file=sys.stderr)
        return 2
    with run_bpftrace(path, bare_program()) as trace:
        if not trace.wait_attached():
            print(f"bare_probes: {trace.failure()}", file=sys.stderr)
            return 2
        print("fdleak: tracing (bare probes)", file=sys.stderr, flush=True)
        while os.path.exists(f"/proc/{pid}"):
            time.sleep(0.05)
        trace.stop()
        for _ in trace.lines():  # until bpftrace has ended
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
