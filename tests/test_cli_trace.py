"""fdleak trace: real strace attached to a real running tree, checked against /proc.

The workload (tests/trace_workloads/tree.py) has threads, a child that existed before the
attach, and fds from before; the test makes it do known work while attached, then
compares fdleak's open fds with /proc/PID/fd.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import need, need_tool, proc_fds, run_cli_as_nobody, run_fdleak, validate_report
from fdleak.procfs.ptrace import TraceState, denial, tracer_of
from tracing import check_tree_report, tracing, wait_until

pytestmark = pytest.mark.strace

TREE = Path(__file__).parent / "trace_workloads" / "tree.py"


class Tree:
    def __init__(self, proc: subprocess.Popen[str], ready: dict[str, Any], directory: Path) -> None:
        self.proc = proc
        self.pid: int = ready["pid"]
        self.child: int = ready["child"]
        self.threads: list[int] = ready["threads"]
        self.dir = directory

    def tasks(self) -> list[int]:
        """Every thread of the parent and of the child, as /proc lists them now."""
        return [int(t) for pid in (self.pid, self.child) for t in os.listdir(f"/proc/{pid}/task")]

    def burst(self) -> int:
        """Make the tree do its known fd work; returns the new child's pid."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("burst\n")
        self.proc.stdin.flush()
        return int(json.loads(self.proc.stdout.readline())["new_child"])

    def command(self, word: str) -> None:
        """ "pause" or "resume" the heartbeats (paused: no fd in flight while /proc is read)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()
        assert json.loads(self.proc.stdout.readline())

    def heartbeats(self) -> dict[int, str]:
        return {pid: (self.dir / f"heartbeat_{pid}").read_text() for pid in (self.pid, self.child)}

    def wait_beating(self, timeout: float = 5.0) -> None:
        """Until every process of the tree has written its heartbeat again: a stopped or
        still-traced one never would (a shared VM now and then pauses both for 0.2 s)."""
        before = self.heartbeats()
        wait_until(
            lambda: all(now != before[p] for p, now in self.heartbeats().items()), timeout, "a heartbeat"
        )


@contextlib.contextmanager
def tree(tmp_path: Path) -> Iterator[Tree]:
    proc = subprocess.Popen(
        [sys.executable, str(TREE), str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield Tree(proc, json.loads(proc.stdout.readline()), tmp_path)
    finally:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()
        proc.wait(timeout=10)
        proc.stdout.close()


def import_modules(*names: str) -> None:
    for name in names:
        importlib.import_module(name)


def soft_limit(pid: int) -> int:
    (line,) = [
        x for x in Path(f"/proc/{pid}/limits").read_text().splitlines() if x.startswith("Max open files")
    ]
    return int(line.split()[3])


def test_trace_rebuilds_the_tree_exactly_and_reports_only_the_windows_leaks(tmp_path: Path) -> None:
    need_tool("strace")
    out = tmp_path / "report.json"
    with tree(tmp_path) as target:
        before = {pid: proc_fds(pid) for pid in (target.pid, target.child)}
        limit = soft_limit(target.pid)
        with tracing("-p", str(target.pid), "--duration", "60", "--json", str(out)) as fdleak:
            # every thread of both processes, the ones that existed before, is traced
            assert len(target.tasks()) >= 4
            wait_until(lambda: all(tracer_of(t) > 0 for t in target.tasks()), 5, "strace to attach")
            # the same work again and again: a leak is what climbs with work, not one batch
            new_children = []
            for burst in range(5):
                if burst:
                    time.sleep(0.3)  # the heartbeats work in between
                new_children.append(target.burst())
            pids = (target.pid, target.child, *new_children)
            target.command("pause")
            truth = {pid: proc_fds(pid) for pid in pids}
            fdleak.send_signal(signal.SIGINT)  # Ctrl-C: detach and report
            stdout, stderr = fdleak.communicate(timeout=30)
            target.command("resume")
        assert fdleak.returncode == 1, stdout + stderr
        wait_until(lambda: all(tracer_of(t) == 0 for t in target.tasks()), 1, "the tree to be untraced")
        target.wait_beating()  # the traced processes still open files
    report = json.loads(out.read_text())
    validate_report(report)
    assert report["source"]["mode"] == "strace"
    check_tree_report(report, target.pid, target.child, before, truth, new_children)
    processes = {p["pid"]: p for p in report["processes"]}
    assert processes[target.pid]["fd_soft_limit"] == limit
    assert "leak_parent" in stdout


def test_trace_ends_after_its_duration_and_leaves_the_target_untraced(tmp_path: Path) -> None:
    need_tool("strace")
    with tree(tmp_path) as target:
        started = time.monotonic()
        proc = run_fdleak("trace", "-p", str(target.pid), "--duration", "2")
        elapsed = time.monotonic() - started
        assert proc.returncode == 0, proc.stderr  # nothing leaked while only heartbeats ran
        assert all(tracer_of(t) == 0 for t in target.tasks())
        assert target.proc.poll() is None
    assert elapsed < 2 + 10  # the duration, plus start-up and the report
    assert "fdleak: tracing 2 process(es)" in proc.stderr
    assert "attach mode" in proc.stderr
    assert proc.stdout.startswith("fdleak: no leak found")


def test_sigterm_detaches_and_still_reports(tmp_path: Path) -> None:
    need_tool("strace")
    with tree(tmp_path) as target:
        with tracing("-p", str(target.pid), "--duration", "60") as fdleak:
            wait_until(lambda: all(tracer_of(t) > 0 for t in target.tasks()), 5, "strace to attach")
            # strace has a TZ: no stat of /etc/localtime per line (live.STRACE_TZ)
            environ = Path(f"/proc/{tracer_of(target.pid)}/environ").read_bytes().split(b"\0")
            assert b"TZ=UTC" in environ
            fdleak.send_signal(signal.SIGTERM)
            stdout, _ = fdleak.communicate(timeout=30)
        assert fdleak.returncode == 0
        assert "no leak found" in stdout
        wait_until(lambda: all(tracer_of(t) == 0 for t in target.tasks()), 1, "TracerPid 0")
        assert target.proc.poll() is None


def test_a_target_that_exits_mid_trace_is_reported_with_what_was_seen(tmp_path: Path) -> None:
    need_tool("strace")
    out = tmp_path / "report.json"
    program = tmp_path / "short.py"
    program.write_text(
        "import os, sys, time\nkeep = []\nprint('ready', flush=True)\nsys.stdin.readline()\n"
        f"for i in range(15):\n    keep.append(open('{tmp_path}/gone_%d.txt' % i, 'w'))\n"
        f"    with open('{tmp_path}/work.txt', 'w') as f:\n        f.write('x')\n    time.sleep(0.02)\n"
        "os._exit(4)  # no interpreter clean-up: the files stay open until the exit\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(program)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline().strip() == "ready"
    with tracing("-p", str(proc.pid), "--duration", "60", "--json", str(out)) as fdleak:
        proc.stdin.write("go\n")
        proc.stdin.close()
        assert proc.wait(timeout=10) == 4
        fdleak.communicate(timeout=30)  # strace ends with its last tracee: no need to wait 60 s
    proc.stdout.close()
    assert fdleak.returncode == 1
    report = json.loads(out.read_text())
    (process,) = report["processes"]
    assert process["exited"] and process["exit_status"] == 4
    (leak,) = report["leaks"]
    assert leak["signature"].endswith("/gone_*.txt") and leak["count"] == 15


def test_killing_fdleak_20_times_never_leaves_the_target_stopped_or_traced(tmp_path: Path) -> None:
    need_tool("strace")
    with tree(tmp_path) as target:
        for _ in range(20):
            with tracing("-p", str(target.pid), "--duration", "60") as fdleak:
                wait_until(lambda: all(tracer_of(t) > 0 for t in target.tasks()), 5, "strace to attach")
                fdleak.kill()
                fdleak.wait()
                wait_until(lambda: all(tracer_of(t) == 0 for t in target.tasks()), 1, "TracerPid 0")
            target.wait_beating()
        assert target.proc.poll() is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("trace",), "fdleak: nothing to trace; give -p PID, --celery or a PATTERN"),
        (("trace", "--celery", "no-such-worker-xyzzy"), "fdleak: no Celery worker found"),
        (("trace", "-p", "0"), "expected a process id of at least 1"),
        (("trace", "-p", "1", "--duration", "soon"), "expected a duration"),
    ],
)
def test_trace_bad_input(args: tuple[str, ...], message: str) -> None:
    proc = run_fdleak(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_trace_of_a_pid_that_does_not_exist(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    proc = run_fdleak("trace", "-p", str(gone.pid))
    assert (proc.returncode, proc.stderr.strip()) == (
        2,
        f"fdleak: no process with pid {gone.pid}; check the pid with: ps -p PID",
    )


def test_trace_without_strace_says_how_to_install_it() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fdleak", "trace", "-p", str(os.getpid())],
        capture_output=True,
        text=True,
        env=dict(os.environ, PATH="/nonexistent"),
        timeout=60,
    )
    assert (proc.returncode, proc.stderr.strip()) == (
        2,
        "fdleak: strace is not installed; install it: sudo apt-get install strace",
    )


def test_a_process_already_traced_is_refused_with_its_tracer(tmp_path: Path) -> None:
    strace = need_tool("strace")
    sleeper = subprocess.Popen(["sleep", "60"])
    other = subprocess.Popen([strace, "-o", os.devnull, "-p", str(sleeper.pid)], stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: tracer_of(sleeper.pid) == other.pid, 5, "the other strace")
        proc = run_fdleak("trace", "-p", str(sleeper.pid))
    finally:
        other.terminate()
        other.wait()
        sleeper.kill()
        sleeper.wait()
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"fdleak: cannot trace pid {sleeper.pid}: it is already traced by pid {other.pid} "
        f"(a debugger or another strace); stop that tracer first (ps -p {other.pid})"
    )


def test_another_users_process_is_refused_by_the_kernel_rules(tmp_path: Path) -> None:
    need_tool("strace")
    need(os.getuid() == 0, "dropping to another user needs root")
    sleeper = subprocess.Popen(["sleep", "60"])  # root's
    # imported while still root: the dropped child may not read root's site-packages
    import_modules("rich.console", "fdleak.pipeline.trace", "fdleak.cli.output")
    try:
        status, _, err = run_cli_as_nobody(["trace", "-p", str(sleeper.pid)])
    finally:
        sleeper.kill()
        sleeper.wait()
    assert status == 2
    assert err.strip() == (
        f"fdleak: cannot trace pid {sleeper.pid}: it belongs to uid 0 and fdleak runs as uid 65534 "
        "without CAP_SYS_PTRACE; run fdleak as that user or as root (sudo fdleak trace ...)"
    )


@pytest.mark.parametrize(
    ("scope", "own_uid", "has_cap", "expected"),
    [
        (None, 1000, False, None),  # no Yama, same user: allowed
        (0, 1000, False, None),
        (1, 1000, False, "kernel.yama.ptrace_scope is 1"),
        (1, 1000, True, None),  # CAP_SYS_PTRACE overrides scope 1
        (2, 0, True, None),
        (2, 1000, False, "kernel.yama.ptrace_scope is 2"),
        (3, 0, True, "kernel.yama.ptrace_scope is 3"),
        (0, 1001, False, "it belongs to uid 1000"),
    ],
)
def test_ptrace_rules(scope: int | None, own_uid: int, has_cap: bool, expected: str | None) -> None:
    target = TraceState(pid=42, uid=1000, tracer=0, threads=(42,))
    reason = denial(target=target, own_uid=own_uid, has_cap=has_cap, yama_scope=scope)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason[0]
