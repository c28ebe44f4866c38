"""fdleak exporter against real processes, checked against /proc, then scraped by a real Prometheus
that loads the shipped alert rules and answers every query of the shipped Grafana dashboard.

The rules are loaded with one documented substitution (deploy/prometheus/fdleak-alerts.yml's
header): every ``for: Nm`` and range window ``[Nm]`` has its minutes made seconds, so the
alerts fire within the test; the expressions are the shipped ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from conftest import end_child, need, need_tool, proc_fds, run_fdleak
from fdleak.discovery.follow import Follower
from fdleak.exporter.collector import Collector
from fdleak.model.metrics import ExporterMetrics, ProcessMetrics
from fdleak.views.prometheus import render
from services import celery_worker, free_port, redis_server
from tracing import first_line

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "fdleak-alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "fdleak-dashboard.json"
SOFT_LIMIT = 4096  # the workloads set it, so a prediction does not depend on the machine's ulimit
T = TypeVar("T")

# leak: one file opened every 50 ms and kept. clean: a fixed set of files, sockets, a pipe,
# an eventfd. Both print "ready" once set up and exit when standard input closes.
WORKLOAD = f"""
import os, resource, socket, sys, threading, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min({SOFT_LIMIT}, hard), hard))
mode, directory = sys.argv[1], sys.argv[2]
kept = []
if mode == "clean":
    kept += [open(os.path.join(directory, f"clean_{{n}}.txt"), "w") for n in range(3)]
    kept += list(socket.socketpair()) + list(os.pipe()) + [os.eventfd(0)]
def leak():
    n = 0
    while True:
        os.open(os.path.join(directory, f"leaky_{{n}}.txt"), os.O_CREAT | os.O_WRONLY, 0o600)
        n += 1
        time.sleep(0.05)
if mode == "leak":
    threading.Thread(target=leak, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def workload(tmp_path: Path, mode: str, *marker: str) -> Iterator[subprocess.Popen[str]]:
    """A leaking or clean process (``marker``: extra arguments for --match to find)."""
    directory = tmp_path / mode
    directory.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKLOAD, mode, str(directory), *marker],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        yield proc
    finally:
        end_child(proc)


class Exporter:
    def __init__(self, proc: subprocess.Popen[str], port: int, announced: str) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.announced = announced

    def scrape(self) -> str:
        with urllib.request.urlopen(self.url, timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            return str(response.read().decode())


@contextlib.contextmanager
def exporter(*args: str, stop_with: int = signal.SIGTERM) -> Iterator[Exporter]:
    """``fdleak exporter`` on a free loopback port; it must stop with status 0 on ``stop_with``."""
    port = free_port()
    env = dict(os.environ, COLUMNS="120", NO_COLOR="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fdleak", "exporter", "--listen", f"127.0.0.1:{port}", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    announced = first_line(proc.stderr)  # written once the port is bound and served
    clean = False
    try:
        assert announced.startswith("fdleak: exporting fd metrics of "), announced + proc.stderr.read()
        yield Exporter(proc, port, announced)
        clean = True
    finally:
        proc.send_signal(stop_with)
        try:
            _, rest = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, rest = proc.communicate()
    if clean:
        assert proc.returncode == 0, rest
        assert re.fullmatch(r"fdleak: exporter stopped after \d+ scrapes?\n", rest), rest


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> Samples:
    samples: Samples = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        match = _SAMPLE.match(line)
        assert match, line
        labels = frozenset(_LABEL.findall(match.group(2) or ""))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def of(samples: Samples, name: str, pid: int) -> dict[frozenset[tuple[str, str]], float]:
    """The samples of ``name`` for ``pid``, by label set."""
    return {labels: v for (n, labels), v in samples.items() if n == name and ("pid", str(pid)) in labels}


def one(samples: Samples, name: str, pid: int) -> float:
    (value,) = of(samples, name, pid).values()
    return value


def until(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.25) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(every)


def kind_truth(pid: int) -> dict[str, int]:
    """Ground truth by kind, from the link texts of /proc/PID/fd."""
    counts: dict[str, int] = {}
    for link in proc_fds(pid).values():
        if link.startswith("/dev/"):
            kind = "device"
        elif link.startswith("/"):
            kind = "file"
        elif link.startswith("anon_inode:"):
            kind = {"[eventfd]": "eventfd", "[eventpoll]": "epoll"}[link.split(":", 1)[1]]
        else:
            kind = link.split(":", 1)[0]  # socket:[123], pipe:[456]
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def limits(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no fd limit in /proc/PID/limits")


def test_metrics_match_proc_and_exited_processes_lose_their_series(tmp_path: Path) -> None:
    with (
        workload(tmp_path, "leak") as leaker,
        workload(tmp_path, "clean") as clean,
        exporter("-p", str(leaker.pid), "-p", str(clean.pid), "--window", "30s") as served,
    ):
        assert f"of the trees of pid {leaker.pid}, {clean.pid} (2 processes now)" in served.announced
        for _ in range(12):  # enough samples for the growth verdict
            before = len(proc_fds(leaker.pid))
            text = served.scrape()
            after = len(proc_fds(leaker.pid))
            samples = parse(text)
            assert before <= one(samples, "fdleak_process_fds", leaker.pid) <= after
            assert one(samples, "fdleak_process_fds", clean.pid) == len(proc_fds(clean.pid))
            time.sleep(0.25)
        clean_kinds = {
            dict(labels)["kind"]: v for labels, v in of(samples, "fdleak_process_open_fds", clean.pid).items()
        }
        assert clean_kinds == kind_truth(clean.pid)
        # what it opened, besides its standard streams (pipes to this test, and pytest's stderr)
        assert clean_kinds["socket"] == 2 and clean_kinds["eventfd"] == 1
        assert clean_kinds["file"] >= 3 and clean_kinds["pipe"] >= 2 + 2
        leaker_kinds = of(samples, "fdleak_process_open_fds", leaker.pid)
        assert sum(leaker_kinds.values()) == one(samples, "fdleak_process_fds", leaker.pid)
        for pid in (leaker.pid, clean.pid):
            labels = dict(next(iter(of(samples, "fdleak_process_fds", pid))))
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            assert labels == {"pid": str(pid), "role": "process", "app": comm}
            soft, hard = limits(pid)
            assert soft == SOFT_LIMIT
            assert one(samples, "fdleak_process_fd_soft_limit", pid) == soft
            assert one(samples, "fdleak_process_fd_hard_limit", pid) == hard
            used = one(samples, "fdleak_process_fd_limit_used_ratio", pid)
            assert used == pytest.approx(one(samples, "fdleak_process_fds", pid) / soft)
        # 20 fds a second, give or take the scheduler; the clean one does not move
        assert 12 < one(samples, "fdleak_process_fd_growth_per_second", leaker.pid) < 24
        assert one(samples, "fdleak_process_fd_leak_suspected", leaker.pid) == 1
        assert one(samples, "fdleak_process_fd_growth_per_second", clean.pid) == 0
        assert one(samples, "fdleak_process_fd_leak_suspected", clean.pid) == 0
        assert samples[("fdleak_exporter_processes", frozenset())] == 2
        assert samples[("fdleak_exporter_scrapes_total", frozenset())] == 12
        assert samples[("fdleak_exporter_window_seconds", frozenset())] == 30
        promtool = need_tool("promtool")
        lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr  # Prometheus's own naming lint

        end_child(clean)
        after_exit = parse(served.scrape())
        assert not any(("pid", str(clean.pid)) in labels for _, labels in after_exit), "stale series"
        assert after_exit[("fdleak_exporter_processes", frozenset())] == 1
        assert one(after_exit, "fdleak_process_fds", leaker.pid) > one(
            samples, "fdleak_process_fds", leaker.pid
        )


def test_match_waits_for_processes_that_start_later_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    marker = f"fdleak-exporter-test-{os.getpid()}-{free_port()}"
    with exporter("--match", marker, stop_with=signal.SIGINT) as served:
        assert f"processes matching {marker!r} (0 processes now, more as they start)" in served.announced
        assert parse(served.scrape())[("fdleak_exporter_processes", frozenset())] == 0
        with workload(tmp_path, "clean", marker) as late:

            def seen() -> Samples | None:
                samples = parse(served.scrape())
                return samples if of(samples, "fdleak_process_fds", late.pid) else None

            samples = until(seen, 10, "the late process's series")
            assert one(samples, "fdleak_process_fds", late.pid) == len(proc_fds(late.pid))
        with urllib.request.urlopen(f"http://127.0.0.1:{served.port}/", timeout=10) as page:
            assert b'<a href="/metrics">' in page.read()


def test_another_users_process_shows_its_count_and_limits_but_no_kinds(tmp_path: Path) -> None:
    need(os.geteuid() == 0, "needs root, to read a process as another user (nobody)")
    with workload(tmp_path, "clean") as clean:
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            status = 1
            try:
                os.close(read_end)
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                collector = Collector(Follower((clean.pid,)), 60)
                with open(write_end, "w") as out:
                    out.write(render(*collector.collect()))
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        with open(read_end) as scraped:
            samples = parse(scraped.read())
        assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
        assert one(samples, "fdleak_process_fds", clean.pid) == len(proc_fds(clean.pid))
        assert one(samples, "fdleak_process_fd_soft_limit", clean.pid) == SOFT_LIMIT
        assert one(samples, "fdleak_process_fd_limit_used_ratio", clean.pid) > 0
    assert of(samples, "fdleak_process_open_fds", clean.pid) == {}  # listing its fds needs its user or root


def test_hostile_label_values_are_escaped_in_the_exposition() -> None:
    app = 'evil"app\\\n# TYPE x counter\x1b[2J'  # a quote, a backslash, a newline, a terminal escape
    row = ProcessMetrics(7, 1.5, "process", app, 3, (("file", 3),), 1024, 4096, None, False)
    text = render([row], ExporterMetrics("0.1.0", 0.001, 1, 1, 300.0))
    assert text.count("\n# TYPE x") == 0 and "fdleak_process_fd_growth_per_second{" not in text
    (value,) = {dict(labels)["app"] for name, labels in parse(text) if name == "fdleak_process_fds"}
    decoded = re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], value)  # the format's escapes
    # what Prometheus stores: the quote and backslash kept, control characters shown as \xNN
    assert decoded == 'evil"app\\' + "\\x0a# TYPE x counter\\x1b[2J"
    promtool = need_tool("promtool")
    lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.parametrize(
    ("args", "line"),
    [
        ((), "fdleak: say which processes to export: --celery [PATTERN], -p PID ... or --match PATTERN"),
        (("--celery", "-p", "1"), "fdleak: choose one way to select processes: --celery [PATTERN], -p PID ... or --match PATTERN"),
        (("--listen", "9464", "-p", "1"), "fdleak: bad --listen '9464': expected HOST:PORT; give HOST:PORT, e.g. --listen 127.0.0.1:9464 or --listen [::1]:9464"),
        (("--listen", "127.0.0.1:0", "-p", "1"), "fdleak: bad --listen '127.0.0.1:0': port 0 is not between 1 and 65535; give HOST:PORT, e.g. --listen 127.0.0.1:9464 or --listen [::1]:9464"),
        (("--listen", "metrics.example:9464", "-p", "1"), "fdleak: bad --listen 'metrics.example:9464': 'metrics.example' is not an IP address; give HOST:PORT, e.g. --listen 127.0.0.1:9464 or --listen [::1]:9464 (or localhost)"),
        (("--match", "(unclosed"), "fdleak: bad pattern '(unclosed': missing ), unterminated subpattern at position 0; give a Python regular expression"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_status_2(args: tuple[str, ...], line: str) -> None:
    proc = run_fdleak("exporter", *args)
    assert (proc.returncode, proc.stderr) == (2, line + "\n")


def test_a_missing_pid_or_a_port_in_use_is_one_line_and_status_2() -> None:
    missing = run_fdleak("exporter", "-p", "4194304")  # above the kernel's pid_max
    assert (missing.returncode, missing.stderr) == (
        2,
        "fdleak: no process with pid 4194304; check the pid with: ps -p PID\n",
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run_fdleak("exporter", "--listen", f"127.0.0.1:{port}", "-p", str(os.getpid()))
    assert busy.returncode == 2
    assert busy.stderr == (
        f"fdleak: cannot listen on 127.0.0.1:{port}: address already in use; "
        f"stop what listens there (ss -ltnp 'sport = :{port}') or pick another port with --listen\n"
    )


@pytest.mark.redis
def test_celery_roles_and_app_and_recycled_children_as_new_series(tmp_path: Path) -> None:
    # started before the worker: the exporter waits for it
    with exporter("--celery", f"fdleaktest{os.getpid()}x") as served:
        assert "(0 processes now, more as they start)" in served.announced
        with (
            redis_server(tmp_path) as broker,
            celery_worker(tmp_path, broker, "--max-tasks-per-child", "2") as worker,
        ):

            def labelled(old: set[int]) -> dict[int, dict[str, str]] | None:
                """pid -> labels, once the worker's parent and two children other than ``old`` show."""
                rows = {
                    int(dict(labels)["pid"]): dict(labels)
                    for (name, labels) in parse(served.scrape())
                    if name == "fdleak_process_fds"
                }
                children = set(worker.children())
                ok = set(rows) == {worker.pid, *children} and len(children) == 2 and not children & old
                return rows if ok else None

            first = until(lambda: labelled(set()), 15, "the worker's three processes")
            children = set(first) - {worker.pid}
            assert first[worker.pid]["role"] == "celery parent" and first[worker.pid]["app"] == "tasks"
            for child in children:
                assert first[child]["role"] == "celery child" and first[child]["app"] == "tasks"
            # each child is replaced after 2 tasks: the new ones are new series, the old ones gone
            sent = worker.send("clean_task", 20, 0.5)
            until(lambda: worker.succeeded("clean_task") == sent, 15, "the tasks to run")
            recycled = until(lambda: labelled(children), 15, "the recycled children's series")
    assert {row["role"] for pid, row in recycled.items() if pid != worker.pid} == {"celery child"}


def test_shipped_rules_pass_promtool() -> None:
    promtool = need_tool("promtool")
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 3 rules found" in checked.stdout


def rules_in_seconds(text: str) -> str:
    """The documented substitution: minutes of ``for:`` and of range windows become seconds."""
    lines, fors, windows = [], 0, 0
    for line in text.splitlines(keepends=True):
        if not line.lstrip().startswith("#"):
            line, n = re.subn(r"^(\s*for: )(\d+)m$", r"\1\2s", line, flags=re.M)
            fors += n
            line, n = re.subn(r"\[(\d+)m\]", r"[\1s]", line)
            windows += n
        lines.append(line)
    assert (fors, windows) == (3, 1)
    return "".join(lines)


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:  # a bad query: 400 with a JSON body
            with error:
                return json.load(error)

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = self.get("/api/v1/query", query=expr)
        assert answer["status"] == "success", (expr, answer)
        return list(answer["data"]["result"])

    def alerts(self, name: str) -> dict[str, str]:
        """pid -> state (pending, firing) of the alert ``name``."""
        found = self.get("/api/v1/alerts")["data"]["alerts"]
        return {a["labels"]["pid"]: a["state"] for a in found if a["labels"]["alertname"] == name}


@contextlib.contextmanager
def prometheus(tmp_path: Path, target: str) -> Iterator[Prometheus]:
    """A real Prometheus on a free loopback port scraping ``target`` every second with the shipped
    rules (in seconds) evaluated every second."""
    binary = need_tool("prometheus")
    rules = tmp_path / "fdleak-alerts.yml"
    rules.write_text(rules_in_seconds(RULES.read_text()))
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{json.dumps(str(rules))}]\n"
        f"scrape_configs: [{{job_name: fdleak, static_configs: [{{targets: [{json.dumps(target)}]}}]}}]\n"
    )
    port = free_port()
    with open(tmp_path / "prometheus.log", "w") as log:
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )  # fmt: skip
    server = Prometheus(f"http://127.0.0.1:{port}")
    try:

        def ready() -> bool:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as response,
            ):
                return response.status == 200
            return False

        until(ready, 30, "Prometheus to be ready")
        yield server
    finally:
        end_child(proc, signal.SIGTERM, timeout=30)


def test_prometheus_fires_the_shipped_alerts_for_the_leaking_process_only(tmp_path: Path) -> None:
    with (
        workload(tmp_path, "leak") as leaker,
        workload(tmp_path, "clean") as clean,
        exporter("-p", str(leaker.pid), "-p", str(clean.pid), "--window", "30s") as served,
        prometheus(tmp_path, f"127.0.0.1:{served.port}") as prom,
    ):
        leak, calm = str(leaker.pid), str(clean.pid)
        until(
            lambda: {r["metric"]["pid"] for r in prom.query("fdleak_process_fds")} == {leak, calm},
            30,
            "both processes' series in Prometheus",
        )
        until(
            lambda: prom.alerts("FdleakFdExhaustionPredicted").get(leak) == "firing",
            60,
            "FdleakFdExhaustionPredicted to fire for the leaking process",
        )
        until(
            lambda: prom.alerts("FdleakLeakSuspected").get(leak) == "firing",
            60,
            "FdleakLeakSuspected to fire for the leaking process",
        )
        for name in ("FdleakFdExhaustionPredicted", "FdleakLeakSuspected", "FdleakFdsNearSoftLimit"):
            assert calm not in prom.alerts(name), name
        assert leak not in prom.alerts("FdleakFdsNearSoftLimit")  # far below 80% of 4096 yet

        # every PromQL expression of the shipped dashboard, with its variables set to "all"
        dashboard = json.loads(DASHBOARD.read_text())
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert (
            variables["datasource"]["type"] == "datasource"
            and variables["datasource"]["query"] == "prometheus"
        )
        exprs = {
            target["expr"]: panel["title"] for panel in dashboard["panels"] for target in panel["targets"]
        }
        assert len(exprs) >= 10
        for panel in dashboard["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for expr, title in exprs.items():
            result = prom.query(re.sub(r"\$\{?(instance|app)\}?", ".*", expr))
            assert result, f"no data for {title!r}: {expr}"
        for name in ("instance", "app"):  # label_values(SELECTOR, LABEL): the selector must answer
            selector = re.fullmatch(r"label_values\((.+), (\w+)\)", variables[name]["query"]["query"])
            assert selector, variables[name]
            assert prom.query(re.sub(r"\$\{?instance\}?", ".*", selector.group(1)))
        suspects = next(p for p in dashboard["panels"] if p["title"] == "Suspected leaks")
        (only,) = prom.query(re.sub(r"\$\{?(instance|app)\}?", ".*", suspects["targets"][0]["expr"]))
        assert only["metric"]["pid"] == leak


@pytest.mark.redis
def test_prometheus_fires_the_exhaustion_alert_for_a_leaking_celery_worker(tmp_path: Path) -> None:
    """The issue's end state: a real prefork worker whose task leaks a file, exported with
    --celery and scraped by a real Prometheus: the alert fires for the children that leak."""
    with (
        redis_server(tmp_path) as broker,
        celery_worker(tmp_path, broker) as worker,
        exporter("--celery", worker.name, "--window", "30s") as served,
        prometheus(tmp_path, f"127.0.0.1:{served.port}") as prom,
    ):
        producer = worker.produce("leaky_file_task", 20, 40)
        try:
            children = {str(pid) for pid in worker.children()}
            firing: set[str] = set()

            def alerted() -> bool:
                firing.update(
                    pid
                    for pid, state in prom.alerts("FdleakFdExhaustionPredicted").items()
                    if state == "firing"
                )
                return bool(firing & children)

            until(alerted, 60, "FdleakFdExhaustionPredicted to fire for a leaking child")
            assert str(worker.pid) not in firing  # the parent holds steady
            roles = {r["metric"]["pid"]: r["metric"]["role"] for r in prom.query("fdleak_process_fds")}
            assert {roles[pid] for pid in firing & children} == {"celery child"}
        finally:
            producer.kill()
            producer.communicate()
