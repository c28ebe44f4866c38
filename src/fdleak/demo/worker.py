"""The demo's Celery worker: started in a work directory of its own, stopped with everything it started."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from fdleak.errors import FdleakError, TraceFailed
from fdleak.procfs.process import group_members
from fdleak.python.bootstrap import child_env
from fdleak.system import die_with_parent

APP_DIR = Path(__file__).parent / "app"
CHILDREN = 2


class DemoWorker:
    """``celery -A tasks worker -P prefork -c 2`` with fdleak's Celery tracking in every process."""

    def __init__(self, work_dir: Path, broker: str | None) -> None:
        self.work_dir = work_dir
        self.reports = work_dir / "reports"
        self.log_path = work_dir / "worker.log"
        for name in ("files", "queue", "control", "results", "reports"):
            (work_dir / name).mkdir()
        for name in ("tasks.py", "send.py", "demo_broker.py"):
            shutil.copy(APP_DIR / name, work_dir / name)
        self.env = dict(
            os.environ,
            FDLEAK_DEMO_DIR=str(work_dir),
            FDLEAK_DEMO_BROKER=broker or "",
            FDLEAK_REPORT_DIR=str(self.reports),
            PYTHONUNBUFFERED="1",  # its log is read while it runs
            PYTHONPATH=os.pathsep.join(p for p in (str(work_dir), os.environ.get("PYTHONPATH")) if p),
        )
        self.process: subprocess.Popen[bytes] | None = None
        self._clients: list[subprocess.Popen[str]] = []  # senders, ended with the worker

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        command = [sys.executable, "-m", "celery", "-A", "tasks", "worker", "-P", "prefork"]
        command += ["-c", str(CHILDREN), "-l", "warning", "-n", "fdleak-demo@%h"]
        command += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.work_dir,
                env=child_env(self.env, init=("fdleak.python.celery:bootstrap",)),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_own_group_dying_with_us,
            )

    def send(
        self, leaky: int, clean: int, first: int, pace: float = 0.0, timeout: float = 60.0
    ) -> subprocess.Popen[str]:
        """Start the client that sends tasks (``pace`` seconds apart) and waits for every
        one; ``finish()`` it."""
        command = [sys.executable, "send.py", f"--leaky={leaky}", f"--clean={clean}", f"--first={first}"]
        client = subprocess.Popen(
            [*command, f"--pace={pace}", f"--timeout={timeout}"],
            cwd=self.work_dir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._clients.append(client)
        return client

    def finish(self, client: subprocess.Popen[str]) -> None:
        """Wait for the client; a worker that dies meanwhile ends the wait at once."""
        while client.poll() is None:
            try:
                self.check_alive()
            except TraceFailed:
                client.kill()
                client.communicate()
                raise
            time.sleep(0.1)
        out, err = client.communicate()
        if client.returncode != 0:
            self.check_alive()
            last = (err.strip().splitlines() or [out.strip()])[-1]
            raise TraceFailed(f"the demo's tasks did not all finish: {last}", f"see {self.log_path}")

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise TraceFailed(
                f"the demo worker exited with status {self.process.returncode}: {self.last_log_line()}",
                "is celery installed? pip install 'fdleak[celery]'",
            )

    def last_log_line(self) -> str:
        with contextlib.suppress(OSError):
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
            return lines[-1] if lines else "(nothing in its log)"
        return "(no log)"

    def first_warning(self, marker: str) -> list[str]:
        """The first message of the worker's log that contains ``marker``, with the indented
        lines that continue it."""
        message: list[str] = []
        with contextlib.suppress(OSError), open(self.log_path, errors="replace") as log:
            for line in log:
                if message and not line.startswith(" "):
                    break
                if message or marker in line:
                    message.append(line.rstrip())
        return message

    def stop(self, timeout: float = 15.0) -> int:
        """Warm shutdown (SIGTERM to the parent), then SIGKILL to whatever of its group is
        left; the number of processes that had to be killed."""
        for client in self._clients:  # a sender cut short (Ctrl-C, an error) goes first
            if client.poll() is None:
                client.kill()
            client.communicate()
        if self.process is None:
            return 0
        group = self.process.pid
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        left = group_members(group)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait()
        deadline = time.monotonic() + 5
        while group_members(group) and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(left)


def _own_group_dying_with_us() -> None:
    # a group of its own: the user's Ctrl-C reaches fdleak only, which then stops the worker
    # warmly; the parent-death signal ends the worker if fdleak itself is killed
    os.setpgrp()
    die_with_parent(signal.SIGTERM)


def celery_missing() -> FdleakError | None:
    """An error when the worker could not start for want of Celery, else None."""
    import importlib.util

    if importlib.util.find_spec("celery") is None:
        return TraceFailed("the demo needs Celery, which is not installed", "pip install 'fdleak[celery]'")
    return None
