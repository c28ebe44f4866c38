"""The pytest plugin: ``pytest --fdleak`` fails (or warns about) each test that leaves fds open.

Inert unless ``--fdleak`` or the ini option ``fdleak = true`` is given: it then installs
the tracker and, around each test, takes a baseline before setup and diffs after the
teardown of its function-scoped fixtures, so what a fixture opens and closes is not a
leak. fds that wider-scoped fixtures (module, session...) open while a test sets up
belong to those fixtures and are added to the baseline. Standard streams, and so
output capture, are never counted.
"""

from __future__ import annotations

import gc
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from _pytest._code.code import TerminalRepr
from _pytest._io import TerminalWriter
from _pytest.runner import runtestprotocol

if TYPE_CHECKING:
    from fdleak.python.checkpoint import Baseline, OpenedFd
    from fdleak.python.tracker import Tracker

MARKER = "fdleak_allow"
MODES = ("fail", "warn")


class FdleakWarning(pytest.PytestWarning):
    """A test left file descriptors open (``--fdleak-mode=warn``)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fdleak", "file-descriptor leaks (fdleak)")
    group.addoption(
        "--fdleak",
        action="store_true",
        default=None,
        help="fail each test that leaves file descriptors open (files, sockets, pipes, eventfds, "
        "epolls, and those opened by C code), naming the line that opened each",
    )
    group.addoption(
        "--fdleak-mode",
        choices=MODES,
        default=None,
        help="fail: a leaking test fails (default); warn: it passes with a warning",
    )
    parser.addini("fdleak", type="bool", default=False, help="turn the fdleak check on (as --fdleak)")
    parser.addini("fdleak_mode", default="fail", help="fail or warn (as --fdleak-mode)")


def pytest_configure(config: pytest.Config) -> None:
    # registered even when off: a suite with --strict-markers must run without --fdleak too
    config.addinivalue_line(
        "markers", f"{MARKER}(reason=None): this test may leave file descriptors open (fdleak)"
    )
    if not (config.getoption("fdleak") or config.getini("fdleak")):
        return
    mode = config.getoption("fdleak_mode") or config.getini("fdleak_mode")
    if mode not in MODES:
        raise pytest.UsageError(f"fdleak_mode must be one of {', '.join(MODES)}, not {mode!r}")
    from fdleak.python import tracker

    config.pluginmanager.register(Checker(tracker.install(), mode, str(config.rootpath)), "fdleak-checker")


@dataclass(frozen=True, slots=True)
class TestLeak:
    nodeid: str
    fds: tuple[OpenedFd, ...]
    allowed: bool


class Checker:
    """The per-test check, registered only when the plugin is on."""

    def __init__(self, track: Tracker, mode: str, root: str) -> None:
        self.track, self.mode, self.root = track, mode, root
        self.window: Baseline | None = None
        self.checked = 0
        self.leaks: list[TestLeak] = []

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool:
        # pytest's own protocol, with the reports held back until the teardown is done: a
        # leak is known only then, and it should fail the test, not add an error after it
        ihook = item.ihook
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        self.window = self.track.baseline()
        try:
            reports = runtestprotocol(item, nextitem=nextitem, log=False)
            leaked = self._leaked()
        finally:
            self.window = None
        self.checked += 1
        if leaked:
            allowed = item.get_closest_marker(MARKER) is not None
            self.leaks.append(TestLeak(item.nodeid, leaked, allowed))
            if not allowed:
                self._report(item, reports, leaked)
        for report in reports:
            ihook.pytest_runtest_logreport(report=report)
        ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: Any, request: pytest.FixtureRequest
    ) -> Generator[None, Any, Any]:
        if self.window is None or fixturedef.scope == "function":
            return (yield)
        before = self.track.baseline()
        try:
            return (yield)
        finally:
            if self.window is not None:  # a module or session fixture: its fds outlive the test
                self.window = self.track.absorb(self.window, self.track.opened_since(before))

    def _leaked(self) -> tuple[OpenedFd, ...]:
        assert self.window is not None
        found = self.track.opened_since(self.window)
        if found:
            gc.collect()  # a file only a reference cycle still holds is closed by collection
            found = self.track.opened_since(self.window)
        return found

    def _report(
        self, item: pytest.Item, reports: list[pytest.TestReport], leaked: tuple[OpenedFd, ...]
    ) -> None:
        from fdleak.python.describe import leak_message

        message = leak_message(item.name, leaked, self.root)
        call = next((r for r in reports if r.when == "call"), None)
        if self.mode == "warn":
            try:
                item.warn(FdleakWarning(message))
                return
            except Warning:  # -W error::...FdleakWarning: the user wants it to fail
                pass
        if call is not None and call.passed and not hasattr(call, "wasxfail"):
            call.outcome = "failed"
            call.longrepr = LeakRepr.of(message, item)
        else:  # already failed or skipped: say it next to what happened
            (call or reports[-1]).sections.append(("fdleak", message))

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from fdleak.python.describe import count_text, fd_line

        write = terminalreporter.write_line
        terminalreporter.section("fdleak")
        failing = [leak for leak in self.leaks if not leak.allowed]
        allowed = [leak for leak in self.leaks if leak.allowed]
        if not self.leaks:
            write(f"no test left a file descriptor open ({self.checked} checked)")
            return
        verb = "warned about" if self.mode == "warn" else "failed"
        kept = count_text(sum(len(leak.fds) for leak in allowed))
        write(
            f"{len(failing)} of {self.checked} tests leaked "
            f"{count_text(sum(len(leak.fds) for leak in failing))} ({verb}); "
            f"{len(allowed)} allowed by @pytest.mark.{MARKER} kept {kept}"
        )
        for leak in failing + allowed:
            note = " (allowed)" if leak.allowed else ""
            write(f"{leak.nodeid}{note}:")
            for fd in leak.fds:
                write(f"  {fd_line(fd, self.root)}")


@dataclass(frozen=True, slots=True)
class _Crash:
    path: str
    lineno: int
    message: str


@dataclass(eq=False)
class LeakRepr(TerminalRepr):
    """A failure text pytest prints as is, with a one-line crash summary for -rf lines."""

    text: str
    reprcrash: _Crash

    @classmethod
    def of(cls, text: str, item: pytest.Item) -> LeakRepr:
        path, line, _ = item.location
        return cls(text, _Crash(path, (line or 0) + 1, text.splitlines()[0]))

    def toterminal(self, tw: TerminalWriter) -> None:
        for line in self.text.splitlines():
            tw.line(line, red=True, bold=line[:1] != " ")
