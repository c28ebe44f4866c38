"""ps --celery and watch --celery on a real Celery prefork worker with a real Redis broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_fdleak, validate_report
from services import celery_worker, redis_server

pytestmark = pytest.mark.redis


def test_ps_celery_shows_the_parent_and_its_prefork_children(tmp_path: Path) -> None:
    with redis_server(tmp_path) as broker, celery_worker(tmp_path, broker) as worker:
        proc = run_fdleak("ps", "--celery", worker.name, "--json", "-")
        children = worker.children()
        truth = {pid: len(list(Path(f"/proc/{pid}/fd").iterdir())) for pid in [worker.pid, *children]}
    assert proc.returncode == 0, proc.stderr
    rows = {row["pid"]: row for row in json.loads(proc.stdout)}
    assert set(rows) == {worker.pid, *children} and len(children) == 2
    assert rows[worker.pid]["role"] == "celery parent" and rows[worker.pid]["app"] == "tasks"
    for child in children:
        assert rows[child]["role"] == "celery child" and rows[child]["depth"] == 1
    for pid, row in rows.items():
        assert abs(row["fds"] - truth[pid]) <= 2  # read a moment apart from a live worker
        assert sum(count for _, count in row["kinds"]) == pytest.approx(row["fds"], abs=2)
        assert row["soft_limit"] > 0 and row["used"] == pytest.approx(row["fds"] / row["soft_limit"])


def test_watch_celery_finds_the_leaking_children_and_what_leaks(tmp_path: Path) -> None:
    with redis_server(tmp_path) as broker, celery_worker(tmp_path, broker) as worker:
        report_path = tmp_path / "watch.json"
        proc = worker.watch_while_producing(
            "leaky_file_task", 20, 14,
            "--interval", "0.5s", "--duration", "12s", "--json", str(report_path), "--csv", str(tmp_path / "watch.csv"),
        )  # fmt: skip
        children = worker.children()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads(report_path.read_text())
    validate_report(report)
    assert report["source"]["mode"] == "procfs" and report["source"]["pids"] == [worker.pid]
    leaks = [leak for leak in report["leaks"] if leak["confidence"] in ("high", "medium")]
    assert leaks and all(leak["signature"].endswith("/leaky_task_file_*.txt") for leak in leaks), leaks
    leaking = {pid for leak in leaks for pid in leak["pids"]}
    assert leaking and leaking <= set(children) and worker.pid not in leaking
    roles = {s["pid"]: s["role"] for s in report["series"]}
    assert roles[worker.pid] == "celery parent"
    assert all(roles[pid] == "celery child" for pid in leaking)
    assert "leaky_task_file_" in proc.stdout and "GROWING" in proc.stdout
    rows = (tmp_path / "watch.csv").read_text().splitlines()
    assert rows[0].startswith("time,pid,") and len(rows) > 40


def test_watch_celery_does_not_flag_clean_work_with_recycled_children(tmp_path: Path) -> None:
    # children replaced every 10 tasks: the parent's pipes to its children come and go
    with (
        redis_server(tmp_path) as broker,
        celery_worker(tmp_path, broker, "--max-tasks-per-child", "10") as worker,
    ):
        proc = worker.watch_while_producing(
            "clean_task", 20, 12, "--interval", "0.5s", "--duration", "10s", "--json", "-"
        )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    validate_report(report)
    assert report["leaks"] == []
    roles = [s["role"] for s in report["series"]]
    assert roles.count("celery parent") == 1
    assert roles.count("celery child") > 2  # recycled children were followed as new processes
    assert any(s["exited"] for s in report["series"])


def test_watch_celery_finds_a_leak_spread_over_recycled_children(tmp_path: Path) -> None:
    # each child leaks 8 files and is replaced: most live too briefly for a trend of their own
    with (
        redis_server(tmp_path) as broker,
        celery_worker(tmp_path, broker, "--max-tasks-per-child", "8") as worker,
    ):
        proc = worker.watch_while_producing(
            "leaky_file_task", 12, 16, "--interval", "0.3s", "--duration", "14s", "--json", "-"
        )
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    validate_report(report)
    children = [s for s in report["series"] if s["role"] == "celery child"]
    assert len(children) >= 6
    (leak,) = report["leaks"]
    assert leak["signature"].endswith("/leaky_task_file_*.txt") and leak["confidence"] in ("high", "medium")
    assert worker.pid not in leak["pids"] and len(leak["pids"]) >= 2  # one finding for all the children
