"""pytest --fdleak on a real sample suite: exactly the leaking tests fail, pointing at the line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import fdleak

pytest_plugins = ["pytester"]

SAMPLE = """
import ctypes
import logging
import os
import select
import socket
import subprocess

import pytest

KEEP = []


@pytest.fixture(scope="module")
def server():
    listener = socket.create_server(("127.0.0.1", 0))  # a module fixture: outlives the test
    yield listener
    listener.close()


@pytest.fixture
def scratch(tmp_path):
    handle = open(tmp_path / "scratch.txt", "w")  # closed by the fixture's teardown
    yield handle
    handle.close()


def test_clean(tmp_path, scratch, capfd, caplog):
    with open(tmp_path / "x.txt", "w") as handle:
        handle.write("x")
    print("captured")
    os.write(1, b"raw fd write")
    logging.getLogger("sample").warning("logged")
    subprocess.run(["true"], check=True, stdout=subprocess.PIPE)
    scratch.write("y")


def test_module_fixture_is_not_a_leak(server):
    assert server.fileno() > 2


def test_leaks_file_and_pipe(tmp_path):
    KEEP.append(open(tmp_path / "report_1.csv", "w"))  # LEAK-FILE
    KEEP.append(os.pipe())  # LEAK-PIPE


def test_leaks_socket_eventfd_epoll(server):
    KEEP.append(socket.create_connection(server.getsockname()))  # LEAK-SOCKET
    KEEP.append(os.eventfd(0))  # LEAK-EVENTFD
    KEEP.append(select.epoll())  # LEAK-EPOLL


def test_leaks_from_c(tmp_path):
    (tmp_path / "c.txt").write_text("c")
    libc = ctypes.CDLL(None)
    KEEP.append(libc.open(str(tmp_path / "c.txt").encode(), os.O_RDONLY))


@pytest.mark.fdleak_allow
def test_allowed_to_keep_one():
    KEEP.append(os.eventfd(0))
"""

PASSING = 3  # test_clean, test_module_fixture_is_not_a_leak, test_allowed_to_keep_one
LEAKING = 3


def line(tag: str) -> int:
    return next(n for n, text in enumerate(SAMPLE.splitlines(), 0) if text.endswith(f"# {tag}"))


@pytest.fixture
def sample(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # only the plugin under test (no other installed plugin), from this source tree
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("COLUMNS", "300")  # short summary lines in full
    src = str(Path(fdleak.__file__).parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    pytester.makepyfile(test_sample=SAMPLE)
    return pytester


def run(sample: pytest.Pytester, *args: str) -> pytest.RunResult:
    return sample.runpytest_subprocess("-p", "fdleak.python.pytest_plugin", "-p", "no:cacheprovider", *args)


def test_exactly_the_leaking_tests_fail_pointing_at_the_lines(sample: pytest.Pytester) -> None:
    result = run(sample, "--fdleak", "-W", "error::ResourceWarning", "--log-file", "session.log")
    result.assert_outcomes(passed=PASSING, failed=LEAKING)
    out = result.stdout
    out.fnmatch_lines(
        [
            "*test_leaks_file_and_pipe leaked 3 file descriptors:",
            f"  fd * file */report_1.csv, opened at test_sample.py:{line('LEAK-FILE')} in test_leaks_file_and_pipe (open)",
            f"  fd * pipe pipe:[[]*[]], opened at test_sample.py:{line('LEAK-PIPE')} in test_leaks_file_and_pipe (os.pipe)",
            f"  fd * pipe pipe:[[]*[]], opened at test_sample.py:{line('LEAK-PIPE')} in test_leaks_file_and_pipe (os.pipe)",
        ]
    )
    out.fnmatch_lines(
        [
            "*test_leaks_socket_eventfd_epoll leaked 3 file descriptors:",
            f"  fd * socket TCP 127.0.0.1:*->127.0.0.1:*, opened at test_sample.py:{line('LEAK-SOCKET')} in test_leaks_socket_eventfd_epoll (socket.create_connection)",
            f"  fd * eventfd anon_inode:[[]eventfd[]], opened at test_sample.py:{line('LEAK-EVENTFD')} in *",
            f"  fd * epoll anon_inode:[[]eventpoll[]], opened at test_sample.py:{line('LEAK-EPOLL')} in *",
        ]
    )
    out.fnmatch_lines(
        [
            "*test_leaks_from_c leaked 1 file descriptor:",
            "  fd * file */c.txt, opened outside Python's view (C code, *",
        ]
    )
    out.fnmatch_lines(
        [
            "FAILED test_sample.py::test_leaks_file_and_pipe - test_leaks_file_and_pipe leaked 3 file descriptors:",
            "FAILED test_sample.py::test_leaks_socket_eventfd_epoll - test_leaks_socket_eventfd_epoll leaked 3 *",
            "FAILED test_sample.py::test_leaks_from_c - test_leaks_from_c leaked 1 file descriptor:",
        ]
    )
    # the session summary: the three failures, and the allowed test with what it kept
    out.fnmatch_lines(
        [
            "*= fdleak =*",
            "3 of 6 tests leaked 7 file descriptors (failed); 1 allowed by @pytest.mark.fdleak_allow kept 1 file descriptor",
            "test_sample.py::test_leaks_file_and_pipe:",
        ]
    )
    out.fnmatch_lines(["test_sample.py::test_allowed_to_keep_one (allowed):", "  fd * eventfd *"])
    for clean in ("test_clean", "test_module_fixture_is_not_a_leak"):
        assert f"{clean} leaked" not in result.stdout.str()
        assert f"::{clean}:" not in result.stdout.str()


def test_warn_mode_passes_with_warnings(sample: pytest.Pytester) -> None:
    result = run(sample, "--fdleak", "--fdleak-mode=warn")
    result.assert_outcomes(passed=PASSING + LEAKING, warnings=LEAKING)
    result.stdout.fnmatch_lines(
        [
            "*FdleakWarning: test_leaks_file_and_pipe leaked 3 file descriptors:",
            f"  fd * file */report_1.csv, opened at test_sample.py:{line('LEAK-FILE')} in *",
        ]
    )
    result.stdout.fnmatch_lines(["3 of 6 tests leaked 7 file descriptors (warned about); *"])


def test_off_by_default(sample: pytest.Pytester) -> None:
    result = run(sample)
    result.assert_outcomes(passed=PASSING + LEAKING)
    assert "fdleak" not in result.stdout.str()


def test_ini_option_turns_it_on(sample: pytest.Pytester) -> None:
    sample.makeini("[pytest]\nfdleak = true\n")
    result = run(sample, "-k", "leaks_file or clean")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_leaks_file_and_pipe leaked 3 file descriptors:"])


def test_marker_is_known_without_the_plugin_turned_on(sample: pytest.Pytester) -> None:
    result = run(sample, "--strict-markers", "-k", "allowed")
    result.assert_outcomes(passed=1)


FAILING = """
import os

KEEP = []


def test_fails_and_leaks():
    KEEP.append(os.eventfd(0))
    assert 1 == 2
"""


def test_a_failing_test_keeps_its_own_failure_and_gets_a_section(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join([str(Path(fdleak.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
    )
    pytester.makepyfile(test_failing=FAILING)
    result = run(pytester, "--fdleak")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["E       assert 1 == 2", "*- fdleak -*", "test_fails_and_leaks leaked 1 file descriptor:"]
    )
