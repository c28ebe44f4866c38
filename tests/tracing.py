"""Running `fdleak trace` in the background from a test, and waiting on conditions."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def tracing(*args: str) -> Iterator[subprocess.Popen[str]]:
    """``fdleak trace ARGS`` in the background, returned once it says it is attached."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fdleak", "trace", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, COLUMNS="120", NO_COLOR="1"),
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert first.startswith("fdleak: tracing"), first + proc.stderr.read()
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
