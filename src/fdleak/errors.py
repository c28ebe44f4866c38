"""The FdleakError tree: what failed, why, and the fix, with an exit status."""

from __future__ import annotations


class FdleakError(Exception):
    """An error the user can act on; the CLI prints it as one line and exits."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class InputError(FdleakError):
    """An input file or argument cannot be used (missing, unreadable, not a log)."""


class NothingToAnalyze(FdleakError):
    """The input was readable but held nothing fdleak could analyse."""


class ProcessGone(FdleakError):
    """The process asked for does not exist (or exited while being read)."""


class AccessDenied(FdleakError):
    """The process exists but this user may not read what was asked."""


class MissingTool(FdleakError):
    """A program fdleak drives (strace) is not installed."""


class TraceFailed(FdleakError):
    """The tracer could not start the trace."""
