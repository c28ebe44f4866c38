"""The data model shared by every stage: events, records and the report."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fdleak.model.events import FdEvent, Op
    from fdleak.model.kinds import FdKind
    from fdleak.model.records import FdRecord

__all__ = ["FdEvent", "FdKind", "FdRecord", "Op"]

# loaded on first use: `fdleak snapshot` imports fdleak.model.snapshot, and with it this
# package, but never events or records
_HOMES = {"FdEvent": "events", "Op": "events", "FdKind": "kinds", "FdRecord": "records"}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{home}"), name)
