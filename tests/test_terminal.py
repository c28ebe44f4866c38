"""What a terminal shows, and what a pipe does not: the trace countdown, colours, --version."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import holder, need_tool, read_pty, run_fdleak
from fdleak import __version__

_ESCAPE = re.compile(r"\x1b\[")


def _on_a_terminal(argv: list[str]) -> tuple[int, str]:
    """Run fdleak with standard error on a pty (standard output on a pipe): status, screen."""
    import pty

    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fdleak", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=secondary,
        env=dict(os.environ, COLUMNS="120", LINES="40", TERM="xterm"),
    )
    os.close(secondary)
    screen = read_pty(main)
    return proc.wait(timeout=30), screen


@pytest.mark.strace
def test_trace_counts_down_on_a_terminal(tmp_path: Path) -> None:
    need_tool("strace")
    with holder(tmp_path, "--files", "2") as held:
        status, screen = _on_a_terminal(["trace", "-p", str(held.pid), "--duration", "3s"])
    assert status == 0, screen
    assert "fdleak: tracing 1 process(es)" in screen
    lefts = [int(n) for n in re.findall(r"tracing .*?(\d+) s left", screen)]
    assert lefts and lefts[0] >= 2 and min(lefts) <= 1, screen  # redrawn as the time runs out


@pytest.mark.strace
def test_quiet_trace_draws_nothing_on_a_terminal(tmp_path: Path) -> None:
    need_tool("strace")
    with holder(tmp_path) as held:
        status, screen = _on_a_terminal(["trace", "-q", "-p", str(held.pid), "--duration", "1s"])
    assert status == 0
    assert "s left" not in screen and "tracing" not in screen


@pytest.mark.parametrize(
    "argv",
    [["ps", "-p", "{pid}"], ["snapshot", "-p", "{pid}"], ["watch", "-p", "{pid}", "--duration", "1s"]],
)
def test_no_colour_codes_in_a_pipe(tmp_path: Path, argv: list[str]) -> None:
    with holder(tmp_path, "--files", "3") as held:
        filled = [arg.format(pid=held.pid) for arg in argv]
        result = subprocess.run(
            [sys.executable, "-m", "fdleak", *filled],
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")},
        )
    assert result.returncode in (0, 1), result.stderr
    assert str(held.pid) in result.stdout
    assert not _ESCAPE.search(result.stdout) and not _ESCAPE.search(result.stderr)


def test_version() -> None:
    result = run_fdleak("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"fdleak {__version__}")
