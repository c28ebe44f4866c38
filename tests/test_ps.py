"""fdleak ps against /proc, and what a user who may not read a process is told."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections import Counter
from pathlib import Path

from conftest import holder, need, proc_fds, run_cli_as_nobody, run_fdleak
from fdleak.cli.main import main
from fdleak.model.kinds import kind_of_link

NOBODY = 65534


def test_ps_counts_kinds_and_limits_match_proc(tmp_path: Path) -> None:
    with holder(tmp_path, "--files", "12", "--sockets", "--special") as held:
        proc = run_fdleak("ps", "-p", str(held.pid), "--json", "-")
        truth = {pid: proc_fds(pid) for pid in (held.pid, held.child)}
        limits = Path(f"/proc/{held.pid}/limits").read_text()
    assert proc.returncode == 0, proc.stderr
    rows = {row["pid"]: row for row in json.loads(proc.stdout)}
    assert set(rows) == set(truth)  # the holder and its forked child, as a tree
    assert rows[held.child]["parent"] == held.pid and rows[held.child]["depth"] == 1
    for pid, fds in truth.items():
        assert rows[pid]["fds"] == len(fds)
        assert dict(rows[pid]["kinds"]) == dict(Counter(kind_of_link(link).value for link in fds.values()))
    (line,) = [row for row in limits.splitlines() if row.startswith("Max open files")]
    soft, hard = line.split()[3:5]
    assert rows[held.pid]["soft_limit"] == int(soft) and rows[held.pid]["hard_limit"] == int(hard)


def test_ps_text_is_a_tree_with_usage(tmp_path: Path) -> None:
    with holder(tmp_path, "--special") as held:
        proc = run_fdleak("ps", "-p", str(held.pid))
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:6] == ["PID", "ROLE", "FDS", "SOFT", "HARD", "USED"]
    (parent,) = [line for line in lines if line.split()[:1] == [str(held.pid)]]
    (child,) = [line for line in lines if line.split()[:1] == [str(held.child)]]
    assert child.index(str(held.child)) > parent.index(str(held.pid))  # indented under its parent
    assert "holder.py" in parent and "%" in parent
    assert parent.split()[1] == "process" and child.split()[1] == "child"


def test_another_users_process_says_what_is_missing(tmp_path: Path) -> None:
    need(os.geteuid() == 0, "needs root to drop to another user")
    with holder(tmp_path, "--files", "5") as held:
        main(["ps", "-p", str(held.pid), "--json", os.devnull])  # import every module while still root
        with contextlib.redirect_stdout(io.StringIO()):
            main(["snapshot", "-p", str(held.pid), "--summary"])
        status, stdout, stderr = run_cli_as_nobody(["snapshot", "-p", str(held.pid)])
        assert status == 2 and stdout == ""
        assert stderr == (
            f"fdleak: cannot read its fds of pid {held.pid}: permission denied (it belongs to another user); "
            "run fdleak as that user or as root (sudo fdleak ...)\n"
        )
        status, stdout, stderr = run_cli_as_nobody(["ps", "-p", str(held.pid), "--json", "-"])
        count = len(proc_fds(held.pid))
    assert status == 0, stderr
    (row,) = json.loads(stdout)
    assert row["fds"] == count  # the count is still readable (stat of /proc/PID/fd)
    assert row["kinds"] == [] and "permission denied" in row["note"]
    assert sys.executable  # the child ran this same interpreter, no re-exec


def test_a_zombie_is_gone_not_unreadable_and_no_child_of_a_tree() -> None:
    import subprocess
    import time

    import psutil

    parent = subprocess.Popen([sys.executable, "-c", "import os, time; os.fork() and time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while True:  # the forked child exits at once; its parent never reaps it
            children = psutil.Process(parent.pid).children()
            if children and children[0].status() == psutil.STATUS_ZOMBIE:
                break
            assert time.monotonic() < deadline, "no zombie"
            time.sleep(0.05)
        zombie = children[0].pid
        result = run_fdleak("ps", "-p", str(zombie))
        assert result.returncode == 2
        assert (
            result.stderr.strip()
            == f"fdleak: process {zombie} has exited; its parent has not reaped it yet: it has no fds"
        )
        tree = run_fdleak("ps", "-p", str(parent.pid), "--json", "-")
        assert [p["pid"] for p in json.loads(tree.stdout)] == [parent.pid]
    finally:
        parent.kill()
        parent.wait()


# x86_64 and aarch64 numbers of exit(2): the calling thread alone, not exit_group
_SYS_EXIT = {"x86_64": 60, "aarch64": 93}
_EXITING_LEADER = f"""
import ctypes, platform, threading, time
threading.Thread(target=time.sleep, args=(30,)).start()
print("ready", flush=True)
ctypes.CDLL(None).syscall({_SYS_EXIT!r}[platform.machine()], 0)
"""
# started once the follower watches: a child that goes nameless, and a plain one
_PARENT = f"""
import subprocess, sys
exiting = subprocess.Popen([sys.executable, "-c", {_EXITING_LEADER!r}], stdout=subprocess.PIPE)
exiting.stdout.readline()
named = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
print(exiting.pid, named.pid, flush=True)
sys.stdin.read()
for child in (exiting, named):
    child.kill()
    child.wait()
"""


def test_a_descendant_past_exit_mm_is_not_followed_until_its_role_can_be_told() -> None:
    """A process whose main thread has exited while another runs has no command line (as a
    prefork child has for a moment while it exits); a follower must not give it a role."""
    import subprocess
    import time

    from fdleak.discovery.follow import Follower

    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdin is not None and parent.stdout is not None
    try:
        follower = Follower(pids=(parent.pid,))
        parent.stdin.write("\n")  # not yet: the follower must see the children arrive
        parent.stdin.flush()
        exiting, named = map(int, parent.stdout.readline().split())
        deadline = time.monotonic() + 10
        while Path(f"/proc/{exiting}/cmdline").read_bytes():
            assert time.monotonic() < deadline, "the main thread did not exit"
            time.sleep(0.05)
        tracked, _ = follower.refresh()
        roles = {c.pid: c.role for c in tracked}
        assert roles == {parent.pid: "process", named: "child"}
    finally:
        parent.stdin.close()
        parent.wait(10)
        parent.stdout.close()
