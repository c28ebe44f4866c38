"""fdleak trace --celery on a real Celery prefork worker with a real Redis broker.

The worker's pool children exist before the attach (strace -f -p PARENT alone would miss
them); every task sent while traced must complete, and the report must agree with what
/proc shows each child holding.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from conftest import proc_fds, validate_report
from fdleak.procfs.ptrace import tracer_of
from services import celery_worker, redis_server
from tracing import tracing, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.strace]


def leaky_fds(pid: int) -> int:
    return sum(1 for link in proc_fds(pid).values() if "/leaky_task_file_" in link)


def test_trace_celery_finds_the_leaky_task_in_the_children_and_loses_no_task(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    with redis_server(tmp_path) as broker, celery_worker(tmp_path, broker) as worker:
        worker.send("clean_task", 20, 1)  # warm: the children have run a task before the attach
        wait_until(lambda: worker.succeeded("clean_task") >= 1, 30, "the warm-up task")
        children = worker.children()
        with tracing("--celery", worker.name, "--duration", "120", "--json", str(out)) as fdleak:
            traced = [worker.pid, *children]
            wait_until(lambda: all(tracer_of(pid) > 0 for pid in traced), 5, "strace to attach")
            sent = worker.send_and_wait(10, 4, "leaky_file_task", "clean_task")
            truth = {pid: leaky_fds(pid) for pid in children}
            fdleak.send_signal(signal.SIGINT)
            stdout, stderr = fdleak.communicate(timeout=30)
        wait_until(lambda: all(tracer_of(pid) == 0 for pid in traced), 1, "the worker to be untraced")
        assert worker.proc.poll() is None
    assert fdleak.returncode == 1, stdout + stderr
    report = json.loads(out.read_text())
    validate_report(report)
    assert set(report["source"]["pids"]) == {worker.pid, *children}
    (leak,) = report["leaks"]  # the clean task, the broker connection, the pool's pipes: no leak
    assert leak["kind"] == "file" and leak["signature"].endswith("/leaky_task_file_*.txt")
    assert leak["count"] == sum(truth.values()) == sent["leaky_file_task"] > 20
    assert set(leak["pids"]) == {pid for pid, n in truth.items() if n} and worker.pid not in leak["pids"]
    per_pid = {pid: 0 for pid in children}
    for entry in report["open_fds"]:
        if "/leaky_task_file_" in entry["target"]:
            per_pid[entry["pid"]] += 1
    assert per_pid == truth
    assert "leaky_task_file_*.txt" in stdout


def test_trace_celery_reports_within_moments_of_the_duration(tmp_path: Path) -> None:
    with redis_server(tmp_path) as broker, celery_worker(tmp_path, broker) as worker:
        with tracing("--celery", worker.name, "--duration", "6") as fdleak:
            attached = time.monotonic()
            sent = worker.send("leaky_file_task", 10, 4)
            stdout, _ = fdleak.communicate(timeout=60)
            ended = time.monotonic()
        wait_until(lambda: worker.succeeded("leaky_file_task") == sent, 30, "every task to succeed")
        assert all(tracer_of(pid) == 0 for pid in [worker.pid, *worker.children()])
    assert fdleak.returncode == 1
    assert "leaky_task_file_*.txt" in stdout
    # the report follows the end of the duration closely (generous bound: a loaded CI box)
    assert ended - attached < 6 + 3
