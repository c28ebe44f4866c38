"""The data model shared by every stage: events, records and the report."""

from fdleak.model.events import FdEvent, Op
from fdleak.model.kinds import FdKind
from fdleak.model.records import FdRecord

__all__ = ["FdEvent", "FdKind", "FdRecord", "Op"]
