"""fdleak analyze as a user runs it: bad input, compressed and piped logs, real strace."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import analyze_json, need_tool, proc_fds, run_fdleak

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "leaky_worker.py"
SMALL = (
    '100 1.0 openat(AT_FDCWD, "/etc/a", O_RDONLY) = 3</etc/a>\n'
    '100 1.1 openat(AT_FDCWD, "/etc/b", O_RDONLY) = 4</etc/b>\n'
    "100 1.2 close(3</etc/a>) = 0\n"
)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("fdleak: ")
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0]


def test_missing_file(tmp_path: Path) -> None:
    assert_one_line_error(run_fdleak("analyze", str(tmp_path / "nope.txt")), "no such file")


def test_directory(tmp_path: Path) -> None:
    assert_one_line_error(run_fdleak("analyze", str(tmp_path)), "is a directory")


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert_one_line_error(run_fdleak("analyze", str(empty)), "is empty")


def test_binary_file(tmp_path: Path) -> None:
    assert_one_line_error(run_fdleak("analyze", "/bin/true"), "binary")


def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # not a missing install step: CI runs as root
        pytest.skip("root reads any file: permission cannot be denied")
    log = tmp_path / "secret.txt"
    log.write_text(SMALL)
    log.chmod(0)
    assert_one_line_error(run_fdleak("analyze", str(log)), "permission denied")


def test_log_without_fd_syscalls(tmp_path: Path) -> None:
    log = tmp_path / "reads.txt"
    log.write_text('100 1.0 read(3, "abc", 3) = 3\n100 1.1 write(1, "x", 1) = 1\n')
    assert_one_line_error(run_fdleak("analyze", str(log)), "no fd syscalls")


def test_not_strace_output(tmp_path: Path) -> None:
    log = tmp_path / "notes.txt"
    log.write_text("dear diary\ntoday nothing leaked\n")
    assert_one_line_error(run_fdleak("analyze", str(log)), "does not look like strace output")


def test_bad_option_value() -> None:
    proc = run_fdleak("analyze", "--min-count", "zero", "x.txt")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_truncated_last_line_gives_partial_result_and_warning(tmp_path: Path) -> None:
    log = tmp_path / "cut.txt"
    log.write_text(SMALL + '100 1.3 openat(AT_FDCWD, "/etc/c", O_RDO')
    status, report, _ = analyze_json(tmp_path, log)
    assert status == 0
    assert {(e["pid"], e["fd"]) for e in report["open_fds"]} == {(100, 4)}
    assert any("middle of a line" in w for w in report["warnings"])
    assert report["window"]["unparsed_lines"] == 1


def test_gzip_and_stdin_read_the_same(tmp_path: Path) -> None:
    plain = tmp_path / "t.txt"
    plain.write_text(SMALL)
    packed = tmp_path / "t.txt.gz"
    packed.write_bytes(gzip.compress(SMALL.encode()))
    _, from_plain, _ = analyze_json(tmp_path, plain)
    _, from_gzip, _ = analyze_json(tmp_path, packed)
    out = tmp_path / "stdin.json"
    proc = run_fdleak("analyze", "--json", str(out), "-", stdin=SMALL.encode())
    assert proc.returncode == 0, proc.stderr
    from_stdin = json.loads(out.read_text())
    assert from_plain["open_fds"] == from_gzip["open_fds"] == from_stdin["open_fds"]
    assert from_stdin["source"]["inputs"] == ["standard input"]


def test_json_to_stdout_is_only_json(tmp_path: Path) -> None:
    log = tmp_path / "t.txt"
    log.write_text(SMALL)
    proc = run_fdleak("analyze", "--json", "-", str(log))
    assert json.loads(proc.stdout)["schema"] == "fdleak.report/1"


@pytest.mark.strace
def test_real_strace_of_a_live_process_matches_proc(tmp_path: Path) -> None:
    """Ground truth: /proc/PID/fd of the traced process, read just before strace detaches."""
    strace = need_tool("strace")
    workload = tmp_path / "hold.py"
    workload.write_text(
        "import os, socket, sys, select, threading\n"
        f"d = {str(tmp_path)!r}\n"
        "sys.stdin.readline()  # go\n"
        "kept = [open(f'{d}/kept_{i}.txt', 'w') for i in range(5)]\n"
        "for i in range(20):\n"
        "    with open(f'{d}/tmp_{i}.txt', 'w') as f: f.write('x')\n"
        "r, w = os.pipe(); a, b = socket.socketpair(); ep = select.epoll(); ev = os.eventfd(0)\n"
        "dup = os.dup(r); os.dup2(w, 40); os.close(w)\n"
        "held = []\n"
        "t = threading.Thread(target=lambda: held.append(open(f'{d}/from_thread.txt', 'w'))); t.start(); t.join()\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()  # done\n"
    )
    log = tmp_path / "trace.txt"
    work = subprocess.Popen(
        [sys.executable, str(workload)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        close_fds=True,
    )
    tracer = None
    try:
        assert work.stdout is not None and work.stdin is not None
        before = set(proc_fds(work.pid))
        tracer = subprocess.Popen(
            [strace, "-f", "-ttt", "-y", "-s", "256", "-o", str(log), "-p", str(work.pid)],
            stderr=subprocess.PIPE,
            text=True,
        )
        assert tracer.stderr is not None
        assert "attached" in tracer.stderr.readline()  # strace: Process N attached
        work.stdin.write("go\n")
        work.stdin.flush()
        assert work.stdout.readline().strip() == "ready"
        truth = {fd: link for fd, link in proc_fds(work.pid).items() if fd not in before}
        tracer.send_signal(2)  # an attached strace detaches on SIGINT; the target goes on
        tracer.wait(timeout=20)
        status = Path(f"/proc/{work.pid}/status").read_text().split("TracerPid:")[1].split()[0]
        assert status == "0"
        work.stdin.write("done\n")
        work.stdin.flush()
        work.wait(timeout=20)
    finally:
        for proc in (tracer, work):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        for stream in (work.stdin, work.stdout, tracer.stderr if tracer else None):
            if stream is not None:
                stream.close()
    _, report, _ = analyze_json(tmp_path, log)
    seen = {e["fd"]: e for e in report["open_fds"] if e["pid"] == work.pid}
    assert set(seen) == set(truth)
    for fd, link in truth.items():
        if link.startswith("/"):
            assert seen[fd]["target"] == link
        elif link.startswith("pipe:"):
            assert (seen[fd]["kind"], seen[fd]["target"]) == ("pipe", link)
        elif "eventfd" in link:
            assert seen[fd]["kind"] == "eventfd"
        elif "eventpoll" in link:
            assert seen[fd]["kind"] == "epoll"
        elif link.startswith("socket:"):
            assert seen[fd]["kind"] == "socket"


@pytest.mark.strace
def test_example_worker_leak_is_found(tmp_path: Path) -> None:
    strace = need_tool("strace")
    log = tmp_path / "trace.txt"
    subprocess.run(
        [
            strace,
            "-f",
            "-ttt",
            "-y",
            "-s",
            "256",
            "-o",
            str(log),
            sys.executable,
            str(EXAMPLE),
            "--dir",
            str(tmp_path / "files"),
            "--tasks",
            "30",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    proc = run_fdleak("analyze", str(log))
    assert proc.returncode == 1, proc.stderr
    assert "leaky_task_file_*.txt" in proc.stdout
    _, report, _ = analyze_json(tmp_path, log)
    assert [leak["signature"].rsplit("/", 1)[-1] for leak in report["leaks"]] == ["leaky_task_file_*.txt"]
    leak = report["leaks"][0]
    assert leak["count"] == 20  # every third of 2 x 30 tasks
    assert len(leak["pids"]) == 2
    assert leak["confidence"] in ("high", "medium")


@pytest.mark.strace
def test_prefork_pool_with_recycled_children_is_not_a_leak(tmp_path: Path) -> None:
    """multiprocessing.Pool(maxtasksperchild=...) recycles children as Celery's prefork
    pool does: the parent's pipes come and go with them, and clean tasks leak nothing."""
    strace = need_tool("strace")
    workload = tmp_path / "pool.py"
    workload.write_text(
        "import multiprocessing as mp, os\n"
        f"d = {str(tmp_path)!r}\n"
        "def task(n):\n"
        "    with open(f'{d}/out_{n}.txt', 'w') as f: f.write('x')\n"
        "    return n\n"
        "if __name__ == '__main__':\n"
        "    mp.set_start_method('fork')\n"
        "    pool = mp.Pool(2, maxtasksperchild=4)\n"
        "    assert sum(pool.map(task, range(60), chunksize=1)) == sum(range(60))\n"
        "    os.kill(os.getpid(), 9)  # die with the pool's pipes open; children see EOF and exit\n"
    )
    log = tmp_path / "trace.txt"
    subprocess.run(
        [strace, "-f", "-ttt", "-y", "-s", "256", "-o", str(log), sys.executable, str(workload)],
        check=False,
        capture_output=True,
        timeout=120,
    )
    status, report, _ = analyze_json(tmp_path, log)
    assert status == 0, [(leak["signature"], leak["count"], leak["reason"]) for leak in report["leaks"]]
    assert len(report["processes"]) >= 1 + 60 // 4  # the children really were recycled
    parent = report["processes"][0]
    assert parent["exit_status"] == -9
    assert [g for g in report["groups"] if g["kind"] == "pipe" and parent["pid"] in g["pids"]]
    # open at its death, yet not a leak: at most "too few to judge"
    assert not [leak for leak in report["leaks"] if leak["confidence"] != "low"]
