"""How a Celery task's start and end reach fdleak: around the task's tracer, or by signals.

Celery runs each task through a tracer that build_tracer makes for it (stored as
``task.__trace__``); the tracer sends task_prerun and task_postrun. fdleak could listen
to those, but a signal send takes a lock and walks its receivers each time: about 15 µs
a task in a busy worker, more than fdleak's own accounting. So fdleak wraps the tracer
instead: ``Task.__trace__`` (None in Celery's base class) becomes a descriptor that wraps
each tracer as Celery stores it (prefork children, the consumer of the solo and thread
pools, trace_task), and build_tracer is wrapped for the tracers Celery calls at once
(``Task.apply``: eager tasks). Around the tracer, the window also covers what a task
does after the signals (storing the result, the backend's cleanup), as one task's.

Where Celery's internals are not the ones this was written for, the signals it is.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fdleak.python.celery import CeleryTracking

LOG = logging.getLogger("fdleak")
_ACCOUNTED = "_fdleak_accounted"  # set on a wrapper: a tracer is never wrapped twice
_MISSING = object()
_complained = False


def hook(tracking: CeleryTracking) -> str:
    """Have ``tracking`` called at every task's start and end in this process: "tracer"
    or "signals", the way it was done."""
    if wrap_tracers(tracking):
        return "tracer"
    connect_signals(tracking)
    return "signals"


def wrap_tracers(tracking: CeleryTracking) -> bool:
    """Wrap every tracer Celery builds from now on (and stores); False where Celery's
    tracer is not as expected."""
    try:
        from celery.app import trace  # type: ignore[import-untyped]
        from celery.app.task import Task  # type: ignore[import-untyped]
    except ImportError:
        return False
    build = getattr(trace, "build_tracer", None)
    if not callable(build) or Task.__dict__.get("__trace__", _MISSING) is not None:
        return False
    Task.__trace__ = _AccountedTracer(tracking)

    @functools.wraps(build)
    def build_tracer(name: str, task: Any, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return accounted(build(name, task, *args, **kwargs), task, tracking)

    trace.build_tracer = build_tracer
    return True


def connect_signals(tracking: CeleryTracking) -> None:
    """The way in that needs nothing of Celery's internals: task_prerun and task_postrun."""
    from celery import signals  # type: ignore[import-untyped]

    signals.task_prerun.connect(tracking.before, weak=False)
    signals.task_postrun.connect(tracking.after, weak=False)


class _AccountedTracer:
    """Celery's ``Task.__trace__`` made a data descriptor: each tracer stored for a task is
    wrapped as it is stored. It lives in the task's own ``__dict__`` under the same name (a
    data descriptor comes first, so only this one reads it)."""

    def __init__(self, tracking: CeleryTracking) -> None:
        self.tracking = tracking

    def __get__(self, task: Any, owner: type | None = None) -> Any:
        if task is None:
            return None  # read on the class, as Celery's own None was
        return task.__dict__.get("__trace__")

    def __set__(self, task: Any, tracer: Any) -> None:
        task.__dict__["__trace__"] = None if tracer is None else accounted(tracer, task, self.tracking)

    def __delete__(self, task: Any) -> None:
        task.__dict__.pop("__trace__", None)


def accounted(tracer: Callable[..., Any], task: Any, tracking: CeleryTracking) -> Callable[..., Any]:
    """``tracer`` (Celery's: called with the task id first), with the task's start and end
    told to ``tracking``; fdleak's own failure never fails the task."""
    if getattr(tracer, _ACCOUNTED, False):
        return tracer
    start, finish = tracking.start, tracking.finish
    name = getattr(task, "name", None) or "unknown task"

    def trace(uuid: str, *args: Any, **kwargs: Any) -> Any:
        try:
            run = start()
        except Exception:
            run = None
            _complain()
        try:
            return tracer(uuid, *args, **kwargs)
        finally:
            if run is not None:
                try:
                    finish(run, name, uuid)
                except Exception:
                    _complain()

    setattr(trace, _ACCOUNTED, True)
    trace.__wrapped__ = tracer  # type: ignore[attr-defined]
    return trace


def _complain() -> None:
    """fdleak failed inside a task's accounting: said once a process, not once a task."""
    global _complained
    if not _complained:
        _complained = True
        LOG.exception("fdleak: a task's fd accounting failed; the task ran on")
