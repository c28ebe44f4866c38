"""Forked children: they inherit the parent's fds, close some, open their own; some
exit, some stay; a grandchild; a child that execs a new Python program which keeps
one fd the child made inheritable (close-on-exec fds are dropped by execve); a child
whose second thread execs.

Every child still alive at the end writes "PID\n" to a sync pipe once its fd work is
done; the parent reads those lines, so the ready line lists every live process.

argv: DIR EXEC_PROGRAM [thread-exec]   (child G only with thread-exec)
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import sys
import threading

from _common import block, ignore_tracer_signals, ready

ignore_tracer_signals()
directory, exec_program = sys.argv[1], sys.argv[2]
thread_exec = sys.argv[3:] == ["thread-exec"]


def create(name: str) -> int:
    return os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)


def report_and_block(sync_write: int) -> None:
    os.write(sync_write, f"{os.getpid()}\n".encode())
    block()


parent_files = [create(f"parent_{i}.txt") for i in range(4)]
inheritable = create("inheritable.txt")
os.set_inheritable(inheritable, True)  # set in the parent, before fork
sync_read, sync_write = os.pipe()

alive = []

# A: stays; closes two inherited fds and the read end of the sync pipe, opens its own
pid = os.fork()
if pid == 0:
    os.close(parent_files[0])
    os.close(parent_files[1])
    os.close(sync_read)
    own = [create(f"child_a_{i}.txt") for i in range(3)]
    report_and_block(sync_write)
    os._exit(0)
alive.append(pid)

# B: exits after fd work; waited for before the ready line
pid = os.fork()
if pid == 0:
    os.close(parent_files[2])
    create("child_b.txt")
    os._exit(0)
os.waitpid(pid, 0)

# C: stays, and forks a grandchild D that also stays
pid = os.fork()
if pid == 0:
    os.close(parent_files[3])
    mine = create("child_c.txt")
    grandchild = os.fork()
    if grandchild == 0:
        os.close(mine)
        create("grandchild_d.txt")
        report_and_block(sync_write)
        os._exit(0)
    create("child_c_after_fork.txt")
    os.write(sync_write, f"{os.getpid()}\n".encode())
    block()
    os.waitpid(grandchild, 0)
    os._exit(0)
alive.append(pid)

# E: execs a new program; keeps parent_files[1] by making it inheritable in the child
pid = os.fork()
if pid == 0:
    os.set_inheritable(parent_files[1], True)  # ioctl(FIONCLEX)
    os.set_inheritable(sync_write, True)
    # other ways to set and clear close-on-exec: dup2 copies are not close-on-exec;
    # close_range(CLOSE_RANGE_CLOEXEC) and fcntl(F_SETFD) set it, fcntl clears it
    for fd in range(60, 64):
        os.dup2(inheritable, fd)
    if ctypes.CDLL(None, use_errno=True).close_range(60, 61, 4) != 0:  # CLOSE_RANGE_CLOEXEC
        raise OSError(ctypes.get_errno(), "close_range")
    fcntl.fcntl(62, fcntl.F_SETFD, fcntl.FD_CLOEXEC)
    fcntl.fcntl(parent_files[3], fcntl.F_SETFD, 0)
    os.execv(sys.executable, [sys.executable, exec_program, directory, str(sync_write)])
alive.append(pid)

# G: a thread that is not the main one execs; the kernel makes it the thread group
# leader (the pid stays, the other threads go: "+++ superseded by execve +++")
pid = os.fork() if thread_exec else -1
if pid == 0:
    create("child_g.txt")  # close-on-exec: gone after the exec
    os.set_inheritable(parent_files[2], True)
    os.set_inheritable(sync_write, True)
    argv = [sys.executable, exec_program, directory, str(sync_write), "child_g_exec.txt"]
    execer = threading.Thread(target=os.execv, args=(sys.executable, argv))
    execer.start()
    execer.join()  # never returns: the exec ends this thread too
    os._exit(1)
if thread_exec:
    alive.append(pid)

# a child that exits without closing anything: os._exit at once
pid = os.fork()
if pid == 0:
    os._exit(3)
os.waitpid(pid, 0)

# the parent's own churn after the forks
os.close(parent_files[0])
create("parent_after_forks.txt")

# A, C, D, E (and G) each report once
reported = []
with os.fdopen(os.dup(sync_read), "rb") as lines:
    while len(reported) < len(alive) + 1:  # D too
        line = lines.readline()
        assert line, "a child died before reporting"
        reported.append(int(line))
assert set(alive) <= set(reported), (alive, reported)

ready(os.getpid(), *reported)
block()
for pid in alive:
    os.waitpid(pid, 0)
