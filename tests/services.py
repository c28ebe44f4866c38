"""Real servers for the tests: a Redis server and a Celery prefork worker, on free loopback ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from conftest import end_child, need_tool, run_fdleak

CELERY_APP = Path(__file__).parent / "celery_app"
_START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def redis_server(tmp_path: Path) -> Iterator[str]:
    """A redis-server on a free loopback port; yields its URL."""
    binary = need_tool("redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + _START_TIMEOUT
        for line in proc.stdout:
            if "Ready to accept connections" in line:
                break
            assert time.monotonic() < deadline, "redis-server never became ready"
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


class Worker:
    def __init__(self, proc: subprocess.Popen[str], name: str, env: dict[str, str], log: Path) -> None:
        self.proc = proc
        self.log = log  # the worker's own log file (-f)
        self.pid = proc.pid
        self.name = name  # unique: a pattern that selects this worker only
        self.env = env

    def produce(self, task: str, rate: float, seconds: float) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "produce.py", task, str(rate), str(seconds)],
            cwd=CELERY_APP,
            env=self.env,
            stdout=subprocess.PIPE,
            text=True,
        )

    def watch_while_producing(
        self, task: str, rate: float, seconds: float, *watch_args: str
    ) -> subprocess.CompletedProcess[str]:
        """``fdleak watch --celery`` on this worker while ``task`` is sent ``rate`` times a second."""
        producer = self.produce(task, rate, seconds)
        try:
            return run_fdleak("watch", "--celery", self.name, *watch_args)
        finally:
            producer.wait(timeout=60)
            assert producer.stdout is not None
            producer.stdout.close()

    def send(self, task: str, rate: float, seconds: float) -> int:
        """Send ``task`` ``rate`` times a second for ``seconds``; returns how many were sent."""
        producer = self.produce(task, rate, seconds)
        out, _ = producer.communicate(timeout=seconds + 60)
        assert producer.returncode == 0, out
        return int(out.split()[-1])

    def send_and_wait(self, rate: float, seconds: float, *tasks: str) -> dict[str, int]:
        """Send each of ``tasks`` side by side (``send``), then wait until every one sent has
        succeeded; how many of each were sent."""
        before = {task: self.succeeded(task) for task in tasks}
        sent: dict[str, int] = {}
        senders = [
            threading.Thread(target=lambda t=task: sent.__setitem__(t, self.send(t, rate, seconds)))  # type: ignore[misc]
            for task in tasks
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        deadline = time.monotonic() + 60
        while any(self.succeeded(t) - before[t] < sent[t] for t in tasks):
            assert time.monotonic() < deadline, f"not every task sent succeeded: {sent}"
            time.sleep(0.1)
        return sent

    def succeeded(self, task: str) -> int:
        """How many ``task`` runs the worker's log says succeeded."""
        text = self.log.read_text() if self.log.exists() else ""
        return sum(
            1 for line in text.splitlines() if f"Task tasks.{task}[" in line and "] succeeded in " in line
        )

    def children(self) -> list[int]:
        text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        return [int(p) for p in text.split()]


@contextlib.contextmanager
def celery_worker(
    tmp_path: Path,
    broker: str,
    *extra: str,
    app: str = "tasks",
    app_dir: Path = CELERY_APP,
    prefix: tuple[str, ...] = (),
    env_extra: dict[str, str] | None = None,
) -> Iterator[Worker]:
    """``celery -A APP worker`` with 2 prefork children (``extra`` may change the pool),
    run under ``prefix`` (``fdleak celery --``); cold shutdown and reaped after."""
    need_tool("redis-server")
    name = f"fdleaktest{os.getpid()}x{free_port()}"
    env = dict(
        os.environ,
        CELERY_BROKER_URL=broker,
        FDLEAK_TEST_DIR=str(tmp_path),
        PYTHONPATH=str(app_dir),
        **(env_extra or {}),
    )
    log = tmp_path / f"{name}.log"
    proc = subprocess.Popen(
        [*prefix, sys.executable, "-m", "celery", "-A", app, "worker", "-P", "prefork", "-c", "2",
         "-n", f"{name}@localhost", "--without-heartbeat", "--without-mingle", "--without-gossip",
         "-l", "INFO", "-f", str(log), *extra],
        cwd=app_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while "ready." not in (log.read_text() if log.exists() else ""):
            assert proc.poll() is None, f"the Celery worker died: {log.read_text() if log.exists() else ''}"
            assert time.monotonic() < deadline, "the Celery worker never became ready"
            time.sleep(0.1)
        yield Worker(proc, name, env, log)
    finally:
        pool = Worker(proc, name, env, log).children() if proc.poll() is None else []
        end_child(proc, signal.SIGQUIT, timeout=30)  # cold shutdown: it stops its pool children too
        for child in pool:  # normally gone already; never leave one behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
