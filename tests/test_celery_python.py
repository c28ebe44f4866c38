"""Per-task attribution in a real Celery worker (prefork, solo, threads) with a real Redis broker.

The tasks (tests/celery_python/pytasks.py) leak one fd of each kind, or work cleanly, or
keep a cached connection; the report must name exactly the leaky tasks and the exact
line of each leaking call, and nothing else.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import validate_report
from services import celery_worker, redis_server
from tracing import tracing, wait_until

pytestmark = pytest.mark.redis

APP_DIR = Path(__file__).parent / "celery_python"
LEAKY = [
    "leak_file",
    "leak_socket",
    "leak_pipe",
    "leak_subprocess",
    "leak_socketpair",
    "leak_eventfd",
    # its retry runs clean (Celery skips after_return on a retry); sending the retry opens a
    # prefork child's producer pool, once: low confidence, beside the file leaked each run
    "leak_then_retry",
    "leak_under_own_hooks",  # its class's before_start/after_return never call Celery's
]
CLEAN = ["clean_file", "clean_socket", "cached_connection"]
RUNS = 3
KINDS = {
    "leak_file": {"file"},
    "leak_socket": {"socket"},
    "leak_pipe": {"pipe"},
    "leak_subprocess": {"pipe"},
    "leak_socketpair": {"socket"},
    "leak_eventfd": {"eventfd"},
    "leak_then_retry": {"file"},
    "leak_under_own_hooks": {"eventfd"},
}


def leak_lines() -> dict[str, int]:
    """Task name -> the line of its "# LEAK:" call in pytasks.py."""
    lines = (APP_DIR / "pytasks.py").read_text().splitlines()
    return {m.group(1): n for n, text in enumerate(lines, 1) if (m := re.search(r"# LEAK: (\w+)", text))}


def send(env: dict[str, str], *tasks: str, runs: int = RUNS) -> int:
    args = [arg for task in tasks for arg in (task, str(runs))]
    subprocess.run([sys.executable, "send.py", *args], cwd=APP_DIR, env=env, check=True, capture_output=True)
    return len(tasks) * runs


def succeeded(log: Path) -> int:
    return log.read_text().count("] succeeded in ") if log.exists() else 0


def check_report(report: dict[str, Any], pool: set[int]) -> None:
    validate_report(report)
    assert report["source"]["mode"] == "python"
    serious = [leak for leak in report["leaks"] if leak["confidence"] in ("high", "medium")]
    by_task: dict[str, list[dict[str, Any]]] = {}
    for leak in serious:
        by_task.setdefault(leak["origin"]["task"], []).append(leak)
    assert set(by_task) == {f"pytasks.{name}" for name in LEAKY}, sorted(by_task)
    lines = leak_lines()
    for name in LEAKY:
        leaks = by_task[f"pytasks.{name}"]
        assert {leak["kind"] for leak in leaks} == KINDS[name], (name, leaks)
        for leak in leaks:
            # outermost first, the creating call last: the task's own frame, then the library's
            mine = [f for f in leak["origin"]["frames"] if Path(f["file"]).name == "pytasks.py"]
            assert mine and (mine[-1]["line"], mine[-1]["function"]) == (lines[name], name), (
                name,
                leak["origin"],
            )
            assert set(leak["pids"]) <= pool
        fds_per_run = 2 if name in ("leak_pipe", "leak_socketpair") else 1
        assert sum(leak["count"] for leak in leaks) == RUNS * fds_per_run, (name, leaks)
    # a cached connection kept by one run per process is never more than low confidence
    cached = [leak for leak in report["leaks"] if leak["origin"]["task"] == "pytasks.cached_connection"]
    assert all(leak["confidence"] == "low" for leak in cached)
    assert not [
        leak
        for leak in report["leaks"]
        if leak["origin"]["task"] in ("pytasks.clean_file", "pytasks.clean_socket")
    ]


@pytest.mark.parametrize(
    "pool", [(), ("-P", "solo"), ("-P", "threads", "-c", "4")], ids=["prefork", "solo", "threads"]
)
def test_fdleak_celery_names_each_leaky_task_and_line(tmp_path: Path, pool: tuple[str, ...]) -> None:
    out = tmp_path / "merged.json"
    reports = tmp_path / "reports"
    prefix = (
        sys.executable,
        "-m",
        "fdleak",
        "celery",
        "--report-dir",
        str(reports),
        "--json",
        str(out),
        "--",
    )
    with (
        redis_server(tmp_path) as broker,
        celery_worker(tmp_path, broker, *pool, app="pytasks", app_dir=APP_DIR, prefix=prefix) as worker,
    ):
        sent = send(worker.env, *LEAKY, *CLEAN)
        log = tmp_path / f"{worker.name}.log"
        wait_until(lambda: succeeded(log) >= sent, 60, "every task to succeed")
        processes = {
            int(p)
            for p in subprocess.run(
                ["pgrep", "-f", worker.name], capture_output=True, text=True
            ).stdout.split()
        }
    wait_until(out.exists, 30, "fdleak celery to write the merged report")
    check_report(json.loads(out.read_text()), processes)
    text = log.read_text()
    line = leak_lines()["leak_file"]
    assert re.search(
        rf"task pytasks\.leak_file\[[-\w]+\] leaked 1 file descriptor:\n\s+fd \d+ file \S+report_\S+\.csv, opened at \S*pytasks\.py:{line} in leak_file",
        text,
    ), text[-2000:]
    assert not re.search(r"task pytasks\.clean_(file|socket)\[", text)  # clean tasks: no warning


def test_install_in_the_app_module_writes_per_process_reports(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    env = {"FDLEAK_TEST_INSTALL": "1", "FDLEAK_REPORT_DIR": str(reports)}
    with (
        redis_server(tmp_path) as broker,
        celery_worker(tmp_path, broker, app="pytasks", app_dir=APP_DIR, env_extra=env) as worker,
    ):
        sent = send(worker.env, "leak_file", "clean_file")
        log = tmp_path / f"{worker.name}.log"
        wait_until(lambda: succeeded(log) >= sent, 60, "every task to succeed")
        children = set(worker.children())
        time.sleep(0.2)
    files = sorted(reports.glob("fdleak-python-*.json"))
    assert files and {int(f.stem.rsplit("-", 1)[1]) for f in files} <= children
    merged = subprocess.run(
        [sys.executable, "-m", "fdleak", "merge", "--json", "-", str(reports)], capture_output=True, text=True
    )
    assert merged.returncode == 1, merged.stderr
    report = json.loads(merged.stdout)
    validate_report(report)
    (leak,) = [leak for leak in report["leaks"] if leak["confidence"] != "low"]
    assert leak["origin"]["task"] == "pytasks.leak_file" and leak["count"] == RUNS
    assert leak["origin"]["frames"][-1]["line"] == leak_lines()["leak_file"]  # open() is the builtin


@pytest.mark.strace
def test_analyze_joins_the_trackers_task_and_line_to_the_strace_leak(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    log = tmp_path / "trace.txt"
    prefix = (sys.executable, "-m", "fdleak", "celery", "-q", "--report-dir", str(reports), "--")
    with (
        redis_server(tmp_path) as broker,
        celery_worker(tmp_path, broker, app="pytasks", app_dir=APP_DIR, prefix=prefix) as worker,
    ):
        send(worker.env, "clean_file", runs=2)  # warm: both children have run a task
        wait_until(lambda: succeeded(tmp_path / f"{worker.name}.log") >= 2, 60, "the warm-up")
        with tracing("--celery", worker.name, "--duration", "120", "--keep-trace", str(log)) as fdleak:
            sent = 2 + send(worker.env, "leak_file", runs=12)
            wait_until(lambda: succeeded(tmp_path / f"{worker.name}.log") >= sent, 60, "every task")
            fdleak.send_signal(signal.SIGINT)
            fdleak.communicate(timeout=30)
    proc = subprocess.run(
        [sys.executable, "-m", "fdleak", "analyze", "--json", "-", str(log), "--python", str(reports)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    validate_report(report)
    (leak,) = report["leaks"]
    assert leak["signature"].endswith("/report_*_*.csv") or leak["signature"].endswith("/report_*.csv")
    assert leak["count"] == 12 and leak["origin"]["task"] == "pytasks.leak_file"
    mine = [f for f in leak["origin"]["frames"] if Path(f["file"]).name == "pytasks.py"]
    assert mine[-1]["line"] == leak_lines()["leak_file"]
    text = subprocess.run(
        [sys.executable, "-m", "fdleak", "analyze", str(log), "--python", str(reports)],
        capture_output=True,
        text=True,
    ).stdout
    assert f"pytasks.py:{leak_lines()['leak_file']} in leak_file, in task pytasks.leak_file" in text
