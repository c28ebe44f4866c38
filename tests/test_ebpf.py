"""The ebpf backend: real bpftrace on the kernel's tracepoints, against real processes.

The same accuracy checks as the strace backend: the tree workload (threads, a child that
existed before, fds from before) against /proc/PID/fd, leaky and clean programs under
`fdleak run` next to the strace backend's report, a real Celery prefork worker with
Redis; then safety (SIGKILL of fdleak leaves no bpftrace) and the requirement errors.
bpftrace takes a second or two to start here, so every test starts it once at most.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import need, need_tool, proc_fds, run_cli_as_nobody, run_fdleak, validate_report
from fdleak.model.events import FdEvent, Op
from fdleak.pipeline.ebpf import _Alive
from fdleak.procfs.process import has_exited
from fdleak.sources.bpftrace.records import Reader
from services import celery_worker, redis_server
from test_cli_trace import import_modules, tree
from tracing import check_tree_report, tracing, wait_until

pytestmark = pytest.mark.ebpf

LEAKY = """
import os, socket, threading
keep = []
def in_a_thread():
    keep.append(socket.socket())
    r, w = os.pipe()
    os.close(r)
    os.close(w)
for i in range(12):
    keep.append(open(os.path.join({dir!r}, f"kept_{{i}}.txt"), "w"))
    with open(os.path.join({dir!r}, "closed.txt"), "w") as f:
        f.write("x")
    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
child = os.fork()
if child == 0:
    for i in range(9):
        keep.append(open(os.path.join({dir!r}, f"child_{{i}}.txt"), "w"))
    os._exit(0)
os.waitpid(child, 0)
print("done", flush=True)
os._exit(3)
"""

CLEAN = """
import os, socket
for i in range(20):
    with open(os.path.join({dir!r}, "clean.txt"), "w") as f:
        f.write("x")
    s = socket.socket()
    s.close()
    r, w = os.pipe()
    os.close(r)
    os.close(w)
"""


def need_ebpf() -> None:
    need_tool("bpftrace")
    need(os.geteuid() == 0, "the ebpf backend needs root")
    need(os.path.isdir("/sys/kernel/tracing/events/raw_syscalls"), "tracefs is not mounted")


def script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text.format(dir=str(tmp_path)))
    return str(path)


def leaks_of(report: dict[str, Any]) -> set[tuple[str, str, int, int]]:
    """(kind, signature, count, number of pids) of each leak above low confidence."""
    return {
        (leak["kind"], leak["signature"], leak["count"], len(leak["pids"]))
        for leak in report["leaks"]
        if leak["confidence"] != "low"
    }


def children_of(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            found += [int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            continue
    return found


def run_both(tmp_path: Path, program: str, said: str, *options: str) -> list[dict[str, Any]]:
    """The reports of ``fdleak run [options] -- python program`` with the ebpf backend, then
    strace: each found a leak, the program printed "done", fdleak said ``said``."""
    reports = []
    for backend in ("ebpf", "strace"):
        out = tmp_path / f"{backend}.json"
        proc = run_fdleak(
            "run", "--backend", backend, *options, "--json", str(out), "--", sys.executable, program
        )
        assert proc.returncode == 1 and "done" in proc.stdout and said in proc.stderr, proc.stderr
        reports.append(json.loads(out.read_text()))
        validate_report(reports[-1])
    return reports


def test_run_ebpf_agrees_with_strace_on_a_leaky_forking_threaded_program(tmp_path: Path) -> None:
    need_ebpf()
    need_tool("strace")
    program = script(tmp_path, "leaky.py", LEAKY)
    ebpf, strace = run_both(tmp_path, program, "exited with status 3")
    assert ebpf["source"]["mode"] == "ebpf" and ebpf["source"]["command"] == [sys.executable, program]
    assert leaks_of(ebpf) == leaks_of(strace)
    signatures = {signature.rpartition("/")[2]: count for _, signature, count, _ in leaks_of(ebpf)}
    assert signatures == {"kept_*.txt": 12, "child_*.txt": 9, "TCP": 12}
    # the thread's sockets are the parent's; its pipes were all closed
    assert not [leak for leak in ebpf["leaks"] if leak["kind"] == "pipe"]
    assert ebpf["processes"][0]["exit_status"] == 3
    assert [p["parent"] for p in ebpf["processes"][1:]] == [ebpf["processes"][0]["pid"]]
    assert ebpf["window"]["lost_events"] == 0 and not ebpf["warnings"]
    # the same fds left open, process by process (strace also sees setpriv, fdleak's
    # wrapper, open and close some before it execs the command)
    assert [p["opened"] - p["closed"] for p in ebpf["processes"]] == [
        p["opened"] - p["closed"] for p in strace["processes"]
    ]
    assert ebpf["processes"][0]["opened"] > 150  # the interpreter's start-up, from its first call


CHURN = """
import os, socket
keep = []
for i in range(300):
    os.close(os.open("/etc/hostname", os.O_RDONLY))
    if i % 6 == 0:
        r, w = os.pipe()
        os.close(r)
        os.close(w)
        a, b = socket.socketpair()
        a.close()
        b.close()
    if i % 10 == 0:
        f = open(os.path.join({dir!r}, f"kept_{{i}}.txt"), "w")
        if i % 20:
            f.close()  # half of them: pairs of the leaky group itself
        else:
            keep.append(f)
r, w = os.pipe()
os.close(w)  # one end closed, the other still open when the program exits
print("done", flush=True)
os._exit(0)  # no interpreter shutdown, which would close the kept files
"""


def test_pairs_closed_at_once_are_counted_in_the_kernel_not_printed(tmp_path: Path) -> None:
    """A single-threaded process that opens and closes fds one at a time: the kernel holds
    each create and counts the pair when it is closed, so bpftrace prints a fraction of
    the events; the report's counts still agree with strace, which saw every call."""
    need_ebpf()
    need_tool("strace")
    program = script(tmp_path, "churn.py", CHURN)
    ebpf, strace = run_both(tmp_path, program, "", "--no-python")
    kept = [[(leak["count"], leak["opened"], leak["closed"]) for leak in r["leaks"]] for r in (ebpf, strace)]
    assert kept == [[(15, 30, 15)]] * 2  # open() and close() pair too
    # fds left open at the exit, process by process: the same (strace's first process is
    # fdleak's setpriv wrapper, which execs the command)
    assert [p["opened"] - p["closed"] for p in ebpf["processes"]] == [
        p["opened"] - p["closed"] for p in strace["processes"]
    ]
    (process,) = ebpf["processes"]
    # every call counted: 300 + 2 x 50 + 2 x 50 + 30 + 2 creates at least, and their closes
    assert process["opened"] >= 532 and process["closed"] >= 515
    # ...yet most never printed: the window counts far more events than records read
    assert ebpf["window"]["lines"] * 2 < ebpf["window"]["events"], ebpf["window"]
    assert ebpf["window"]["lost_events"] == 0


UNIQUE = """
import os
for i in range(5000):  # more paths of their own than bpftrace's maps take keys (4,096)
    open(os.path.join({dir!r}, f"report_{{i}}.csv"), "w").close()
keep = [open(os.path.join({dir!r}, f"report_{{i}}.csv"), "w") for i in range(5000, 5012)]
print("done", flush=True)
os._exit(0)
"""


def test_pairs_past_what_the_kernel_map_takes_are_printed_not_lost(tmp_path: Path) -> None:
    need_ebpf()
    program = script(tmp_path, "unique.py", UNIQUE)
    out = tmp_path / "report.json"
    proc = run_fdleak(
        "run", "--backend", "ebpf", "--no-python", "--json", str(out), "--", sys.executable, program
    )
    assert "done" in proc.stdout, proc.stderr
    # (12 kept at the very end of 5,012: whether that is a leak is not the question here)
    (group,) = [g for g in json.loads(out.read_text())["groups"] if g["signature"].endswith("/report_*.csv")]
    assert (group["count"], group["opened"], group["closed"]) == (12, 5012, 5000)


def test_run_ebpf_of_a_clean_program_finds_nothing(tmp_path: Path) -> None:
    need_ebpf()
    program = script(tmp_path, "clean.py", CLEAN)
    proc = run_fdleak("run", "--backend", "ebpf", "--json", "-", "--", sys.executable, program)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert report["leaks"] == []
    (process,) = report["processes"]
    assert process["opened"] >= 60 and process["exit_status"] == 0
    assert "tracing with bpftrace (ebpf backend)" in proc.stderr


def test_trace_ebpf_rebuilds_the_tree_exactly_and_reports_only_the_windows_leaks(tmp_path: Path) -> None:
    need_ebpf()
    out = tmp_path / "report.json"
    with tree(tmp_path) as target:
        before = {pid: proc_fds(pid) for pid in (target.pid, target.child)}
        with tracing(
            "-p", str(target.pid), "--backend", "ebpf", "--duration", "60", "--json", str(out)
        ) as fdleak:
            new_children = []
            for burst in range(5):
                if burst:
                    time.sleep(0.3)  # the heartbeats work in between
                new_children.append(target.burst())
            pids = (target.pid, target.child, *new_children)
            target.command("pause")
            truth = {pid: proc_fds(pid) for pid in pids}
            time.sleep(0.5)  # bpftrace prints what it holds within its reorder window
            fdleak.send_signal(signal.SIGINT)
            stdout, stderr = fdleak.communicate(timeout=30)
            target.command("resume")
        assert fdleak.returncode == 1, stdout + stderr
        target.wait_beating()  # the traced processes still open files
    report = json.loads(out.read_text())
    validate_report(report)
    assert report["source"]["mode"] == "ebpf"
    check_tree_report(report, target.pid, target.child, before, truth, new_children)
    assert "ebpf backend" in stderr and "leak_parent" in stdout


SHARED_FDS = Path(__file__).parent / "trace_workloads" / "shared_fds.py"
HANDOFFS = Path(__file__).parent / "trace_workloads" / "handoffs.py"
EVERY_KIND = Path(__file__).parent / "trace_workloads" / "every_kind.py"


def traced_to_its_end(script: Path, *args: str) -> dict[int, dict[int, str]]:
    """``script ARGS`` (it says "ready", waits for a line, works, says "done" and the pids of
    its tree, and waits for a line), traced by ``trace -p --backend ebpf`` from "ready" on:
    the report's fds open at the end must be /proc's then (less those from before),
    process by process. Returns /proc's fds by pid, the script's own first."""
    out = Path(args[0]) / "report.json"
    proc = subprocess.Popen(
        [sys.executable, str(script), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        before = proc_fds(proc.pid)
        with tracing(
            "-p", str(proc.pid), "--backend", "ebpf", "--duration", "60", "--json", str(out)
        ) as fdleak:
            proc.stdin.write("go\n")
            proc.stdin.flush()
            done, *pids = proc.stdout.readline().split()
            assert done == "done" and int(pids[0]) == proc.pid
            truth = {int(pid): proc_fds(int(pid)) for pid in pids}
            fdleak.send_signal(signal.SIGINT)
            fdleak.communicate(timeout=30)
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
        proc.stdout.close()
    report = json.loads(out.read_text())
    validate_report(report)
    assert report["window"]["lost_events"] == 0
    for pid, now in truth.items():
        # (a child's copies of fds from before the attach are from before too)
        expected = {fd: link for fd, link in now.items() if before.get(fd) != link}
        reported = {e["fd"]: e["target"] for e in report["open_fds"] if e["pid"] == pid}
        differ = {fd: (reported.get(fd), expected.get(fd)) for fd in set(reported) ^ set(expected)}
        assert not differ, (pid, differ)
        for fd, link in expected.items():
            if link.startswith("/"):
                # (a memfd is in no directory: its link says " (deleted)", its name does not)
                named = link.removesuffix(" (deleted)") if link.startswith("/memfd:") else link
                assert reported[fd] == named, (pid, fd)
    return truth


def test_trace_ebpf_names_every_kind_of_fd(tmp_path: Path) -> None:
    """Each call the program prints, its arguments read where the kernel saved them (strings
    as hashes and their text once): files, a directory, a memfd, UNIX sockets on a path and
    an abstract name, TCP and UDP, eventfd, epoll, pidfd, inotify, timerfd, signalfd, dups by
    fcntl and dup3, a pipe end received with SCM_RIGHTS. The fds are /proc's, each named as
    fdleak names it (an accepted UNIX socket whose peer never bound as strace's backend
    does). Then closes of numbers never opened, which print nothing."""
    need_ebpf()
    traced_to_its_end(EVERY_KIND, str(tmp_path))
    report = json.loads((tmp_path / "report.json").read_text())
    reported = {e["fd"]: e["target"] for e in report["open_fds"]}
    names = {int(fd): text for fd, text in json.loads((tmp_path / "names.json").read_text()).items()}
    assert {fd: reported.get(fd) for fd in names} == names
    # its 2,000 closes of numbers never opened printed nothing (a record each would flood
    # bpftrace's buffer when a program closes every number up to its limit)
    assert report["window"]["lines"] < 100


def test_trace_ebpf_is_exact_when_threads_name_each_others_held_fds(tmp_path: Path) -> None:
    """Creates the kernel holds back per thread, in a process whose other threads close,
    dup, dup2 onto, connect, ioctl, close_range and fork them, close a pipe's end, or close
    one whose number a second holder then makes again, while the holders wait past the
    reader's reorder window; then producer threads whose files consumer threads close.
    (Each part of the kernel's protocol, left out, fails this test.)"""
    need_ebpf()
    truth = traced_to_its_end(SHARED_FDS, str(tmp_path))
    parent, keeper, worker = truth
    names = {pid: {link.rpartition("/")[2] for link in fds.values()} for pid, fds in truth.items()}
    # the dup of a held file, the file made inheritable; the keeper's copies of what the
    # threads held when it was forked; the worker's handed files
    assert {"dup_source.txt", "inheritable.txt"} <= names[parent]
    assert {"inherited.txt", "dup_source.txt", "own.txt"} <= names[keeper]
    assert len([link for link in truth[worker].values() if "/handed_" in link]) >= 80  # of 900


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_trace_ebpf_is_exact_when_threads_hand_fds_to_each_other(tmp_path: Path, seed: int) -> None:
    """Eight threads make fds (files, pipes, socketpairs, sockets), close, dup and dup2
    them and hand them to each other, as the random steps of ``seed`` say; twice a child is
    forked while they wait."""
    need_ebpf()
    truth = traced_to_its_end(HANDOFFS, str(tmp_path), str(seed))
    assert len(truth) > 1 and sum(len(fds) for fds in truth.values()) > 100  # children, fds


def test_sigkill_of_fdleak_leaves_no_bpftrace_and_the_target_runs_on(tmp_path: Path) -> None:
    need_ebpf()
    with (
        tree(tmp_path) as target,
        tracing("-p", str(target.pid), "--backend", "ebpf", "--duration", "60") as fdleak,
    ):
        (bpftrace,) = [
            p for p in children_of(fdleak.pid) if "bpftrace" in Path(f"/proc/{p}/comm").read_text()
        ]
        fdleak.kill()
        fdleak.wait()
        wait_until(lambda: not os.path.exists(f"/proc/{bpftrace}"), 10, "bpftrace to die with fdleak")
        target.wait_beating()
        assert target.proc.poll() is None


def test_trace_ebpf_ends_with_its_last_target_and_reports_what_was_seen(tmp_path: Path) -> None:
    need_ebpf()
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
    with tracing("-p", str(proc.pid), "--backend", "ebpf", "--duration", "60", "--json", str(out)) as fdleak:
        proc.stdin.write("go\n")
        proc.stdin.close()
        assert proc.wait(timeout=10) == 4
        fdleak.communicate(timeout=30)  # the trace ends with its last target: not after 60 s
    proc.stdout.close()
    assert fdleak.returncode == 1
    report = json.loads(out.read_text())
    (process,) = report["processes"]
    assert process["exited"] and process["exit_status"] == 4
    (leak,) = report["leaks"]
    assert leak["signature"].endswith("/gone_*.txt") and leak["count"] == 15


def test_duration_bounds_a_run_and_ends_the_command(tmp_path: Path) -> None:
    need_ebpf()
    program = tmp_path / "forever.py"
    program.write_text(
        "import time\nkeep = []\nwhile True:\n    keep.append(open('/etc/hostname'))\n    time.sleep(0.05)\n"
    )
    started = time.monotonic()
    proc = run_fdleak(
        "run", "--backend", "ebpf", "--duration", "2s", "--json", "-", "--", sys.executable, str(program)
    )
    assert time.monotonic() - started < 20
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert any("stopped before the command ended" in w for w in report["warnings"])
    assert report["leaks"][0]["signature"] == "/etc/hostname"
    assert not [
        pid
        for pid in os.listdir("/proc")
        if pid.isdigit() and str(program).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def test_trace_celery_ebpf_finds_the_leaky_task_as_strace_does(tmp_path: Path) -> None:
    need_ebpf()
    need_tool("redis-server")
    out = tmp_path / "report.json"
    with redis_server(tmp_path) as broker, celery_worker(tmp_path, broker) as worker:
        worker.send("clean_task", 20, 1)
        wait_until(lambda: worker.succeeded("clean_task") >= 1, 30, "the warm-up task")
        children = worker.children()
        args = ("--celery", worker.name, "--backend", "ebpf", "--duration", "120", "--json", str(out))
        with tracing(*args) as fdleak:
            sent = worker.send_and_wait(10, 3, "leaky_file_task", "clean_task")
            truth = {
                pid: sum(1 for link in proc_fds(pid).values() if "/leaky_task_file_" in link)
                for pid in children
            }
            time.sleep(0.5)
            fdleak.send_signal(signal.SIGINT)
            stdout, stderr = fdleak.communicate(timeout=30)
        assert worker.proc.poll() is None
    assert fdleak.returncode == 1, stdout + stderr
    report = json.loads(out.read_text())
    validate_report(report)
    assert report["source"]["mode"] == "ebpf"
    # what tests/test_celery_trace.py asserts of the strace backend: one leak, in the children
    (leak,) = report["leaks"]
    assert leak["kind"] == "file" and leak["signature"].endswith("/leaky_task_file_*.txt")
    assert leak["count"] == sum(truth.values()) == sent["leaky_file_task"] > 15
    assert set(leak["pids"]) == {pid for pid, n in truth.items() if n} and worker.pid not in leak["pids"]


def test_a_process_whose_exit_line_was_lost_still_ends_the_trace() -> None:
    # with a full perf buffer the exit line itself can be dropped: /proc must end the trace
    ended = subprocess.Popen([sys.executable, "-c", "pass"])  # not reaped yet: a zombie
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        wait_until(lambda: _state(ended.pid) == "Z", 10, "the child to end")
        alive = _Alive(ended.pid, running.pid)
        emptied = threading.Event()
        alive.on_empty = emptied.set
        with alive.swept(every=0.05):
            wait_until(lambda: alive.pids == {running.pid}, 10, "the ended child to be swept")
            assert not emptied.wait(0.5)  # one still runs
            running.kill()
            running.wait()  # reaped: gone from /proc altogether
            assert emptied.wait(10)
    finally:
        for child in (ended, running):
            child.kill()
            child.wait()


def test_a_leader_that_ended_before_its_threads_has_not_exited() -> None:
    program = (
        "import ctypes, threading, time\n"
        "threading.Thread(target=time.sleep, args=(3,)).start()\n"
        "ctypes.CDLL(None).pthread_exit(None)\n"  # the leader ends; its thread runs on
    )
    child = subprocess.Popen([sys.executable, "-c", program])
    try:
        wait_until(lambda: _state(child.pid) == "Z", 10, "the leader to end")
        assert not has_exited(child.pid)
        wait_until(lambda: has_exited(child.pid), 10, "the process to end")
    finally:
        child.kill()
        child.wait()


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


def test_events_bpftrace_drops_are_counted_and_said(tmp_path: Path) -> None:
    need_ebpf()
    program = tmp_path / "burst.py"
    program.write_text(
        "import os, threading\n"
        "def work():\n"
        "    for i in range(20000):\n"
        "        os.close(os.dup(0))  # a dup is never held back: both calls are printed\n"
        "threads = [threading.Thread(target=work) for _ in range(2)]\n"
        "for t in threads:\n    t.start()\n"
        "for t in threads:\n    t.join()\n"
    )
    out = tmp_path / "report.json"
    # a one-page perf buffer per CPU (bpftrace's own setting): it cannot keep up
    env = dict(os.environ, BPFTRACE_PERF_RB_PAGES="1", COLUMNS="120", NO_COLOR="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fdleak",
            "run",
            "--backend",
            "ebpf",
            "--json",
            str(out),
            "--",
            sys.executable,
            str(program),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    validate_report(report)
    lost = report["window"]["lost_events"]
    assert lost > 0
    assert f"bpftrace lost {lost} event(s) (its perf buffer was full)" in proc.stderr
    assert f"{lost:,} lost" in proc.stdout.splitlines()[0]


def test_tracepoint_perf_events_stop_sampling_and_the_probes_run_on() -> None:
    """Once bpftrace is attached, its tracepoints' perf events are disabled (perf_events.py),
    not the perf buffers it prints through: every close made after that is still printed."""
    from fdleak.sources.bpftrace.launch import run_bpftrace
    from fdleak.system import find_bpftrace

    need_ebpf()
    target = subprocess.Popen(
        [sys.executable, "-c", "import os, sys\nsys.stdin.readline()\n"
         "for _ in range(50):\n    os.close(os.open('/dev/null', os.O_RDONLY))\n"],
        stdin=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert target.stdin is not None
    program = (
        f'tracepoint:raw_syscalls:sys_exit /pid == {target.pid} && args->id == 3/ {{ printf("close\\n"); }}\n'
        f'tracepoint:sched:sched_process_exit /pid == {target.pid}/ {{ printf("exit\\n"); }}\n'
    )
    with run_bpftrace(find_bpftrace().path, program) as trace:
        assert trace.wait_attached()
        assert trace.quieted == 2  # the two tracepoints' events; the output buffers refused a filter
        target.stdin.write("go\n")
        target.stdin.close()
        assert target.wait(timeout=30) == 0
        trace.stop()
        lines = [line.strip() for line in trace.lines()]
    assert lines.count("close") >= 50 and lines.count("exit") == 1, lines


def opens_traced(tmp_path: Path, program: Callable[[int], str]) -> tuple[list[int], list[FdEvent], Reader]:
    """A program that opens 20 files, keeps every fourth and closes the others, traced from
    before its first open by bpftrace running ``program(pid)``: the fds it kept, its events,
    and the reader that read them."""
    from fdleak.sources.bpftrace.launch import run_bpftrace
    from fdleak.system import find_bpftrace

    target = subprocess.Popen(
        [sys.executable, "-c", "import os, sys\nsys.stdin.readline()\nkeep = []\n"
         f"for i in range(20):\n    fd = os.open({str(tmp_path)!r} + f'/f{{i}}', os.O_CREAT | os.O_WRONLY)\n"
         "    keep.append(fd) if i % 4 == 0 else os.close(fd)\nprint(keep, flush=True)\nsys.stdin.readline()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert target.stdin is not None and target.stdout is not None
    with run_bpftrace(find_bpftrace().path, program(target.pid)) as trace:
        assert trace.wait_attached()
        target.stdin.write("go\n")
        target.stdin.flush()
        kept = json.loads(target.stdout.readline())
        target.stdin.close()
        target.stdout.close()
        assert target.wait(timeout=30) == 0
        trace.stop()
        reader = Reader(0.0)
        return kept, [e for e in reader.events(trace.lines()) if e.pid == target.pid], reader


def test_the_program_for_a_kernel_without_btf_loads_and_sees_every_call(tmp_path: Path) -> None:
    """Without the kernel's types (BTF) the program keeps each call's arguments in maps at its
    entry and holds nothing back: built that way here, it still loads, and every open and
    close of a program reaches the reader."""
    from fdleak.sources.bpftrace.program import build

    need_ebpf()
    kept, events, _ = opens_traced(tmp_path, lambda pid: build([pid], True, btf=False))
    created = [e.fd for e in events if e.op == Op.CREATE and e.target.startswith(str(tmp_path))]
    closed = [e.fd for e in events if e.op == Op.CLOSE and e.fd > 2]  # (not the standard streams)
    assert len(created) == 20 and set(kept) <= set(created) and len(closed) == 15


def test_calls_whose_arguments_are_not_found_are_counted_as_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a kernel that saves a task's registers elsewhere than the program looks, the exit
    probe prints nothing of a call (it cannot read its arguments) and counts it as lost; a
    close, printed at its entry, still goes out."""
    import fdleak.sources.bpftrace.program as program

    need_ebpf()
    monkeypatch.setattr(program, "_REGS_AT", (8,))  # no struct pt_regs there
    _, events, reader = opens_traced(tmp_path, lambda pid: program.build([pid], True, btf=True))
    assert not [e for e in events if e.op == Op.CREATE and e.target.startswith(str(tmp_path))]
    assert len([e for e in events if e.op == Op.CLOSE and e.fd > 2]) == 15
    assert reader.counts.lost >= 20


# -- requirements: one line each, exit status 2 ----------------------------------------------


# what the CLI imports, imported while still root: as uid 65534 the installed packages
# may not be readable
_CLI_MODULES = (
    "rich.console",
    "fdleak.cli.output",
    "fdleak.pipeline.backend",
    "fdleak.pipeline.trace",
    "fdleak.pipeline.live",
    "fdleak.pipeline.ebpf",
)


def test_not_root_is_one_line() -> None:
    import_modules(*_CLI_MODULES)
    status, _, stderr = run_cli_as_nobody(["trace", "--backend", "ebpf", "-p", "1", "--duration", "1"])
    assert status == 2
    assert stderr == (
        "fdleak: the ebpf backend needs root (or CAP_BPF and CAP_PERFMON); "
        "run fdleak as root, or use --backend strace\n"
    )


def test_auto_falls_back_to_strace_and_says_why(tmp_path: Path) -> None:
    strace = need_tool("strace")
    need(os.geteuid() == 0, "root: the permission check comes first")
    # a PATH with strace and true but no bpftrace
    for tool in (strace, "/bin/true"):
        (tmp_path / os.path.basename(tool)).symlink_to(tool)
    proc = subprocess.run(
        [sys.executable, "-m", "fdleak", "run", "--backend", "auto", "--", "true"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PATH=str(tmp_path)),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[0] == (
        "fdleak: --backend auto chose strace: ebpf is not available here (bpftrace is not installed)"
    )
    assert "tracing with strace" in proc.stderr and "no leak found" in proc.stdout


def test_keep_trace_is_for_strace() -> None:
    need_ebpf()
    proc = run_fdleak("trace", "--backend", "ebpf", "--keep-trace", "x.txt", "-p", "1")
    assert proc.returncode == 2
    assert proc.stderr == "fdleak: --keep-trace saves strace's output; drop it, or use --backend strace\n"


def test_no_fd_paths_is_for_strace() -> None:
    need_ebpf()
    proc = run_fdleak("run", "--backend", "ebpf", "--no-fd-paths", "--", "true")
    assert proc.returncode == 2
    assert proc.stderr == "fdleak: --no-fd-paths is an option of strace's; drop it, or use --backend strace\n"


def test_missing_bpftrace_is_one_line(tmp_path: Path) -> None:
    need(os.geteuid() == 0, "root: the permission check comes first")
    env = dict(os.environ, PATH=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "fdleak", "run", "--backend", "ebpf", "--", "true"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr == "fdleak: bpftrace is not installed; install it: apt-get install bpftrace\n"


def test_a_kernel_without_the_tracepoints_is_one_line(tmp_path: Path) -> None:
    need_ebpf()
    (tmp_path / "events" / "sched").mkdir(parents=True)  # a tracefs with no raw_syscalls
    proc = _with_tracefs(tmp_path, "run", "--backend", "ebpf", "--", "true")
    assert proc.returncode == 2
    assert proc.stderr == (
        "fdleak: this kernel has no sys_enter tracepoint; the ebpf backend needs the raw_syscalls "
        "and sched tracepoints (CONFIG_FTRACE_SYSCALLS); use --backend strace\n"
    )


def test_tracefs_that_cannot_be_mounted_is_one_line(tmp_path: Path) -> None:
    need_ebpf()
    where = tmp_path / "no" / "such" / "dir"
    proc = _with_tracefs(where, "run", "--backend", "ebpf", "--", "true")
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"fdleak: tracefs is not mounted at {where} and mounting it failed (")
    assert proc.stderr.endswith(f"); mount it as root: mount -t tracefs nodev {where}\n")
    assert proc.stderr.count("\n") == 1


def test_tracefs_is_mounted_when_missing(tmp_path: Path) -> None:
    need_ebpf()
    where = tmp_path / "tracing"
    where.mkdir()
    # in a mount namespace of its own: the machine's mounts stay as they were
    proc = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            sys.executable,
            "-m",
            "fdleak",
            "run",
            "--backend",
            "ebpf",
            "--",
            "true",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, FDLEAK_TRACEFS=str(where)),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no leak found" in proc.stdout
    assert not (where / "events").exists()  # the mount was the namespace's alone


def _with_tracefs(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fdleak", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, FDLEAK_TRACEFS=str(path)),
        timeout=60,
    )


# -- the reader, on bpftrace's own line shapes ------------------------------------------------


def test_reader_orders_by_kernel_time_counts_loss_and_cut_paths() -> None:
    long_path = "/tmp/" + "x" * 194  # 199 bytes: bpftrace's 200-byte strings end there
    lines = [
        "Attaching 8 probes...\n",
        "name 77 /etc/hostname\n",  # a string's text, once, with the first use of its hash
        "2000 11 10 close 3\n",  # read first, happened second (another CPU's buffer)
        "1000 11 10 openat 3 524288 77\n",
        "Lost 7 events\n",
        f"name 78 {long_path}\n",
        "3000 11 10 openat 4 0 78\n",
        "4000 11 10 connect 4 2 60184 16777343 0 0\n",
        # an AF_UNIX path and a memfd's name go out as hashes too
        "name 79 /run/app.sock\n",
        "5000 11 10 connect 4 1 0 16 0 79\n",
        "name 80 jit cache\n",
        "6000 11 10 memfd_create 5 1 80\n",
        "name 81\n",  # an empty one
        "7000 11 10 memfd_create 6 0 81\n",
        "\n",
        "@traced[10]: 1\n",
        "@noregs: 2\n",  # calls whose arguments the program did not find: lost
    ]
    reader = Reader(0.0)
    events = list(reader.events(iter(lines)))
    assert [(e.op.value, e.fd, e.target) for e in events] == [
        ("create", 3, "/etc/hostname"),
        ("close", 3, ""),
        ("create", 4, long_path + "..."),
        ("annotate", 4, "127.0.0.1:6379"),
        ("annotate", 4, "/run/app.sock"),
        ("create", 5, "/memfd:jit cache"),
        ("create", 6, "/memfd:"),
    ]
    assert events[0].cloexec and not events[2].cloexec and events[5].cloexec
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6, 7]
    counts = reader.counts
    assert (counts.lost, counts.truncated_paths, counts.unparsed, counts.lines) == (9, 1, 0, 7)


# thread 12 of process 10 made fds 5 and 6 with socketpair (53) at 3000; 6 is still open
# (bit 2), 5 was closed at 3500 (the state's bits above the two: held shared, by 12)
HELD_SOCKETPAIR = {"hv": f"(3000, 10, 5, 6, 1, 1, 53, {2 | 4 | 12 << 8})", "pct": "3500"}
HELD_OPENAT = {"hv": f"(4000, 20, 7, 0, 77, 0, 257, {1 | 20 << 8})", "pct": "100"}


def test_reader_turns_what_the_kernel_held_into_events_and_pairs() -> None:
    """What program.py holds back: a ``held`` line printed when its process moved on, and at
    bpftrace's exit its maps: pairs counted in @pairs, and the create still held (here a
    socketpair whose first end was closed already), each decoded as its own line would be."""
    from fdleak.model.kinds import FdKind

    lines = [
        "name 77 /etc/hostname\n",
        "1500 11 10 openat 3 524288 77\n",
        # openat's fields: fd 4, flags 0, path #77; then its one fd open, no end closed
        "2500 11 10 held 257 4 0 77 0 1 0\n",
        "2600 11 10 close 3\n",
        "2500 11 10 held 257 4 0 77 0 1 0\n",  # printed again (by another thread): kept once
        # thread 13's pipe (fds 8, 9, inode 41), printed by another thread with both ends
        # open, then by 13 itself once its end 8 was closed at 2800: one create, one close
        "2700 13 10 held 293 8 9 0 41 3 0\n",
        "2700 13 10 held 293 8 9 0 41 2 2800\n",
        "2700 13 10 held 293 8 9 0 41 2 2800\n",
        "@pairs[10, 11, 257, 524288, 77]: 5\n",  # openat(O_CLOEXEC) of /etc/hostname, 5 times
        "@pairs[10, 12, 257, 524288, 77]: 1\n",  # ... and once by thread 12
        "@pairs[10, 11, 293, 1, 0]: 2\n",  # two pipes, their inodes known, both ends closed
        "@pairs[10, 11, 293, 1, 0]: 0\n",  # counted, then printed after all: nothing
        # a hash of 2^63 or more: printed unsigned in its name line, signed in a map's key
        f"name {2**64 - 5} /tmp/x.csv\n",
        "@pairs[10, 11, 2, 65, -5]: 3\n",  # open(2) of /tmp/x.csv, three times
        # the socketpair still held at the exit: fds 5 and 6, 5 closed at 3500
        *(f"@{slot}[12]: {value}\n" for slot, value in HELD_SOCKETPAIR.items()),
        "@pairs[10, 11, 999, 0, 0]: 1\n",  # a call the program never holds: unparsed
        "5000 11 10 held 999 1 2 3 4 1 0\n",  # the same in a held line
        "name x77 /etc/hostname\n",  # a hash that is not a number
        # process 20 still holds an openat of fd 7; its @pct is left from an earlier pipe
        *(f"@{slot}[20]: {value}\n" for slot, value in HELD_OPENAT.items()),
    ]
    reader = Reader(0.0)
    events = list(reader.events(iter(lines)))
    assert [(e.ts * 1e9, e.pid, e.op.value, e.fd, e.target) for e in events] == [
        (1500, 11, "create", 3, "/etc/hostname"),
        (2500, 11, "create", 4, "/etc/hostname"),
        (2600, 11, "close", 3, ""),
        (2700, 13, "create", 8, "pipe:[41]"),
        (2700, 13, "create", 9, "pipe:[41]"),
        (2800, 13, "close", 8, ""),
        (3000, 12, "create", 5, "UNIX socketpair"),
        (3000, 12, "create", 6, "UNIX socketpair"),
        (3500, 12, "close", 5, ""),
        (4000, 20, "create", 7, "/etc/hostname"),  # and no close from the stale @pct
    ]
    assert events[0].cloexec and not events[1].cloexec
    assert {key: count for key, (count, _) in reader.pairs.items()} == {
        (10, FdKind.FILE, "/etc/hostname"): 6,
        (10, FdKind.PIPE, "pipe:[*]"): 4,  # two pipes: four fds, each opened and closed
        (10, FdKind.FILE, "/tmp/x.csv"): 3,
    }
    # lines: the printed ones kept (two held, a close), the pipe's close, and the three the
    # held slots stand for
    assert (reader.counts.unparsed, reader.counts.lines, reader.counts.events) == (3, 8, 10 + 2 * 13)


def test_lost_events_lower_confidence_and_show_in_the_report() -> None:
    import io

    from rich.console import Console

    from fdleak.model.report import Report
    from fdleak.pipeline.ebpf import _with_loss
    from fdleak.sources.bpftrace.records import Counts
    from fdleak.views.text import render

    leak = {"id": "L1", "kind": "file", "signature": "/tmp/x_*.txt", "count": 12, "opened": 12, "closed": 0}
    leak |= {"pids": [7], "rate_per_min": 1.0, "confidence": "high", "reason": "r", "examples": []}
    window = {"start": None, "end": None, "events": 40, "lines": 40, "unparsed_lines": 0, "lost_events": 3}
    report = Report.from_json({"source": {"mode": "ebpf"}, "window": window, "leaks": [leak]})
    lowered = _with_loss(report, Counts(lost=3))
    assert [leak.confidence for leak in lowered.leaks] == ["medium"]
    assert lowered.warnings == (
        "bpftrace lost 3 event(s) (its perf buffer was full): opens or closes may be missing, "
        "so each leak's confidence is one step lower",
    )
    assert lowered.to_json()["window"]["lost_events"] == 3
    out = io.StringIO()
    render(lowered, Console(file=out, width=120, no_color=True))
    assert "(40 lines, 40 fd events, 3 lost, 0 processes)" in out.getvalue()
