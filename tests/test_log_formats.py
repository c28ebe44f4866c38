"""One scenario, every shape of strace log a user may hand to ``fdleak analyze``: one answer.

The scenario: pid 4242 opens a.txt and b.txt, closes a.txt, makes a pipe and keeps its
read end, forks 4243; the child closes its copy of b.txt and opens c.txt; the parent
opens and closes d.txt. Still open at the end: the parent's pipe end and b.txt, the
child's copy of the pipe end and c.txt.

Shapes and decorations were checked against real strace 6.1 output on this machine
(``-o`` file, stderr, ``-ff``, ``-t/-tt/-ttt/-r``, ``-T``, ``-y``, ``-yy``, ``-k``).
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import analyze_json, run_fdleak

P, C = 4242, 4243
FORK = "clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f5add447e50)"


def scenario(p: int = P, c: int = C) -> list[tuple[int, str]]:
    return [
        (p, 'openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY|O_CLOEXEC) = 3</srv/a.txt>'),
        (p, 'openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY|O_CLOEXEC) = 4</srv/b.txt>'),
        (p, "close(3</srv/a.txt>) = 0"),
        (p, "pipe2([3<pipe:[9001]>, 5<pipe:[9001]>], O_CLOEXEC) = 0"),
        (p, "close(5<pipe:[9001]>) = 0"),
        (p, f"{FORK} = {c}"),
        (c, "close(4</srv/b.txt>) = 0"),
        (c, 'openat(AT_FDCWD</srv>, "/srv/c.txt", O_RDONLY|O_CLOEXEC) = 4</srv/c.txt>'),
        (p, 'openat(AT_FDCWD</srv>, "/srv/d.txt", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = 5</srv/d.txt>'),
        (p, "close(5</srv/d.txt>) = 0"),
    ]


def expected(p: int = P, c: int = C) -> set[tuple[int, int, str, str]]:
    return {
        (p, 3, "pipe", "pipe:[9001]"),
        (p, 4, "file", "/srv/b.txt"),
        (c, 3, "pipe", "pipe:[9001]"),
        (c, 4, "file", "/srv/c.txt"),
    }


EXPECTED = expected()
# what is still open in the parent alone (a trace without -f never sees the child)
EXPECTED_SOLO = {(fd, kind, target) for pid, fd, kind, target in EXPECTED if pid == P}


def undecorate(body: str) -> str:
    """What the same call looks like without -y."""
    return re.sub(r"(\d|AT_FDCWD)<[^<>]*>", r"\1", body)


def align(line: str) -> str:
    """strace pads the call so that ``= result`` starts at column 40."""
    m = re.match(r"^(.*\)) = (.*)$", line)
    if not m or "<unfinished ...>" in line:
        return line
    head, result = m.groups()
    return f"{head.ljust(39)} = {result}"


TIMES: dict[str, Callable[[int], str]] = {
    "none": lambda n: "",
    "t": lambda n: f"09:00:{n:02d} ",
    "tt": lambda n: f"09:00:00.{n:06d} ",
    "ttt": lambda n: f"1716900000.{n:06d} ",
    "r": lambda n: f"{n * 0.000011:13.6f} ",
}


def render(
    lines: list[tuple[int, str]],
    *,
    pid: str = "-o",
    time: str = "ttt",
    decorate: bool = True,
    durations: bool = False,
    only: int | None = None,
) -> str:
    """Print ``lines`` as strace would. pid: "-o" (``4242  ``), "stderr" (``[pid  4242] ``), "none"."""
    out = []
    for n, (p, body) in enumerate(lines, 1):
        if only is not None and p != only:
            continue
        if not decorate:
            body = undecorate(body)
        prefix = {"-o": f"{p:<5} ", "stderr": f"[pid {p:5}] ", "none": ""}[pid]
        line = align(prefix + TIMES[time](n) + body)
        if durations and " = " in body and "<unfinished" not in body:
            line += f" <0.0000{n + 10:02d}>"
        out.append(line)
    return "\n".join(out) + "\n"


def keyed(report: dict[str, Any], *, pipe_targets: bool = True) -> set[tuple[int, int, str, str]]:
    return {
        (e["pid"], e["fd"], e["kind"], e["target"] if pipe_targets or e["kind"] != "pipe" else "pipe:[9001]")
        for e in report["open_fds"]
    }


def analyze_text(tmp_path: Path, text: str, name: str = "trace.txt") -> dict[str, Any]:
    log = tmp_path / name
    log.write_text(text)
    _, report, _ = analyze_json(tmp_path, log)
    return report


# --------------------------------------------------------------------------- prefixes and times


@pytest.mark.parametrize("time", list(TIMES))
@pytest.mark.parametrize("pid", ["-o", "stderr"])
def test_follow_forks_every_time_format(tmp_path: Path, pid: str, time: str) -> None:
    report = analyze_text(tmp_path, render(scenario(), pid=pid, time=time))
    assert keyed(report) == EXPECTED
    assert report["window"]["unparsed_lines"] == 0
    assert report["window"]["lines"] == len(scenario())


@pytest.mark.parametrize("pid", ["-o", "stderr"])
def test_pids_wider_than_the_padding(tmp_path: Path, pid: str) -> None:
    report = analyze_text(tmp_path, render(scenario(123456, 4194303), pid=pid))
    assert keyed(report) == expected(123456, 4194303)


@pytest.mark.parametrize("time", list(TIMES))
def test_without_follow_forks(tmp_path: Path, time: str) -> None:
    """strace without -f: no pid on any line, one process."""
    solo = [(p, body) for p, body in scenario() if p == P and not body.startswith("clone(")]
    report = analyze_text(tmp_path, render(solo, pid="none", time=time))
    assert {(e["fd"], e["kind"], e["target"]) for e in report["open_fds"]} == EXPECTED_SOLO
    assert len({e["pid"] for e in report["open_fds"]}) == 1
    assert report["window"]["unparsed_lines"] == 0


def test_epoch_timestamps_become_the_window_and_ts(tmp_path: Path) -> None:
    report = analyze_text(tmp_path, render(scenario(), time="ttt"))
    assert report["window"]["start"] == pytest.approx(1716900000.000001)
    assert report["window"]["end"] == pytest.approx(1716900000.000010)
    c_txt = [e for e in report["open_fds"] if e["target"] == "/srv/c.txt"]
    assert [(e["ts"], e["line"], e["syscall"]) for e in c_txt] == [
        (pytest.approx(1716900000.000008), 8, "openat")
    ]


def test_durations(tmp_path: Path) -> None:
    report = analyze_text(tmp_path, render(scenario(), durations=True))
    assert keyed(report) == EXPECTED
    assert report["window"]["unparsed_lines"] == 0


def test_durations_with_relative_times(tmp_path: Path) -> None:
    report = analyze_text(tmp_path, render(scenario(), time="r", durations=True))
    assert keyed(report) == EXPECTED


def test_without_decorations(tmp_path: Path) -> None:
    report = analyze_text(tmp_path, render(scenario(), decorate=False))
    assert keyed(report, pipe_targets=False) == EXPECTED
    assert report["window"]["unparsed_lines"] == 0


def test_without_decorations_or_time_or_pid_in_the_stderr_shape(tmp_path: Path) -> None:
    report = analyze_text(
        tmp_path, render(scenario(), pid="stderr", time="none", decorate=False, durations=True)
    )
    assert keyed(report, pipe_targets=False) == EXPECTED


STDERR_LOG = """\
openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY|O_CLOEXEC) = 3</srv/a.txt>
openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY|O_CLOEXEC) = 4</srv/b.txt>
close(3</srv/a.txt>)                    = 0
pipe2([3<pipe:[9001]>, 5<pipe:[9001]>], O_CLOEXEC) = 0
close(5<pipe:[9001]>)                   = 0
clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLDstrace: Process 4243 attached
, child_tidptr=0x7f5add447e50) = 4243
[pid  4243] close(4</srv/b.txt>)        = 0
[pid  4243] openat(AT_FDCWD</srv>, "/srv/c.txt", O_RDONLY|O_CLOEXEC) = 4</srv/c.txt>
[pid  4242] openat(AT_FDCWD</srv>, "/srv/d.txt", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = 5</srv/d.txt>
[pid  4242] wait4(4243,  <unfinished ...>
[pid  4243] exit_group(0)               = ?
[pid  4243] +++ exited with 0 +++
<... wait4 resumed>[{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 4243
--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=4243, si_uid=0, si_status=0, si_utime=0, si_stime=0} ---
openat(AT_FDCWD</srv>, "/srv/e.txt", O_RDONLY|O_CLOEXEC) = 6</srv/e.txt>
"""
STDERR_EXPECTED = {
    (P, 3, "pipe", "pipe:[9001]"),
    (P, 4, "file", "/srv/b.txt"),
    (P, 5, "file", "/srv/d.txt"),
    (P, 6, "file", "/srv/e.txt"),
}


def test_stderr_log_with_unprefixed_lines_of_the_only_process(tmp_path: Path) -> None:
    """strace -f without -o prints "[pid N] " only while more than one process is traced:
    the lines before the first fork and after the last child's exit have no pid (this is
    what real strace 6.1 prints for `strace -f -y cmd 2>log`)."""
    report = analyze_text(tmp_path, STDERR_LOG)
    assert keyed(report) == STDERR_EXPECTED
    assert report["window"]["unparsed_lines"] == 0


def test_stderr_log_loses_no_line(tmp_path: Path) -> None:
    """Whatever pid the unprefixed lines get, the prefixed lines after them still count."""
    report = analyze_text(tmp_path, STDERR_LOG)
    assert {(fd, kind, target) for _, fd, kind, target in keyed(report)} == {
        (fd, kind, target) for _, fd, kind, target in STDERR_EXPECTED
    }
    assert {p["pid"] for p in report["processes"] if p["exited"]} == {C}


# --------------------------------------------------------------------------- -ff split files


def split(tmp_path: Path, lines: list[tuple[int, str]], *, time: str = "ttt") -> list[Path]:
    paths = []
    for pid in sorted({p for p, _ in lines}):
        path = tmp_path / f"trace.{pid}"
        path.write_text(render(lines, pid="none", time=time, only=pid))
        paths.append(path)
    return paths


def test_split_files_as_several_paths(tmp_path: Path) -> None:
    paths = split(tmp_path, scenario())
    _, report, _ = analyze_json(tmp_path, *paths)
    assert keyed(report) == EXPECTED
    assert sorted(report["source"]["inputs"]) == sorted(map(str, paths))


def test_split_files_in_any_order(tmp_path: Path) -> None:
    paths = split(tmp_path, scenario())
    _, report, _ = analyze_json(tmp_path, *reversed(paths))
    assert keyed(report) == EXPECTED


def test_split_files_expanded_by_the_shell(tmp_path: Path) -> None:
    split(tmp_path, scenario())
    paths = sorted(glob.glob(str(tmp_path / "trace.*")))  # what `fdleak analyze trace.*` receives
    _, report, _ = analyze_json(tmp_path, *paths)
    assert keyed(report) == EXPECTED


def test_split_files_glob_sorts_the_child_first(tmp_path: Path) -> None:
    """trace.10000 sorts before trace.9999: the files must be merged by time, not by name."""
    split(tmp_path, scenario(9999, 10000))
    paths = sorted(glob.glob(str(tmp_path / "trace.*")))
    assert paths[0].endswith("trace.10000")
    _, report, _ = analyze_json(tmp_path, *paths)
    assert keyed(report) == expected(9999, 10000)


def test_split_files_as_a_quoted_glob(tmp_path: Path) -> None:
    split(tmp_path, scenario())
    _, report, _ = analyze_json(tmp_path, tmp_path / "trace.*")
    assert keyed(report) == EXPECTED


def test_split_files_without_timestamps_parent_first(tmp_path: Path) -> None:
    paths = split(tmp_path, scenario(), time="none")
    _, report, _ = analyze_json(tmp_path, *paths)
    assert keyed(report) == EXPECTED


# --------------------------------------------------------------------------- decorations


def test_y_decorations_give_targets(tmp_path: Path) -> None:
    report = analyze_text(tmp_path, render(scenario()))
    targets = {(e["pid"], e["fd"]): e["target"] for e in report["open_fds"]}
    assert targets[(P, 3)] == targets[(C, 3)] == "pipe:[9001]"


def test_yy_nested_decorations(tmp_path: Path) -> None:
    text = """\
4242  1716900000.000001 openat(AT_FDCWD</srv>, "/dev/null", O_RDWR|O_CLOEXEC) = 5</dev/null<char 1:3>>
4242  1716900000.000002 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 3<TCP:[5510979]>
4242  1716900000.000003 connect(3<TCP:[5510979]>, {sa_family=AF_INET, sin_port=htons(6379), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
4242  1716900000.000004 getsockname(3<TCP:[127.0.0.1:40312->127.0.0.1:6379]>, {sa_family=AF_INET, sin_port=htons(40312), sin_addr=inet_addr("127.0.0.1")}, [16]) = 0
4242  1716900000.000005 fcntl(3<TCP:[127.0.0.1:40312->127.0.0.1:6379]>, F_DUPFD_CLOEXEC, 0) = 4<TCP:[127.0.0.1:40312->127.0.0.1:6379]>
4242  1716900000.000006 socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0) = 6<UNIX-STREAM:[5860402]>
4242  1716900000.000007 bind(6<UNIX-STREAM:[5860402]>, {sa_family=AF_UNIX, sun_path="/run/app.sock"}, 17) = 0
4242  1716900000.000008 listen(6<UNIX-STREAM:[5860402,"/run/app.sock"]>, 128) = 0
4242  1716900000.000009 accept4(6<UNIX-STREAM:[5860402,"/run/app.sock"]>, {sa_family=AF_UNIX}, [110 => 2], SOCK_CLOEXEC) = 7<UNIX-STREAM:[5860409->5860406,"/run/app.sock"]>
4242  1716900000.000010 close(4<TCP:[127.0.0.1:40312->127.0.0.1:6379]>) = 0
4242  1716900000.000011 openat(AT_FDCWD</srv>, "/dev/pts/0", O_RDWR|O_NOCTTY|O_CLOEXEC) = 8</dev/pts/0<char 136:0>>
4242  1716900000.000012 close(8</dev/pts/0<char 136:0>>) = 0
"""
    report = analyze_text(tmp_path, text)
    entries = {e["fd"]: e for e in report["open_fds"]}
    assert set(entries) == {3, 5, 6, 7}
    assert (entries[5]["kind"], entries[5]["target"]) == ("device", "/dev/null")
    assert entries[3]["kind"] == "socket" and "127.0.0.1:6379" in entries[3]["target"]
    assert entries[6]["kind"] == entries[7]["kind"] == "socket"
    assert report["window"]["unparsed_lines"] == 0


@pytest.mark.parametrize(
    "decoration",
    ["</tmp/x (deleted)>", "</tmp/x>(deleted)"],  # the latter is what strace 6.1 prints
    ids=["inside", "after"],
)
def test_deleted_after_a_decoration(tmp_path: Path, decoration: str) -> None:
    text = f"""\
4242  1716900000.000001 openat(AT_FDCWD</tmp>, "/tmp/x", O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 3</tmp/x>
4242  1716900000.000002 unlink("/tmp/x")                = 0
4242  1716900000.000003 fcntl(3{decoration}, F_DUPFD_CLOEXEC, 0) = 4{decoration}
4242  1716900000.000004 close(3{decoration})      = 0
4242  1716900000.000005 openat(AT_FDCWD</tmp>, "/tmp/y", O_RDONLY) = 3</tmp/y>
"""
    report = analyze_text(tmp_path, text)
    entries = {e["fd"]: e for e in report["open_fds"]}
    assert set(entries) == {3, 4}
    assert entries[3]["target"] == "/tmp/y"
    assert entries[4]["kind"] == "file" and entries[4]["target"].startswith("/tmp/x")
    assert report["window"]["unparsed_lines"] == 0


# --------------------------------------------------------------------------- unfinished / resumed


def test_unfinished_and_resumed_interleaved_across_pids(tmp_path: Path) -> None:
    text = """\
4242  1716900000.000001 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY|O_CLOEXEC) = 3</srv/a.txt>
4242  1716900000.000002 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY|O_CLOEXEC) = 4</srv/b.txt>
4242  1716900000.000003 close(3</srv/a.txt>) = 0
4242  1716900000.000004 pipe2( <unfinished ...>
4242  1716900000.000005 <... pipe2 resumed>[3<pipe:[9001]>, 5<pipe:[9001]>], O_CLOEXEC) = 0
4242  1716900000.000006 close(5<pipe:[9001]>) = 0
4242  1716900000.000007 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD <unfinished ...>
4243  1716900000.000008 close(4</srv/b.txt> <unfinished ...>
4242  1716900000.000009 <... clone resumed>, child_tidptr=0x7f5add447e50) = 4243
4243  1716900000.000010 <... close resumed>) = 0
4242  1716900000.000011 openat(AT_FDCWD</srv>, "/srv/d.txt", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666 <unfinished ...>
4243  1716900000.000012 openat(AT_FDCWD</srv>, "/srv/c.txt", O_RDONLY|O_CLOEXEC <unfinished ...>
4242  1716900000.000013 <... openat resumed>) = 5</srv/d.txt>
4243  1716900000.000014 <... openat resumed> ) = 4</srv/c.txt>
4242  1716900000.000015 close(5</srv/d.txt>) = 0
"""
    report = analyze_text(tmp_path, text)
    assert keyed(report) == EXPECTED
    assert report["window"]["unparsed_lines"] == 0


def test_resumed_lines_carry_the_output_arguments(tmp_path: Path) -> None:
    text = """\
4242  1716900000.000001 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3<socket:[5230998]>
4242  1716900000.000002 accept4(3<socket:[5230998]>,  <unfinished ...>
4243  1716900000.000003 socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0,  <unfinished ...>
4242  1716900000.000004 <... accept4 resumed>{sa_family=AF_INET, sin_port=htons(60052), sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC) = 4<socket:[5231002]>
4243  1716900000.000005 <... socketpair resumed>[5<socket:[5230992]>, 6<socket:[5230993]>]) = 0
4243  1716900000.000006 pipe([7<pipe:[77]>, 8<pipe:[77]>]) = 0
"""
    report = analyze_text(tmp_path, text)
    # 4243 is a pid never seen created: a process of its own
    assert {(e["pid"], e["fd"]) for e in report["open_fds"]} == {
        (4242, 3),
        (4242, 4),
        (4243, 5),
        (4243, 6),
        (4243, 7),
        (4243, 8),
    }


def test_unfinished_call_never_resumed_creates_nothing(tmp_path: Path) -> None:
    text = """\
4242  1716900000.000001 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY|O_CLOEXEC) = 3</srv/a.txt>
4242  1716900000.000002 accept4(3</srv/a.txt>,  <detached ...>
"""
    report = analyze_text(tmp_path, text)
    assert {(e["pid"], e["fd"]) for e in report["open_fds"]} == {(4242, 3)}


# --------------------------------------------------------------------------- noise strace itself prints


def test_signals_attach_and_detach_lines(tmp_path: Path) -> None:
    lines = render(scenario()).splitlines()
    noisy = [
        f"strace: Process {P} attached",
        *lines[:6],
        f"strace: Process {C} attached",
        *lines[6:8],
        f"{P:<5} 1716900000.000008 --- SIGCHLD {{si_signo=SIGCHLD, si_code=CLD_STOPPED, si_pid={C}, si_uid=0, "
        "si_status=SIGSTOP, si_utime=0, si_stime=0} ---",
        f"{P:<5} 1716900000.000008 --- SIGUSR1 {{si_signo=SIGUSR1, si_code=SI_USER, si_pid=1, si_uid=0}} ---",
        f"{C:<5} 1716900000.000008 --- stopped by SIGSTOP ---",
        *lines[8:],
        f"{P:<5} 1716900000.000011 read(3<pipe:[9001]>,  <detached ...>",
        f"strace: Process {P} detached",
        f"strace: Process {C} detached",
    ]
    report = analyze_text(tmp_path, "\n".join(noisy) + "\n")
    assert keyed(report) == EXPECTED
    assert report["window"]["unparsed_lines"] == 0
    assert report["window"]["lines"] == len(noisy)


def test_attach_notice_in_the_middle_of_a_line(tmp_path: Path) -> None:
    text = """\
[pid  4242] openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY|O_CLOEXEC) = 3</srv/a.txt>
[pid  4242] openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY|O_CLOEXEC) = 4</srv/b.txt>
[pid  4200] close(9)                    = 0
[pid  4242] close(3</srv/a.txt>)        = 0
[pid  4242] pipe2([3<pipe:[9001]>, 5<pipe:[9001]>], O_CLOEXEC) = 0
[pid  4242] close(5<pipe:[9001]>)       = 0
[pid  4242] clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLDstrace: Process 4243 attached
, child_tidptr=0x7f5add447e50) = 4243
[pid  4243] close(4</srv/b.txt>)        = 0
[pid  4243] openat(AT_FDCWD</srv>, "/srv/c.txt", O_RDONLY|O_CLOEXEC) = 4</srv/c.txt>
[pid  4242] openat(AT_FDCWD</srv>, "/srv/d.txt", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = 5</srv/d.txt>
[pid  4242] close(5</srv/d.txt>)        = 0
"""
    report = analyze_text(tmp_path, text)
    assert keyed(report) == EXPECTED
    assert report["window"]["unparsed_lines"] == 0


def test_stack_traces_of_k(tmp_path: Path) -> None:
    out = []
    for line in render(scenario()).splitlines():
        out.append(line)
        out.append(" > /usr/lib/x86_64-linux-gnu/libc.so.6(__open64+0x1a) [0xf4e2a]")
        out.append(
            " > /root/.pyenv/versions/3.11.7/bin/python3.11(_PyEval_EvalFrameDefault+0x6a3) [0x1a6e53]"
        )
        out.append(" > /usr/lib/x86_64-linux-gnu/libc.so.6() [0x2724a]")
    out.insert(3, " > unexpected_backtracing_error [0x7f1c2a3fe9d0]")
    report = analyze_text(tmp_path, "\n".join(out) + "\n")
    assert keyed(report) == EXPECTED
    assert report["window"]["unparsed_lines"] == 0


def test_unknown_and_uninteresting_syscalls_are_not_unparsed(tmp_path: Path) -> None:
    lines = render(scenario()).splitlines()
    extra = [
        "4242  1716900000.000003 syscall_0x1d6(0x1, 0x2, 0x7f92397e8bc0, 0x563858928c40, 0x7f92396af580, 0x6) = -1 ENOSYS (Function not implemented)",
        '4242  1716900000.000003 prctl(PR_SET_NAME, "celery") = 0',
        '4242  1716900000.000003 getrandom("\\xa9\\x50\\x24\\xf1", 4, GRND_NONBLOCK) = 4',
        "4242  1716900000.000003 frobnicate_fds(3<pipe:[9001]>, 0x10) = 0",
        "4242  1716900000.000003 rt_sigaction(SIGINT, {sa_handler=0x7fe11cad4d00, sa_mask=[], sa_flags=SA_RESTORER|SA_ONSTACK, sa_restorer=0x7fe11c65a050}, NULL, 8) = 0",
        "4242  1716900000.000003 fcntl(4</srv/b.txt>, F_GETFL) = 0x8000 (flags O_RDONLY|O_LARGEFILE)",
        "4242  1716900000.000003 wait4(-1, 0x7ffd00000000, WNOHANG, NULL) = 0",
    ]
    text = "\n".join(lines[:5] + extra + lines[5:]) + "\n"
    report = analyze_text(tmp_path, text)
    assert keyed(report) == EXPECTED
    assert report["window"]["unparsed_lines"] == 0


def test_garbage_lines_are_counted_never_fatal(tmp_path: Path) -> None:
    lines = render(scenario()).splitlines()
    garbage = ["##### this is not strace #####", "lorem ipsum dolor sit amet", "\x01\x02 ~~~ )))((( = = ="]
    text = "\n".join(lines[:2] + garbage[:1] + lines[2:7] + garbage[1:] + lines[7:]) + "\n"
    report = analyze_text(tmp_path, text)
    assert keyed(report) == EXPECTED
    assert report["window"]["unparsed_lines"] == 3
    assert report["window"]["lines"] == len(lines) + 3


def test_blank_lines(tmp_path: Path) -> None:
    text = render(scenario()).replace("\n", "\n\n", 3)
    report = analyze_text(tmp_path, text)
    assert keyed(report) == EXPECTED


# --------------------------------------------------------------------------- strings


def test_s_truncated_strings(tmp_path: Path) -> None:
    lines = render(scenario()).splitlines()
    extra = [
        '4242  1716900000.000003 write(4</srv/b.txt>, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"..., 4096) = 4096',
        '4242  1716900000.000003 read(4</srv/b.txt>, "x) = 5\\n, 7<pipe:[1]>"..., 4096) = 4096',
        '4242  1716900000.000003 openat(AT_FDCWD, "/tmp/very"..., O_RDONLY) = 7',
    ]
    text = "\n".join(lines[:5] + extra + lines[5:]) + "\n"
    report = analyze_text(tmp_path, text)
    got = keyed(report)
    truncated = {entry for entry in got if entry[1] == 7}
    assert got - truncated == EXPECTED
    # the truncated path is an fd of the parent (and the child's copy), target begins as printed
    assert {(pid, kind) for pid, _, kind, _ in truncated} == {(P, "file"), (C, "file")}
    assert all(target.startswith("/tmp/very") for *_, target in truncated)
    assert report["window"]["unparsed_lines"] == 0


@pytest.mark.parametrize(
    ("printed", "decoded"),
    [
        (r'"/srv/we\"ird, (x)\n.txt"', '/srv/we"ird, (x)\n.txt'),
        (r'"/srv/a) = 7, b"', "/srv/a) = 7, b"),
        (r'"/srv/caf\303\251.txt"', "/srv/café.txt"),
        (r'"/srv/tab\there"', "/srv/tab\there"),
    ],
    ids=["quote-comma-parens-newline", "result-lookalike", "octal-utf8", "tab"],
)
@pytest.mark.parametrize("decorate", [False, True], ids=["plain", "y"])
def test_quoted_paths(tmp_path: Path, printed: str, decoded: str, decorate: bool) -> None:
    decoration = "<" + printed[1:-1] + ">" if decorate else ""
    text = (
        f"4242  1716900000.000001 openat(AT_FDCWD, {printed}, O_RDONLY|O_CLOEXEC) = 3{decoration}\n"
        f"4242  1716900000.000002 openat(AT_FDCWD, {printed}, O_RDONLY|O_CLOEXEC) = 4{decoration}\n"
        f"4242  1716900000.000003 close(3{decoration})  = 0\n"
    )
    report = analyze_text(tmp_path, text)
    assert [(e["fd"], e["target"]) for e in report["open_fds"]] == [(4, decoded)]
    assert report["window"]["unparsed_lines"] == 0


def test_angle_brackets_escaped_in_a_decoration(tmp_path: Path) -> None:
    # strace 6.1 -y prints < and > inside a decoration as \74 and \76
    text = (
        '4242  1716900000.000001 openat(AT_FDCWD</srv>, "/srv/a<b>c|d e", O_WRONLY|O_CREAT|O_CLOEXEC, 0777)'
        " = 3</srv/a\\74b\\76c|d e>\n"
        '4242  1716900000.000002 openat(AT_FDCWD</srv>, "/srv/f", O_RDONLY) = 4</srv/f>\n'
    )
    report = analyze_text(tmp_path, text)
    assert {(e["fd"], e["target"]) for e in report["open_fds"]} == {(3, "/srv/a<b>c|d e"), (4, "/srv/f")}


def test_invalid_utf8_in_a_path(tmp_path: Path) -> None:
    text = '4242  1716900000.000001 openat(AT_FDCWD, "/srv/bad\\377name", O_RDONLY) = 3\n'
    report = analyze_text(tmp_path, text)
    (entry,) = report["open_fds"]
    assert (entry["fd"], entry["kind"]) == (3, "file")
    assert entry["target"].startswith("/srv/bad") and entry["target"].endswith("name")


# --------------------------------------------------------------------------- containers and encodings


def test_gzip_compressed_log(tmp_path: Path) -> None:
    packed = tmp_path / "trace.txt.gz"
    packed.write_bytes(gzip.compress(render(scenario()).encode()))
    _, report, _ = analyze_json(tmp_path, packed)
    assert keyed(report) == EXPECTED


def test_gzip_without_gz_suffix(tmp_path: Path) -> None:
    packed = tmp_path / "trace.log"
    packed.write_bytes(gzip.compress(render(scenario()).encode()))
    _, report, _ = analyze_json(tmp_path, packed)
    assert keyed(report) == EXPECTED


def test_gzip_split_files(tmp_path: Path) -> None:
    for path in split(tmp_path, scenario()):
        Path(f"{path}.gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    _, report, _ = analyze_json(tmp_path, tmp_path / f"trace.{P}.gz", tmp_path / f"trace.{C}.gz")
    assert keyed(report) == EXPECTED


def test_stdin(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    proc = run_fdleak("analyze", "--json", str(out), "-", stdin=render(scenario()).encode())
    assert proc.returncode in (0, 1), proc.stderr
    assert keyed(json.loads(out.read_text())) == EXPECTED


def test_crlf_line_endings(tmp_path: Path) -> None:
    log = tmp_path / "trace.txt"
    log.write_bytes(render(scenario()).replace("\n", "\r\n").encode())
    _, report, _ = analyze_json(tmp_path, log)
    assert keyed(report) == EXPECTED
    assert report["window"]["unparsed_lines"] == 0


def test_no_newline_at_end_of_a_complete_last_line(tmp_path: Path) -> None:
    report = analyze_text(tmp_path, render(scenario()).rstrip("\n"))
    assert keyed(report) == EXPECTED


def test_latin1_bytes_in_the_log(tmp_path: Path) -> None:
    """strace escapes non-ASCII, but a log passed through other tools may carry raw bytes."""
    log = tmp_path / "trace.txt"
    raw = render(scenario()).encode() + b'4242  1716900000.000011 write(1, "caf\xe9", 4) = 4\n'
    log.write_bytes(raw)
    _, report, _ = analyze_json(tmp_path, log)
    assert keyed(report) == EXPECTED


# --------------------------------------------------------------------------- bad input


def assert_one_line_error(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].strip()


def test_missing_file(tmp_path: Path) -> None:
    assert_one_line_error(run_fdleak("analyze", str(tmp_path / "nope.txt")))


def test_one_of_several_files_missing(tmp_path: Path) -> None:
    paths = split(tmp_path, scenario())
    assert_one_line_error(run_fdleak("analyze", *map(str, paths), str(tmp_path / "trace.9")))


def test_glob_matching_nothing(tmp_path: Path) -> None:
    assert_one_line_error(run_fdleak("analyze", str(tmp_path / "trace.*")))


def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: permission bits do not stop root from reading a file")
    log = tmp_path / "secret.txt"
    log.write_text(render(scenario()))
    log.chmod(0)
    try:
        assert_one_line_error(run_fdleak("analyze", str(log)))
    finally:
        log.chmod(0o600)


def test_directory(tmp_path: Path) -> None:
    assert_one_line_error(run_fdleak("analyze", str(tmp_path)))


def test_random_bytes(tmp_path: Path) -> None:
    log = tmp_path / "random.bin"
    log.write_bytes(os.urandom(64 * 1024))
    assert_one_line_error(run_fdleak("analyze", str(log)))


def test_elf_binary(tmp_path: Path) -> None:
    assert_one_line_error(run_fdleak("analyze", "/bin/true"))


def test_empty_file(tmp_path: Path) -> None:
    log = tmp_path / "empty.txt"
    log.write_text("")
    assert_one_line_error(run_fdleak("analyze", str(log)))


def test_empty_gzip(tmp_path: Path) -> None:
    log = tmp_path / "empty.txt.gz"
    log.write_bytes(gzip.compress(b""))
    assert_one_line_error(run_fdleak("analyze", str(log)))


def test_corrupt_gzip(tmp_path: Path) -> None:
    log = tmp_path / "trace.txt.gz"
    log.write_bytes(gzip.compress(render(scenario()).encode())[:40])
    proc = run_fdleak("analyze", str(log))
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 2 or proc.stderr.strip(), proc.stderr


def test_empty_stdin() -> None:
    assert_one_line_error(run_fdleak("analyze", "-", stdin=b""))


def test_log_without_fd_syscalls(tmp_path: Path) -> None:
    log = tmp_path / "reads.txt"
    log.write_text(
        '4242  1716900000.000001 read(3</srv/a.txt>, "abc", 3) = 3\n'
        '4242  1716900000.000002 write(1</dev/pts/0>, "x", 1) = 1\n'
        "4242  1716900000.000003 lseek(3</srv/a.txt>, 0, SEEK_SET) = 0\n"
    )
    assert_one_line_error(run_fdleak("analyze", str(log)))


def test_text_that_is_not_strace(tmp_path: Path) -> None:
    log = tmp_path / "notes.txt"
    log.write_text("dear diary\ntoday nothing leaked\n")
    assert_one_line_error(run_fdleak("analyze", str(log)))


def test_truncated_last_line_gives_partial_results_and_a_warning(tmp_path: Path) -> None:
    text = render(scenario())
    cut = text + '4242  1716900000.000011 openat(AT_FDCWD</srv>, "/srv/e.t'
    log = tmp_path / "cut.txt"
    log.write_text(cut)
    status, report, stderr = analyze_json(tmp_path, log)
    assert status in (0, 1)
    assert keyed(report) == EXPECTED
    assert stderr.strip(), "a cut last line deserves a warning on stderr"
    assert "Traceback" not in stderr
    assert report["window"]["unparsed_lines"] == 1


def test_warnings_are_whole_lines_however_long(tmp_path: Path) -> None:
    """A warning quoting a long cut line is still one stderr line per warning (grep-able)."""
    long_path = "/srv/" + "x" * 300
    log = tmp_path / "cut.txt"
    log.write_text(render(scenario()) + f'4242  1716900000.000011 openat(AT_FDCWD</srv>, "{long_path}", O_RD')
    _, _, stderr = analyze_json(tmp_path, log)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "a cut last line deserves a warning on stderr"
    assert all(line.startswith("fdleak") for line in lines), stderr


def test_truncated_gzip_gives_partial_results_or_a_clean_error(tmp_path: Path) -> None:
    data = gzip.compress((render(scenario()) * 50).encode())
    log = tmp_path / "cut.txt.gz"
    log.write_bytes(data[: len(data) - 8])  # the trailer is gone: an interrupted copy
    proc = run_fdleak("analyze", str(log))
    assert proc.returncode in (0, 1, 2), proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip(), "a damaged gzip deserves at least a warning"
