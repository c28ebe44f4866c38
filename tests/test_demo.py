"""fdleak demo: a real prefork worker on an embedded broker (and on a real Redis), found,
explained and stopped: nothing it started is left running."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from conftest import need_tool, run_fdleak
from fdleak.procfs.ptrace import sibling_denial
from services import free_port, redis_server
from test_html import dom

APP = Path(__file__).parent.parent / "src" / "fdleak" / "demo" / "app" / "tasks.py"
TASKS = 30
pytestmark = pytest.mark.strace


def _leak_line() -> int:
    """The line of the demo app that opens the file it never closes."""
    lines = APP.read_text().splitlines()
    return next(n for n, text in enumerate(lines, 1) if "the leak on show" in text)


def _started(stderr: str) -> list[int]:
    """The worker's parent and children, as the demo announced them."""
    match = re.search(r"ready in [\d.]+ s: parent (\d+), children (\d+), (\d+)", stderr)
    assert match, stderr
    return [int(pid) for pid in match.groups()]


def _alive(pids: list[int]) -> list[int]:
    left = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            pass
    return left


def _check_demo(tmp_path: Path, *extra: str) -> None:
    need_tool("strace")
    out, page = tmp_path / "demo.json", tmp_path / "demo.html"
    result = run_fdleak(
        "demo", f"--tasks={TASKS}", "--json", str(out), "--html", str(page), *extra, timeout=120
    )
    assert result.returncode == 0, result.stderr
    parent, *children = _started(result.stderr)
    # watch saw the children grow (paced tasks may all go to one of them), and what grew in
    # them; not the parent
    growing = [
        c
        for c in children
        if re.search(rf"pid {c}\s+celery child\s+\d+ ->\s+\d+ fds\s+growing", result.stderr)
    ]
    assert growing, result.stderr
    assert re.search(rf"pid {parent}\s+celery parent\s+(\d+) ->\s+\1 fds\n", result.stderr)
    # (the directory's random part becomes * when it holds a digit: a signature's rule)
    scratch = re.escape(tempfile.gettempdir())  # where the demo made its directory
    assert re.search(rf"what grew: {scratch}/fdleak-demo-[^/ ]+/files/leaky_task_file_\*\.txt", result.stderr)
    # the Python tracker's warning in the worker's log
    assert "task tasks.leaky_file_task[" in result.stderr and "leaked 1 file descriptor" in result.stderr
    report = json.loads(out.read_text())
    [leak] = [leak for leak in report["leaks"] if leak["confidence"] in ("high", "medium")]
    assert leak["signature"].endswith("/files/leaky_task_file_*.txt")
    assert leak["count"] == TASKS  # the traced step's leaky tasks, no more, no less
    assert set(leak["pids"]) <= set(children)
    assert leak["origin"]["task"] == "tasks.leaky_file_task"
    frame = leak["origin"]["frames"][-1]
    assert (Path(frame["file"]).name, frame["line"], frame["function"]) == (
        "tasks.py",
        _leak_line(),
        "leaky_file_task",
    )
    assert (
        f"opened at tasks.py:{_leak_line()} in leaky_file_task, in task tasks.leaky_file_task"
        in result.stdout
    )
    assert f"Next: close what tasks.py:{_leak_line()} in leaky_file_task opens on every path" in result.stdout
    # the page shows the task and the lines of tasks.py around the leak (read before the
    # demo's directory went); test_html.py checks such pages in a real browser
    assert f"HTML report written to {page}" in result.stderr
    shown = dom(page)  # as a browser builds it
    assert shown.title == "fdleak report"
    assert "tasks.leaky_file_task" in shown.all_text() and "the leak on show" in shown.all_text()
    assert len(shown.series) >= len(leak["pids"])  # the chart drew a line per child
    # clean tasks leave nothing behind
    assert not [fd for fd in report["open_fds"] if "clean_task_file" in fd["target"]]
    assert _alive([parent, *children]) == []
    work_dir = Path(leak["examples"][0]["target"]).parents[1]
    assert not work_dir.exists(), "the demo's work directory was left behind"


def test_demo_on_the_embedded_broker(tmp_path: Path) -> None:
    _check_demo(tmp_path)


@pytest.mark.redis
def test_demo_on_a_real_redis(tmp_path: Path) -> None:
    with redis_server(tmp_path) as url:
        _check_demo(tmp_path, "--broker", url)


@pytest.mark.parametrize("step", ["watch: sampling", "strace attached to"])
def test_ctrl_c_stops_everything_the_demo_started(step: str) -> None:
    need_tool("strace")
    demo = subprocess.Popen(
        [sys.executable, "-m", "fdleak", "demo", f"--tasks={TASKS}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as at a terminal, also when the suite itself was started as a background
        # job (which ignores SIGINT, and so would the demo, as any program does)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert demo.stderr is not None
    seen = ""
    for line in demo.stderr:  # wait until the step runs tasks
        seen += line
        if step in line:
            break
    pids = _started(seen)
    time.sleep(0.5)
    clients = [p.pid for p in psutil.Process(demo.pid).children() if "send.py" in " ".join(p.cmdline())]
    assert clients, "no task client ran during the step"
    demo.send_signal(signal.SIGINT)
    rest = demo.stderr.read()
    demo.stderr.close()
    assert demo.wait(timeout=60) == 130, seen + rest
    assert rest.strip().splitlines()[-1] == "fdleak: interrupted"
    assert "Traceback" not in rest and "Exception in thread" not in rest
    deadline = time.monotonic() + 5
    while _alive([*pids, *clients]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _alive([*pids, *clients]) == []


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--broker", "amqp://127.0.0.1//"],
            "fdleak: unsupported broker 'amqp://127.0.0.1//'; give redis://HOST:PORT/DB, or no --broker",
        ),
        (
            ["--broker", "redis://127.0.0.1:abc/0"],
            "fdleak: bad broker address 'redis://127.0.0.1:abc/0'; give redis://HOST:PORT/DB",
        ),
        (["--tasks", "0"], "fdleak demo: error: argument --tasks: expected between 20 and 1000 tasks, got 0"),
    ],
)
def test_bad_input(args: list[str], line: str) -> None:
    result = run_fdleak("demo", *args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == line


def test_an_unreachable_redis_is_said_before_anything_starts() -> None:
    port = free_port()
    result = run_fdleak("demo", "--broker", f"redis://127.0.0.1:{port}/0")
    assert result.returncode == 2
    assert result.stderr.strip() == f"fdleak: cannot reach the broker at 127.0.0.1:{port}: Connection refused"


@pytest.mark.parametrize(
    ("scope", "has_cap", "allowed"),
    [(None, False, True), (0, False, True), (1, False, False), (1, True, True), (2, False, False),
     (2, True, True), (3, True, False)],
)  # fmt: skip
def test_the_demo_traces_a_sibling_only_where_yama_allows(
    scope: int | None, has_cap: bool, allowed: bool
) -> None:
    # Yama can't be set on this test machine: its rule for the demo (strace and the worker
    # are both fdleak's children, neither the other's ancestor) is a table
    assert (sibling_denial(scope, has_cap) is None) == allowed
