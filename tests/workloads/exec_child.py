"""Run by forks.py through execve: report the pid on the inherited sync pipe after
opening a file of its own, then wait.

argv: DIR SYNC_WRITE_FD [FILE_NAME]
"""

from __future__ import annotations

import os
import sys

from _common import block, ignore_tracer_signals

ignore_tracer_signals()  # inherited as SIG_IGN through execve already; said again for clarity
directory, sync_write = sys.argv[1], int(sys.argv[2])
name = sys.argv[3] if len(sys.argv) > 3 else "exec_child.txt"
own = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
os.write(sync_write, f"{os.getpid()}\n".encode())
block()
