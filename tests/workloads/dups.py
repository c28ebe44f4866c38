"""Duplication: os.dup, os.dup2 onto an open fd (which closes it) and onto a free
one, dup3 (os.dup2 inheritable=False), fcntl F_DUPFD and F_DUPFD_CLOEXEC,
os.closerange and close_range(CLOSE_RANGE_CLOEXEC), os.set_inheritable, dup2 onto standard error, and calls
that fail.

argv: DIR
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import sys

from _common import block, ignore_tracer_signals, ready

ignore_tracer_signals()
directory = sys.argv[1]


def create(name: str) -> int:
    return os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)


source = create("source.txt")
copy = os.dup(source)  # kept
os.close(os.dup(source))  # gone
os.set_inheritable(copy, True)

victim = create("victim.txt")
os.dup2(source, victim)  # victim.txt is closed by the kernel; victim now names source.txt

os.dup2(source, 100)  # onto a free fd
os.dup2(source, 101, inheritable=False)  # dup3(..., O_CLOEXEC)
os.dup2(create("dup3_victim.txt"), 101, inheritable=False)  # dup3 onto the open 101
fcntl.fcntl(source, fcntl.F_DUPFD, 50)  # lowest free >= 50: 50
fcntl.fcntl(source, fcntl.F_DUPFD_CLOEXEC, 50)  # 51

# close_range: ten copies at 200..209, the lower half closed in one call
for fd in range(200, 210):
    os.dup2(source, fd)
os.closerange(200, 205)  # close_range(200, 204, 0)
# CLOSE_RANGE_CLOEXEC marks the fds close-on-exec and closes nothing
CLOSE_RANGE_CLOEXEC = 4
if ctypes.CDLL(None, use_errno=True).close_range(205, 206, CLOSE_RANGE_CLOEXEC) != 0:
    raise OSError(ctypes.get_errno(), "close_range")

# a dup whose original is closed: the copy lives on
moved = create("moved.txt")
moved_copy = os.dup(moved)
os.close(moved)

# calls that fail make and close nothing
unused = 999  # no fd of ours
for call in (lambda: os.close(unused), lambda: os.dup2(unused, 300), lambda: os.dup(unused)):
    try:
        call()
    except OSError:
        pass
    else:
        raise AssertionError("a call on a closed fd succeeded")
with contextlib.suppress(FileNotFoundError):
    os.open(os.path.join(directory, "missing", "nothing.txt"), os.O_RDONLY)

# a directory, and, last so that errors before it still show, /dev/null onto
# standard error: fd 2 is now one made in the window
directory_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
null = os.open(os.devnull, os.O_WRONLY)
os.dup2(null, 2)
os.close(null)

ready(os.getpid())
block()
