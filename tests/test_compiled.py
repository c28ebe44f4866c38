"""The compiled line loop against its oracle, the pure-Python reducer: same results, always.

Every log the other tests analyze is also compared (conftest.run_fdleak); here the
fuzzed lines of test_fuzz, whole reports on real strace logs, and the fallback switch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import need, need_tool
from differential import assert_same, assert_same_reduction, compiled_built
from fdleak.sources.strace.reduce import BlockReducer, compiled_scan
from test_fuzz import REAL_LINES, mangled

# the shapes the compiled loop takes itself, each in the three prefixes it knows
HOT = [
    '{p}openat(AT_FDCWD</t>, "/t/a", O_RDONLY|O_CLOEXEC) = 3</t/a>',
    "{p}close(3</t/a>) = 0",
    '{p}openat(AT_FDCWD</t>, "/t/b", O_RDONLY <unfinished ...>',
    "{p}<... openat resumed>) = 4</t/b>",
    "{p}close(4</t/b> <unfinished ...>",
    "{p}<... close resumed>) = 0",
    "{p}ioctl(5<socket:[9]>, FIONBIO, [1]) = 0",
    "{p}ioctl(5<socket:[9]>, FIOCLEX <unfinished ...>",
    "{p}ioctl(5<socket:[9]>, TCGETS <unfinished ...>",
    "{p}<... ioctl resumed>) = 0",
    "{p}fcntl(5<socket:[9]>, F_GETFL) = 0x2 (flags O_RDWR)",
    "{p}fcntl(5<socket:[9]>, F_DUPFD_CLOEXEC, 0 <unfinished ...>",
    "{p}<... fcntl resumed>) = 6<socket:[9]>",
    "{p}socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP <unfinished ...>",
    "{p}<... socket resumed>) = 7<TCP:[10]>",
    "{p}dup2(7<TCP:[10]>, 8 <unfinished ...>",
    "{p}<... dup2 resumed>) = 8<TCP:[10]>",
    "{p}recvmsg(7<TCP:[10]>, {{msg_name=NULL}}, 0) = 5",
    '{p}read(3</t/a>, "x", 1) = 1',
    "{p}read(3</t/a>,  <unfinished ...>",
    '{p}<... read resumed>"x", 1) = 1',
    "{p}close(9) = -1 EBADF (Bad file descriptor)",
    "{p}<... openat resumed>) = -1 ENOENT (No such file or directory)",
    "{p}<... dup2 resumed> <unfinished ...>) = 8",
    "{p}<... mystery resumed>) = 0",
    '{p}connect(7<TCP:[10]>, {{sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("127.0.0.1")}}, 16 <unfinished ...>',
    "{p}<... connect resumed>) = -1 EINPROGRESS (Operation now in progress)",
    "{p}ioctl(7<TCP:[10]>, TCGETS <unfinished ...>",
    "{p}<... ioctl resumed>, 0x7fff68507510) = -1 ENOTTY (Inappropriate ioctl for device)",
    "{p}socket(AF_INET, SOCK_STREAM, IPPROTO_TCP <unfinished ...>",
    "{p}<... socket resumed>) = -1 EMFILE (Too many open files)",
    "{p}<... socket resumed> => 3",
]
PREFIXES = ["4242  1795512173.164999 ", "4243  09:09:20.479474 ", "4244 ", "1795512173.165 ", ""]


def hot_lines(prefix: str) -> list[str]:
    return [line.format(p=prefix) for line in HOT]


@pytest.fixture(autouse=True)
def _built() -> None:
    need(compiled_built(), "fdleak's C extension is not built (pip install -e . with gcc and Python headers)")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_hot_shapes(prefix: str) -> None:
    assert_same(hot_lines(prefix) * 3)
    assert_same([line + "\n" for line in hot_lines(prefix)] * 3)


def test_fuzz_lines_of_test_fuzz() -> None:
    assert_same(REAL_LINES * 2)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.text(max_size=120), mangled(), st.sampled_from(REAL_LINES)), max_size=40))
def test_arbitrary_and_mangled_lines(lines: list[str]) -> None:
    assert_same(lines, blocks=(40, 3, 1))


@st.composite
def hot_mangled(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(HOT)).format(p=draw(st.sampled_from(PREFIXES)))
    cut = draw(st.integers(0, len(line)))
    how = draw(st.sampled_from(["keep", "truncate", "insert", "delete"]))
    if how == "truncate":
        return line[:cut]
    if how == "insert":
        return (
            line[:cut]
            + draw(st.sampled_from([" ", "\t", ")", " = ", "<", ">", "\r", "9", "é", "\xa0", "\x85"]))
            + line[cut:]
        )
    if how == "delete":
        return line[:cut] + line[cut + 1 :]
    return line


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hot_mangled(), max_size=40))
def test_mangled_hot_lines(lines: list[str]) -> None:
    assert_same(lines, blocks=(40, 3, 1))


def test_pure_python_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FDLEAK_PURE_PYTHON", "1")
    assert compiled_scan() is None
    assert BlockReducer()._scan is None
    monkeypatch.setenv("FDLEAK_PURE_PYTHON", "0")
    assert compiled_scan() is not None


WORKLOAD = textwrap.dedent(
    """
    import os, socket, threading
    def work(n):
        for i in range(300):
            with open(__file__) as f:
                f.read(1)
            a, b = socket.socketpair()
            os.set_inheritable(a.fileno(), True)
            c = os.dup(b.fileno())
            os.close(c)
            a.close(); b.close()
            r, w = os.pipe()
            os.dup2(r, 40 + n)
            os.close(r); os.close(w)
            if i % 50 == 0:
                open(__file__)  # a leak
    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for t in threads: t.start()
    for t in threads: t.join()
    """
)


@pytest.mark.strace
def test_real_strace_log_gives_the_same_report(tmp_path: Path) -> None:
    strace = need_tool("strace")
    script = tmp_path / "work.py"
    script.write_text(WORKLOAD)
    log = tmp_path / "trace.strace"
    subprocess.run(
        [strace, "-f", "-ttt", "-y", "-o", str(log), sys.executable, str(script)],
        check=True,
        timeout=120,
        capture_output=True,
    )
    assert "<unfinished ...>" in log.read_text(errors="replace")
    assert_same_reduction(log)
    reports = []
    for pure in ("0", "1"):
        out = tmp_path / f"report-{pure}.json"
        env = dict(os.environ, FDLEAK_PURE_PYTHON=pure)
        proc = subprocess.run(
            [sys.executable, "-m", "fdleak", "analyze", "--json", str(out), str(log)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert proc.returncode in (0, 1), proc.stderr
        reports.append(json.loads(out.read_text()))
    assert reports[0] == reports[1]
    assert reports[0]["window"]["events"] > 1000
