"""Pipes: subprocess.run of a child (its pipes come and go), a Popen child still
alive at the end (its stdin/stdout are pipes it got by dup2), os.pipe pairs kept,
half kept and closed, and a named pipe (FIFO).

argv: DIR RUNS
"""

from __future__ import annotations

import os
import subprocess
import sys

from _common import block, ignore_tracer_signals, ready

ignore_tracer_signals()
directory, runs = sys.argv[1], int(sys.argv[2])
for i in range(runs):
    done = subprocess.run(
        [sys.executable, "-c", "import sys; print(sys.stdin.read().upper())"],
        input=f"run {i}",
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == f"RUN {i}"

kept = []
for i in range(4):
    read_end, write_end = os.pipe()
    if i == 0:
        kept += [read_end, write_end]
    elif i == 1:
        os.close(read_end)
        os.close(write_end)
    elif i == 2:
        os.close(read_end)
        kept.append(write_end)
    else:
        kept.append(read_end)
        os.close(write_end)
# pipe2 without O_CLOEXEC
read_end, write_end = os.pipe2(0)
kept.append(read_end)
os.close(write_end)

# named pipes: opened read-write so that open(2) does not wait for the other end
fifo = os.path.join(directory, "fifo")
os.mkfifo(fifo)
kept.append(os.open(fifo, os.O_RDWR | os.O_CLOEXEC))
os.close(os.open(fifo, os.O_RDWR | os.O_CLOEXEC))

# a child that stays: it reads its stdin (a pipe) until we close it
child = subprocess.Popen(
    [sys.executable, "-c", "import os, sys; print('up', flush=True); os.read(0, 1)"],
    stdin=subprocess.PIPE,
    stdout=subprocess.PIPE,
)
assert child.stdout is not None
assert child.stdout.readline() == b"up\n"

ready(os.getpid(), child.pid)
block()
assert child.stdin is not None
child.stdin.close()
child.wait()
