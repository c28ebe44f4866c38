"""``fdleak.celery.install(app)``: per-task fd leak tracking, from the app's own module.

    from fdleak.celery import install
    install(app)

See fdleak.python.celery for what it does; ``fdleak celery -- celery -A proj worker``
does the same with no change to the app.
"""

from __future__ import annotations

from fdleak.python.celery import CeleryTracking, install

__all__ = ["CeleryTracking", "install"]
