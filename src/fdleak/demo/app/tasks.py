"""fdleak demo's Celery app: the seed article's leaky task beside clean ones.

``fdleak demo`` copies this file into its work directory and starts a real prefork
worker on it (``celery -A tasks worker``). The broker needs no server: kombu's
filesystem transport keeps the queue in the work directory. FDLEAK_DEMO_BROKER
(e.g. redis://127.0.0.1:6379/0) runs the same tasks on a real broker instead.
"""

import os

from celery import Celery

WORK_DIR = os.environ["FDLEAK_DEMO_DIR"]
BROKER = os.environ.get("FDLEAK_DEMO_BROKER") or "filesystem://"

app = Celery("tasks", broker=BROKER, backend=f"file://{WORK_DIR}/results")
app.conf.update(worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)
if BROKER.startswith("filesystem"):
    app.conf.broker_transport = "demo_broker:Transport"  # kombu's, with messages written atomically
    queue = os.path.join(WORK_DIR, "queue")
    app.conf.broker_transport_options = {
        "data_folder_in": queue,
        "data_folder_out": queue,
        "control_folder": os.path.join(WORK_DIR, "control"),
        "polling_interval": 0.05,
    }

kept = []


@app.task
def leaky_file_task(n):
    """Writes a report file and never closes it: the bug fdleak finds."""
    path = os.path.join(WORK_DIR, "files", f"leaky_task_file_{n}.txt")
    report = open(path, "w")  # noqa: SIM115 - the leak on show
    report.write("report\n")
    report.flush()
    kept.append(report)  # a reference survives, so the garbage collector never closes it
    return n


@app.task
def clean_file_task(n):
    """The same work done right."""
    with open(os.path.join(WORK_DIR, "files", f"clean_task_file_{n}.txt"), "w") as report:
        report.write("report\n")
    return n
