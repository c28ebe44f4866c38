"""Run a Python program with the tracker started in it (and in every Python it starts).

Used by ``fdleak celery -- CMD``: the worker runs in a process group of its own, so a
Ctrl-C reaches it once, through fdleak (Celery takes a second SIGINT as "stop now"), and
fdleak stays up to merge the reports its processes wrote.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterable

from fdleak.errors import InputError
from fdleak.python.bootstrap import child_env

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


def check_command(command: list[str]) -> None:
    """Raise InputError unless ``command`` names a program that can be run."""
    if not command:
        raise InputError("no command given", "put it after --: fdleak celery -- celery -A proj worker")
    if shutil.which(command[0]) is None:
        raise InputError(f"command not found: {command[0]}")


def run_tracked(command: list[str], env: dict[str, str], init: Iterable[str] = ()) -> int:
    """Run ``command`` with the tracker bootstrapped (plus ``init`` hooks); its exit status."""
    check_command(command)
    child = subprocess.Popen(command, env=child_env(env, init=init), preexec_fn=os.setpgrp)

    def forward(signum: int, frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    before = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        return child.wait()
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        if child.poll() is None:
            child.kill()
            child.wait()
