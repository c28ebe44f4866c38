"""Celery tasks for the Python attribution tests: one leak of each kind, and clean work.

Each leaking call carries a "# LEAK: <task>" comment: the tests find its line number
there and expect fdleak to point at exactly that line. The broker is a real Redis server
(CELERY_BROKER_URL); files go under FDLEAK_TEST_DIR. With FDLEAK_TEST_INSTALL=1 the app
installs the tracking itself (fdleak.celery.install), as a user's app module would.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
from urllib.parse import urlparse

from celery import Celery, Task

BROKER = os.environ["CELERY_BROKER_URL"]
app = Celery("pytasks", broker=BROKER)
app.conf.update(
    task_ignore_result=True, worker_hijack_root_logger=False, broker_connection_retry_on_startup=True
)
if os.environ.get("FDLEAK_TEST_INSTALL") == "1":
    from fdleak.celery import install

    install(app)

_DIR = os.environ.get("FDLEAK_TEST_DIR", "/tmp")
_numbers = itertools.count()
_kept: list[object] = []
_cache: list[socket.socket] = []
_BROKER_ADDRESS = (urlparse(BROKER).hostname or "127.0.0.1", urlparse(BROKER).port or 6379)


@app.task
def leak_file() -> None:
    handle = open(os.path.join(_DIR, f"report_{os.getpid()}_{next(_numbers)}.csv"), "w")  # noqa: SIM115  # LEAK: leak_file
    _kept.append(handle)


@app.task
def leak_socket() -> None:
    _kept.append(socket.create_connection(_BROKER_ADDRESS))  # LEAK: leak_socket


@app.task
def leak_pipe() -> None:
    _kept.append(os.pipe())  # LEAK: leak_pipe


@app.task
def leak_subprocess() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"], stdout=subprocess.PIPE)  # LEAK: leak_subprocess
    child.wait()
    _kept.append(child)  # its stdout pipe stays open


@app.task
def leak_socketpair() -> None:
    _kept.append(socket.socketpair())  # LEAK: leak_socketpair


@app.task
def leak_eventfd() -> None:
    _kept.append(os.eventfd(0))  # LEAK: leak_eventfd


@app.task(bind=True, max_retries=1)
def leak_then_retry(self: Task) -> None:
    """Leaks on its first attempt, then asks to be retried (the retry runs clean)."""
    if self.request.retries == 0:
        _kept.append(open(os.path.join(_DIR, f"retry_{os.getpid()}_{next(_numbers)}.csv"), "w"))  # noqa: SIM115  # LEAK: leak_then_retry
        raise self.retry(countdown=0)


class OwnHooks(Task):
    """A base class whose start and end hooks do not call Celery's (nor need to)."""

    def before_start(self, task_id: str, args: object, kwargs: object) -> None:
        self.started = task_id

    def after_return(self, *args: object) -> None:
        self.started = None


@app.task(base=OwnHooks)
def leak_under_own_hooks() -> None:
    _kept.append(os.eventfd(0))  # LEAK: leak_under_own_hooks


@app.task
def clean_file() -> None:
    with open(os.path.join(_DIR, "clean.txt"), "w") as handle:
        handle.write("x")


@app.task
def clean_socket() -> None:
    with socket.create_connection(_BROKER_ADDRESS) as connection:
        connection.sendall(b"PING\r\n")
        connection.recv(64)


@app.task
def cached_connection() -> None:
    """Opens one connection on its first run and reuses it: a cache, not a leak."""
    if not _cache:
        _cache.append(socket.create_connection(_BROKER_ADDRESS))
    _cache[0].sendall(b"PING\r\n")
    _cache[0].recv(64)
