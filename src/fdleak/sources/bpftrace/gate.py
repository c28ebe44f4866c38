"""The gate ``fdleak run --backend ebpf`` starts a command through, so that the command
makes no system call before bpftrace's probes are live.

Run as a script (``python3 -I -S gate.py FDLEAK_PID READY_FD GO_FD COMMAND...``): no
fdleak import. It arms a parent-death signal (the command dies with fdleak, as under
strace), says it is waiting by closing READY_FD, blocks until fdleak writes to GO_FD
(end of file: fdleak gave up, exit 127 without running anything), then closes it and
execs the command in its own pid: the pid fdleak put in the traced map.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> int:
    fdleak, ready, go, command = int(argv[0]), int(argv[1]), int(argv[2]), argv[3:]
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != fdleak:  # fdleak died before the signal was armed
        return 127
    os.close(ready)
    if not os.read(go, 1):
        return 127
    os.close(go)
    try:
        os.execvp(command[0], command)
    except OSError as error:
        print(f"fdleak: cannot run {command[0]}: {error.strerror}", file=sys.stderr)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
