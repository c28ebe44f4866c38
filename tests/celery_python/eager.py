"""Run the test app's tasks eagerly (no broker, no worker) with fdleak's tracking installed.

    python eager.py tracer|signals RUNS

"signals" first makes Celery's Task look unlike the one fdleak wraps (its ``__trace__``
default is not None), so install() must fall back to task_prerun/task_postrun. Prints
one JSON document: the way in, the signal receivers connected, each task name's runs,
whether a stored tracer was wrapped twice, and the report.
"""

from __future__ import annotations

import json
import sys

import pytasks
from celery import signals
from celery.app import task as celery_task
from celery.app import trace

from fdleak.celery import install
from fdleak.views import json_view


def main() -> None:
    way, runs = sys.argv[1], int(sys.argv[2])
    if way == "signals":
        celery_task.Task.__trace__ = False  # a Celery whose tracer fdleak does not know
    pytasks.app.conf.task_always_eager = True
    tracking = install(pytasks.app)
    for _ in range(runs):
        for task in (
            pytasks.leak_file,
            pytasks.leak_then_retry,
            pytasks.leak_under_own_hooks,
            pytasks.clean_file,
        ):
            task.apply()
    # as a prefork child stores its tracers: built by the (wrapped) build_tracer, then set
    task = pytasks.clean_file
    task.__trace__ = trace.build_tracer(task.name, task, app=pytasks.app)
    task.__trace__("stored", (), {})
    inner = getattr(task.__trace__, "__wrapped__", None)
    print(
        json.dumps(
            {
                "way_in": tracking.way_in,
                "receivers": len(signals.task_prerun.receivers) + len(signals.task_postrun.receivers),
                "runs": {name: record.runs for name, record in tracking.tasks.items()},
                "wrapped_twice": bool(getattr(inner, "_fdleak_accounted", False)),
                "report": json.loads(json_view.dumps(tracking.report())),
            }
        )
    )


if __name__ == "__main__":
    main()
