"""A Celery app for the tests: a task that leaks a file on every call, and clean ones.

The broker is a real Redis server (CELERY_BROKER_URL); files go under FDLEAK_TEST_DIR.
"""

from __future__ import annotations

import itertools
import os

from celery import Celery

app = Celery("tasks", broker=os.environ["CELERY_BROKER_URL"])
app.conf.update(
    task_ignore_result=True, worker_hijack_root_logger=False, broker_connection_retry_on_startup=True
)

_DIR = os.environ.get("FDLEAK_TEST_DIR", "/tmp")
_numbers = itertools.count()
_kept: list[object] = []


@app.task
def leaky_file_task() -> None:
    """The seed article's leak: opened, written, never closed."""
    path = os.path.join(_DIR, f"leaky_task_file_{os.getpid()}_{next(_numbers)}.txt")
    handle = open(path, "w")  # noqa: SIM115 (the leak under test)
    handle.write("data")
    handle.flush()
    _kept.append(handle)  # a reference survives, so the garbage collector never closes it


@app.task
def clean_task() -> None:
    with open(os.path.join(_DIR, f"clean_{os.getpid()}.txt"), "w") as handle:
        handle.write("data")
