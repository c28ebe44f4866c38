"""The Celery app of bench/overhead.py: one tiny task that opens and closes a file.

The broker is a real Redis server (CELERY_BROKER_URL); the file lives under BENCH_DIR.
"""

from __future__ import annotations

import os

from celery import Celery

app = Celery("celery_tasks", broker=os.environ["CELERY_BROKER_URL"])
app.conf.update(
    task_ignore_result=True, worker_hijack_root_logger=False, broker_connection_retry_on_startup=True
)
_PATH = os.path.join(os.environ.get("BENCH_DIR", "/tmp"), "tiny.txt")


@app.task
def tiny() -> None:
    with open(_PATH, "w") as handle:
        handle.write("x")


def send(count: int) -> None:
    """Send ``count`` tiny tasks as fast as one producer can."""
    with app.producer_pool.acquire(block=True) as producer:
        for _ in range(count):
            tiny.apply_async(producer=producer)
