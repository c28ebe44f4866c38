"""Pure analysis: fd records in, a report out. Reads no files, starts no processes."""

from fdleak.analysis.build import build_report

__all__ = ["build_report"]
