"""One small strace log per fd syscall semantic: the fd table fdleak rebuilds must be exact.

Every log is written the way ``strace -f -ttt -y -o trace.txt`` (strace 6.1) writes it:
the pid padded to five columns, an epoch timestamp, ``-y`` decorations, and `` = result``
aligned at column 40. The decorations, flag names and argument shapes were checked
against real strace 6.1 output on this machine.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from conftest import analyze_json

T0 = 1716900000.0
THREAD_FLAGS = (
    "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS"
    "|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID"
)
FORK = "clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f5add447e50)"
PTHREAD = (
    "clone(child_stack=0x7f1c2a3fdfb0, flags=" + THREAD_FLAGS + ", parent_tid=[TID], "
    "tls=0x7f1c2a3fe700, child_tidptr=0x7f1c2a3fe9d0)"
)
CLONE3_THREAD = (
    "clone3({flags=" + THREAD_FLAGS + ", child_tid=0x7f7ca48ef990, parent_tid=0x7f7ca48ef990, "
    "exit_signal=0, stack=0x7f7ca40ef000, stack_size=0x7fff80, tls=0x7f7ca48ef6c0} "
    "=> {parent_tid=[TID]}, 88)"
)
EXECVE = 'execve("/usr/bin/true", ["true"], 0x7ffd2b1f0e18 /* 35 vars */)'


def align(line: str) -> str:
    """strace pads the call so that ``= result`` starts at column 40 (its ``acolumn``)."""
    m = re.match(r"^(.*\)) = (.*)$", line)
    if not m or " <unfinished ...>" in line:
        return line
    head, result = m.groups()
    return f"{head.ljust(39)} = {result}"


def strace_f(text: str) -> str:
    """``PID body`` lines -> the ``strace -f -ttt -y -o`` shape; other lines are kept as they are.

    Line n gets the timestamp T0 + n/1000, so a test can predict ``ts``.
    """
    out = []
    for n, raw in enumerate(textwrap.dedent(text).strip("\n").splitlines(), 1):
        m = re.match(r"^(\d+) (.*)$", raw)
        if m is None:
            out.append(raw)
            continue
        pid, body = m.groups()
        out.append(align(f"{pid:<5} {T0 + n / 1000:.6f} {body}"))
    return "\n".join(out) + "\n"


def analyze(tmp_path: Path, text: str, *, shape: bool = True, name: str = "trace.txt") -> dict[str, Any]:
    log = tmp_path / name
    log.write_text(strace_f(text) if shape else text)
    _, report, _ = analyze_json(tmp_path, log)
    return report


def table(report: dict[str, Any]) -> dict[tuple[int, int], tuple[str, str]]:
    """open_fds as {(pid, fd): (kind, target)}; a (pid, fd) listed twice is a bug in itself."""
    entries = report["open_fds"]
    keys = [(e["pid"], e["fd"]) for e in entries]
    assert len(keys) == len(set(keys)), f"an fd is listed twice: {entries}"
    return {(e["pid"], e["fd"]): (e["kind"], e["target"]) for e in entries}


def targets(report: dict[str, Any]) -> dict[tuple[int, int], str]:
    return {key: target for key, (_, target) in table(report).items()}


def entry(report: dict[str, Any], pid: int, fd: int) -> dict[str, Any]:
    found: list[dict[str, Any]] = [e for e in report["open_fds"] if (e["pid"], e["fd"]) == (pid, fd)]
    assert len(found) == 1, found
    return found[0]


def process(report: dict[str, Any], pid: int) -> dict[str, Any]:
    found: list[dict[str, Any]] = [p for p in report["processes"] if p["pid"] == pid]
    assert len(found) == 1, found
    return found[0]


# --------------------------------------------------------------------------- creating fds


def test_open(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 open("/etc/hosts", O_RDONLY|O_CLOEXEC) = 3</etc/hosts>
        4242 open("/var/log/app.log", O_WRONLY|O_CREAT|O_APPEND, 0644) = 4</var/log/app.log>
        """,
    )
    assert table(report) == {(4242, 3): ("file", "/etc/hosts"), (4242, 4): ("file", "/var/log/app.log")}
    first = entry(report, 4242, 3)
    assert (first["syscall"], first["line"]) == ("open", 1)
    assert first["ts"] == pytest.approx(T0 + 0.001)


def test_openat_relative_to_a_directory_fd(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 openat(AT_FDCWD</srv>, "data", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = 3</srv/data>
        4242 openat(3</srv/data>, "a.txt", O_RDONLY|O_CLOEXEC) = 4</srv/data/a.txt>
        4242 openat(AT_FDCWD</srv>, "b.txt", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = 5</srv/b.txt>
        """,
    )
    assert table(report) == {
        (4242, 3): ("directory", "/srv/data"),
        (4242, 4): ("file", "/srv/data/a.txt"),
        (4242, 5): ("file", "/srv/b.txt"),
    }
    assert {e["syscall"] for e in report["open_fds"]} == {"openat"}


def test_openat2(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 openat2(AT_FDCWD</srv>, "/srv/o2.txt", {flags=O_RDONLY|O_CLOEXEC, resolve=0}, 24) = 3</srv/o2.txt>
        4242 openat2(AT_FDCWD</srv>, "/srv/none", {flags=O_RDONLY|O_CLOEXEC, resolve=RESOLVE_NO_SYMLINKS}, 24) = -1 ENOENT (No such file or directory)
        """,
    )
    assert table(report) == {(4242, 3): ("file", "/srv/o2.txt")}
    assert entry(report, 4242, 3)["syscall"] == "openat2"


def test_creat(tmp_path: Path) -> None:
    report = analyze(tmp_path, '4242 creat("/tmp/c.txt", 0644) = 3</tmp/c.txt>')
    assert table(report) == {(4242, 3): ("file", "/tmp/c.txt")}
    assert entry(report, 4242, 3)["syscall"] == "creat"


def test_open_by_handle_at(tmp_path: Path) -> None:
    # strace 6.1 prints the result of open_by_handle_at without a decoration, even with -y
    report = analyze(
        tmp_path,
        r"""
        4242 openat(AT_FDCWD</srv>, "/srv", O_RDONLY|O_DIRECTORY) = 3</srv>
        4242 name_to_handle_at(AT_FDCWD</srv>, "/srv/b.txt", {handle_bytes=128 => 8, handle_type=1, f_handle="\x0d\xc7\x20\x00\x64\x15\x9e\x2f"}, [27], 0) = 0
        4242 open_by_handle_at(3</srv>, {handle_bytes=8, handle_type=1, f_handle="\x0d\xc7\x20\x00\x64\x15\x9e\x2f"}, O_RDONLY) = 4
        """,
    )
    assert set(table(report)) == {(4242, 3), (4242, 4)}
    assert entry(report, 4242, 4)["syscall"] == "open_by_handle_at"


def test_socket_then_connect_names_the_peer(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 3<socket:[5231001]>
        4242 connect(3<socket:[5231001]>, {sa_family=AF_INET, sin_port=htons(6379), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
        """,
    )
    ((key, (kind, target)),) = table(report).items()
    assert key == (4242, 3)
    assert kind == "socket"
    assert "127.0.0.1:6379" in target


def test_socket_without_decorations_gets_protocol_and_peer(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 3
        4242 connect(3, {sa_family=AF_INET, sin_port=htons(6379), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
        """,
    )
    ((key, (kind, target)),) = table(report).items()
    assert (key, kind) == ((4242, 3), "socket")
    assert "127.0.0.1:6379" in target
    assert target == "TCP ->127.0.0.1:6379"


def test_nonblocking_connect_in_progress_still_names_the_peer(tmp_path: Path) -> None:
    # asyncio and most client libraries connect non-blocking: EINPROGRESS, then poll
    report = analyze(
        tmp_path,
        """
        4242 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_TCP) = 3<socket:[5231001]>
        4242 connect(3<socket:[5231001]>, {sa_family=AF_INET, sin_port=htons(6379), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EINPROGRESS (Operation now in progress)
        """,
    )
    ((key, (kind, target)),) = table(report).items()
    assert (key, kind) == ((4242, 3), "socket")
    assert "127.0.0.1:6379" in target


def test_socketpair(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, [3<socket:[5230992]>, 4<socket:[5230993]>]) = 0
        4242 socketpair(AF_UNIX, SOCK_DGRAM|SOCK_CLOEXEC, 0, [5<socket:[5230994]>, 6<socket:[5230995]>]) = 0
        """,
    )
    assert set(table(report)) == {(4242, 3), (4242, 4), (4242, 5), (4242, 6)}
    assert {kind for kind, _ in table(report).values()} == {"socket"}


def test_socketpair_with_yy_decorations(tmp_path: Path) -> None:
    # strace -yy (6.1) names both ends of a socketpair: "->" inside the decoration
    report = analyze(
        tmp_path,
        """
        4242 socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, [3<UNIX-STREAM:[5862734->5862735]>, 4<UNIX-STREAM:[5862735->5862734]>]) = 0
        4242 socketpair(AF_UNIX, SOCK_DGRAM|SOCK_CLOEXEC, 0, [5<UNIX:[5862738->5862739]>, 6<UNIX:[5862739->5862738]>]) = 0
        4242 close(4<UNIX-STREAM:[5862735->5862734]>) = 0
        """,
    )
    assert set(table(report)) == {(4242, 3), (4242, 5), (4242, 6)}
    assert {kind for kind, _ in table(report).values()} == {"socket"}


def test_accept_and_accept4(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3<socket:[5230998]>
        4242 bind(3<socket:[5230998]>, {sa_family=AF_INET, sin_port=htons(8000), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
        4242 listen(3<socket:[5230998]>, 128) = 0
        4242 accept4(3<socket:[5230998]>, {sa_family=AF_INET, sin_port=htons(60052), sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC) = 4<socket:[5231002]>
        4242 accept(3<socket:[5230998]>, {sa_family=AF_INET, sin_port=htons(60054), sin_addr=inet_addr("127.0.0.1")}, [128 => 16]) = 5<socket:[5231005]>
        4242 accept4(3<socket:[5230998]>, NULL, NULL, SOCK_CLOEXEC|SOCK_NONBLOCK) = 6<socket:[5231007]>
        4242 accept4(3<socket:[5230998]>, NULL, NULL, SOCK_CLOEXEC|SOCK_NONBLOCK) = -1 EAGAIN (Resource temporarily unavailable)
        4242 close(5<socket:[5231005]>) = 0
        """,
    )
    assert set(table(report)) == {(4242, 3), (4242, 4), (4242, 6)}
    assert {kind for kind, _ in table(report).values()} == {"socket"}
    assert entry(report, 4242, 4)["syscall"] == "accept4"


@pytest.mark.parametrize(
    "call", ["pipe([3<pipe:[77]>, 4<pipe:[77]>])", "pipe2([3<pipe:[77]>, 4<pipe:[77]>], O_CLOEXEC)"]
)
def test_pipe_and_pipe2(tmp_path: Path, call: str) -> None:
    report = analyze(tmp_path, f"4242 {call} = 0")
    assert table(report) == {(4242, 3): ("pipe", "pipe:[77]"), (4242, 4): ("pipe", "pipe:[77]")}


def test_pipe2_without_decorations(tmp_path: Path) -> None:
    report = analyze(tmp_path, "4242 pipe2([3, 4], 0) = 0\n4242 close(4) = 0")
    assert {key: kind for key, (kind, _) in table(report).items()} == {(4242, 3): "pipe"}


# (syscall line, kind, target) for every anonymous-inode kind, as strace 6.1 -y prints them
ANON = [
    ("eventfd2(0, EFD_CLOEXEC) = 3<anon_inode:[eventfd]>", "eventfd", "anon_inode:[eventfd]"),
    ("epoll_create1(EPOLL_CLOEXEC) = 3<anon_inode:[eventpoll]>", "epoll", "anon_inode:[eventpoll]"),
    ("epoll_create(1) = 3<anon_inode:[eventpoll]>", "epoll", "anon_inode:[eventpoll]"),
    (
        "timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC|TFD_NONBLOCK) = 3<anon_inode:[timerfd]>",
        "timerfd",
        "anon_inode:[timerfd]",
    ),
    (
        "signalfd4(-1, [USR1], 8, SFD_CLOEXEC|SFD_NONBLOCK) = 3<anon_inode:[signalfd]>",
        "signalfd",
        "anon_inode:[signalfd]",
    ),
    ("inotify_init1(IN_CLOEXEC) = 3<anon_inode:inotify>", "inotify", "anon_inode:inotify"),
    (
        "fanotify_init(FAN_CLASS_NOTIF|FAN_CLOEXEC, O_RDONLY) = 3<anon_inode:[fanotify]>",
        "other",
        "anon_inode:[fanotify]",
    ),
    ("pidfd_open(4243, 0) = 3<anon_inode:[pidfd]>", "pidfd", "anon_inode:[pidfd]"),
    ("userfaultfd(O_CLOEXEC|O_NONBLOCK) = 3<anon_inode:[userfaultfd]>", "other", "anon_inode:[userfaultfd]"),
    (
        "perf_event_open({type=PERF_TYPE_SOFTWARE, size=PERF_ATTR_SIZE_VER7, config=PERF_COUNT_SW_CPU_CLOCK, "
        "sample_period=0, sample_type=0, read_format=0, precise_ip=0 /* arbitrary skid */, ...}, 0, -1, -1, "
        "PERF_FLAG_FD_CLOEXEC) = 3<anon_inode:[perf_event]>",
        "other",
        "anon_inode:[perf_event]",
    ),
    (
        "io_uring_setup(8, {flags=0, sq_thread_cpu=0, sq_thread_idle=0, sq_entries=8, cq_entries=16, "
        "features=IORING_FEAT_SINGLE_MMAP|IORING_FEAT_NODROP|IORING_FEAT_SUBMIT_STABLE|0x3e000, sq_off={head=0, "
        "tail=4, ring_mask=16, ring_entries=24, flags=36, dropped=32, array=320}, cq_off={head=8, tail=12, "
        "ring_mask=20, ring_entries=28, overflow=44, cqes=64, flags=40}}) = 3<anon_inode:[io_uring]>",
        "other",
        "anon_inode:[io_uring]",
    ),
]


@pytest.mark.parametrize(("line", "kind", "target"), ANON, ids=[a[0].split("(")[0] for a in ANON])
def test_anonymous_inode_kinds(tmp_path: Path, line: str, kind: str, target: str) -> None:
    report = analyze(tmp_path, f"4242 {line}")
    assert table(report) == {(4242, 3): (kind, target)}
    assert entry(report, 4242, 3)["syscall"] == line.split("(")[0]


@pytest.mark.parametrize(("line", "kind", "target"), ANON, ids=[a[0].split("(")[0] for a in ANON])
def test_anonymous_inode_kinds_without_decorations(tmp_path: Path, line: str, kind: str, target: str) -> None:
    """Without -y the kind still follows from the syscall that made the fd."""
    report = analyze(tmp_path, f"4242 {line.rsplit('<', 1)[0]}")
    assert {key: k for key, (k, _) in table(report).items()} == {(4242, 3): kind}


def test_signalfd4_on_an_existing_signalfd_creates_nothing(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 signalfd4(-1, [USR1], 8, SFD_CLOEXEC) = 3<anon_inode:[signalfd]>
        4242 signalfd4(3<anon_inode:[signalfd]>, [USR1 USR2], 8, 0) = 3<anon_inode:[signalfd]>
        """,
    )
    assert table(report) == {(4242, 3): ("signalfd", "anon_inode:[signalfd]")}
    assert entry(report, 4242, 3)["line"] == 1
    assert process(report, 4242)["opened"] == 1


def test_memfd_create(tmp_path: Path) -> None:
    # strace 6.1 prints the "(deleted)" of a memfd after the decoration
    report = analyze(tmp_path, '4242 memfd_create("mymem", MFD_CLOEXEC) = 3</memfd:mymem>(deleted)')
    ((key, (kind, target)),) = table(report).items()
    assert (key, kind) == ((4242, 3), "memfd")
    assert "memfd:mymem" in target


def test_pidfd_getfd_copies_an_fd_of_another_process(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 pidfd_open(4300, 0) = 3<anon_inode:[pidfd]>
        4242 pidfd_getfd(3<anon_inode:[pidfd]>, 5</srv/other.txt>, 0) = 4</srv/other.txt>
        """,
    )
    assert table(report) == {
        (4242, 3): ("pidfd", "anon_inode:[pidfd]"),
        (4242, 4): ("file", "/srv/other.txt"),
    }
    assert entry(report, 4242, 4)["syscall"] == "pidfd_getfd"


RECVMSG = (
    'recvmsg(3<socket:[5316730]>, {{msg_name=NULL, msg_namelen=0, msg_iov=[{{iov_base="x", iov_len=1}}], '
    "msg_iovlen=1, msg_control=[{{cmsg_len={clen}, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, "
    "cmsg_data=[{fds}]}}], msg_controllen=24, msg_flags=0}}, {flags}) = 1"
)


def test_recvmsg_scm_rights_creates_the_received_fds(tmp_path: Path) -> None:
    one = RECVMSG.format(clen=20, fds="7<pipe:[123]>", flags="0")
    two = RECVMSG.format(clen=24, fds="8<pipe:[124]>, 9<pipe:[124]>", flags="0")
    report = analyze(
        tmp_path,
        f"""
        4242 socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0) = 3<socket:[5316730]>
        4242 {one}
        4242 {two}
        """,
    )
    assert table(report)[(4242, 3)][0] == "socket"
    assert {key: t for key, t in targets(report).items() if key != (4242, 3)} == {
        (4242, 7): "pipe:[123]",
        (4242, 8): "pipe:[124]",
        (4242, 9): "pipe:[124]",
    }
    assert table(report)[(4242, 7)][0] == "pipe"
    assert entry(report, 4242, 7)["syscall"] == "recvmsg"


def test_sendmsg_scm_rights_creates_nothing(tmp_path: Path) -> None:
    sendmsg = (
        'sendmsg(4<socket:[5316729]>, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="x", iov_len=1}], '
        "msg_iovlen=1, msg_control=[{cmsg_len=24, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, "
        "cmsg_data=[6<pipe:[5316732]>, 7<pipe:[5316732]>]}], msg_controllen=24, msg_flags=0}, 0) = 1"
    )
    report = analyze(
        tmp_path,
        f"""
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 {sendmsg}
        """,
    )
    assert set(table(report)) == {(4242, 3)}


def test_recvmsg_cmsg_cloexec_fds_are_dropped_by_execve(tmp_path: Path) -> None:
    one = RECVMSG.format(clen=20, fds="7<pipe:[123]>", flags="MSG_CMSG_CLOEXEC")
    two = RECVMSG.format(clen=20, fds="8<pipe:[124]>", flags="0")
    report = analyze(
        tmp_path,
        f"""
        4242 {one}
        4242 {two}
        4242 {EXECVE} = 0
        """,
    )
    assert targets(report) == {(4242, 8): "pipe:[124]"}


# --------------------------------------------------------------------------- dup family


def test_dup(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 dup(3</srv/a.txt>) = 4</srv/a.txt>
        4242 close(3</srv/a.txt>) = 0
        """,
    )
    assert table(report) == {(4242, 4): ("file", "/srv/a.txt")}
    assert entry(report, 4242, 4)["syscall"] == "dup"


def test_dup_without_decorations_inherits_the_target(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 openat(AT_FDCWD, "/srv/a.txt", O_RDONLY) = 3
        4242 dup(3) = 4
        4242 close(3) = 0
        """,
    )
    assert table(report) == {(4242, 4): ("file", "/srv/a.txt")}


def test_dup2_onto_an_open_fd_closes_it_first(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY) = 4</srv/b.txt>
        4242 dup2(3</srv/a.txt>, 4</srv/b.txt>) = 4</srv/a.txt>
        """,
    )
    assert targets(report) == {(4242, 3): "/srv/a.txt", (4242, 4): "/srv/a.txt"}
    assert entry(report, 4242, 4)["syscall"] == "dup2"
    proc = process(report, 4242)
    assert (proc["opened"], proc["closed"], proc["open_at_end"]) == (3, 1, 2)


def test_dup2_onto_an_inherited_fd_creates_it_in_the_window(tmp_path: Path) -> None:
    # the shell's stdout, replaced by a pipe end: fd 1 now is an fd made inside the window
    report = analyze(
        tmp_path,
        """
        4242 pipe2([3<pipe:[900]>, 4<pipe:[900]>], O_CLOEXEC) = 0
        4242 dup2(4<pipe:[900]>, 1</dev/pts/0<char 136:0>>) = 1<pipe:[900]>
        4242 close(4<pipe:[900]>) = 0
        """,
    )
    assert targets(report) == {(4242, 1): "pipe:[900]", (4242, 3): "pipe:[900]"}


def test_dup2_of_an_fd_onto_itself_is_a_no_op(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 dup2(3</srv/a.txt>, 3</srv/a.txt>) = 3</srv/a.txt>
        """,
    )
    assert targets(report) == {(4242, 3): "/srv/a.txt"}
    first = entry(report, 4242, 3)
    assert (first["syscall"], first["line"]) == ("openat", 1)
    assert process(report, 4242)["closed"] == 0


def test_dup3_with_o_cloexec_is_dropped_by_execve(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        f"""
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY) = 4</srv/b.txt>
        4242 dup3(3</srv/a.txt>, 7, O_CLOEXEC) = 7</srv/a.txt>
        4242 dup3(3</srv/a.txt>, 4</srv/b.txt>, O_CLOEXEC) = 4</srv/a.txt>
        4242 dup3(3</srv/a.txt>, 8, 0) = 8</srv/a.txt>
        4242 {EXECVE} = 0
        """,
    )
    # 4 was replaced by a close-on-exec copy: gone with 7; 8 and the original 3 stay
    assert targets(report) == {(4242, 3): "/srv/a.txt", (4242, 8): "/srv/a.txt"}


def test_dup3_before_execve_is_open(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 dup3(3</srv/a.txt>, 7, O_CLOEXEC) = 7</srv/a.txt>
        """,
    )
    assert targets(report) == {(4242, 3): "/srv/a.txt", (4242, 7): "/srv/a.txt"}


def test_fcntl_dupfd_and_dupfd_cloexec(tmp_path: Path) -> None:
    """os.dup() is fcntl(fd, F_DUPFD_CLOEXEC, 0); F_DUPFD keeps the fd across execve."""
    lines = """
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY|O_CLOEXEC) = 3</srv/a.txt>
        4242 fcntl(3</srv/a.txt>, F_DUPFD, 50) = 50</srv/a.txt>
        4242 fcntl(3</srv/a.txt>, F_DUPFD_CLOEXEC, 0) = 4</srv/a.txt>
        4242 fcntl(4</srv/a.txt>, F_GETFL) = 0x8000 (flags O_RDONLY|O_LARGEFILE)
        4242 fcntl(4</srv/a.txt>, F_GETFD) = 0x1 (flags FD_CLOEXEC)
        """
    before = analyze(tmp_path, lines)
    assert targets(before) == {(4242, 3): "/srv/a.txt", (4242, 4): "/srv/a.txt", (4242, 50): "/srv/a.txt"}
    assert {entry(before, 4242, 50)["syscall"], entry(before, 4242, 4)["syscall"]} == {"fcntl"}
    after = analyze(tmp_path, lines + f"4242 {EXECVE} = 0\n", name="exec.txt")
    assert targets(after) == {(4242, 50): "/srv/a.txt"}


def test_fcntl_setfd_cloexec_then_execve_drops_it(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        f"""
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY|O_CLOEXEC) = 4</srv/b.txt>
        4242 fcntl(3</srv/a.txt>, F_SETFD, FD_CLOEXEC) = 0
        4242 fcntl(4</srv/b.txt>, F_SETFD, 0) = 0
        4242 {EXECVE} = 0
        """,
    )
    assert targets(report) == {(4242, 4): "/srv/b.txt"}


def test_ioctl_fioclex_and_fionclex(tmp_path: Path) -> None:
    """os.set_inheritable(fd, False/True) is ioctl(fd, FIOCLEX/FIONCLEX)."""
    report = analyze(
        tmp_path,
        f"""
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY|O_CLOEXEC) = 4</srv/b.txt>
        4242 ioctl(3</srv/a.txt>, FIOCLEX) = 0
        4242 ioctl(4</srv/b.txt>, FIONCLEX) = 0
        4242 ioctl(4</srv/b.txt>, TCGETS, 0x7ffdd3802040) = -1 ENOTTY (Inappropriate ioctl for device)
        4242 {EXECVE} = 0
        """,
    )
    assert targets(report) == {(4242, 4): "/srv/b.txt"}


# --------------------------------------------------------------------------- closing fds


def test_close(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY) = 4</srv/b.txt>
        4242 close(3</srv/a.txt>) = 0
        """,
    )
    assert targets(report) == {(4242, 4): "/srv/b.txt"}
    assert report["window"]["events"] == 3
    proc = process(report, 4242)
    assert (proc["opened"], proc["closed"], proc["open_at_end"]) == (2, 1, 1)


def test_fd_number_reused_after_close(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 close(3</srv/a.txt>) = 0
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY) = 3</srv/b.txt>
        """,
    )
    assert targets(report) == {(4242, 3): "/srv/b.txt"}
    assert entry(report, 4242, 3)["line"] == 3


def test_close_of_an_fd_never_seen_is_inherited_and_not_an_error(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 close(7</dev/pts/0>) = 0
        4242 close(0</dev/null>) = 0
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 0</srv/a.txt>
        4242 close(5) = 0
        """,
    )
    assert targets(report) == {(4242, 0): "/srv/a.txt"}
    assert report["fd_errors"] == []
    assert report["window"]["unparsed_lines"] == 0


def test_inherited_fds_are_never_listed(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 write(1</dev/pts/0>, "hello\\n", 6) = 6
        4242 read(0</dev/pts/0>, "x", 1) = 1
        4242 fcntl(9</srv/inherited.txt>, F_GETFD) = 0
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        """,
    )
    assert targets(report) == {(4242, 3): "/srv/a.txt"}


def test_failed_calls_change_nothing(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 openat(AT_FDCWD</srv>, "/nonexist", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)
        4242 open("/root/secret", O_RDONLY) = -1 EACCES (Permission denied)
        4242 close(9) = -1 EBADF (Bad file descriptor)
        4242 dup2(9, 3</srv/a.txt>) = -1 EBADF (Bad file descriptor)
        4242 dup(12) = -1 EBADF (Bad file descriptor)
        4242 fcntl(12, F_DUPFD_CLOEXEC, 0) = -1 EBADF (Bad file descriptor)
        4242 socket(AF_INET6, SOCK_STREAM, IPPROTO_SCTP) = -1 EPROTONOSUPPORT (Protocol not supported)
        4242 pipe2(0x7ffd00000000, O_CLOEXEC) = -1 EFAULT (Bad address)
        4242 close_range(3, 4294967295, 0x80) = -1 EINVAL (Invalid argument)
        """,
    )
    assert targets(report) == {(4242, 3): "/srv/a.txt"}
    proc = process(report, 4242)
    assert (proc["opened"], proc["closed"]) == (1, 0)


@pytest.mark.parametrize("upper", ["4294967295", "~0U", "2147483647"])
def test_close_range_closes_every_open_fd_in_range(tmp_path: Path, upper: str) -> None:
    # real strace 6.1 prints ~0U as 4294967295; subprocess's child passes INT_MAX
    report = analyze(
        tmp_path,
        f"""
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY) = 4</srv/b.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/c.txt", O_RDONLY) = 5</srv/c.txt>
        4242 dup2(5</srv/c.txt>, 100) = 100</srv/c.txt>
        4242 close_range(4, {upper}, 0) = 0
        """,
    )
    assert targets(report) == {(4242, 3): "/srv/a.txt"}
    assert process(report, 4242)["closed"] == 3


def test_close_range_bounded(tmp_path: Path) -> None:
    """os.closerange(3, 5) is close_range(3, 4, 0): both ends inclusive."""
    report = analyze(
        tmp_path,
        """
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY) = 4</srv/b.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/c.txt", O_RDONLY) = 5</srv/c.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/d.txt", O_RDONLY) = 6</srv/d.txt>
        4242 close_range(3, 4, 0) = 0
        """,
    )
    assert targets(report) == {(4242, 5): "/srv/c.txt", (4242, 6): "/srv/d.txt"}


def test_closerange_as_a_loop_of_close(tmp_path: Path) -> None:
    """os.closerange without close_range(2): one close per fd, EBADF for the holes."""
    report = analyze(
        tmp_path,
        """
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/c.txt", O_RDONLY) = 5</srv/c.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/d.txt", O_RDONLY) = 6</srv/d.txt>
        4242 close_range(3, 5, 0) = -1 ENOSYS (Function not implemented)
        4242 close(3</srv/a.txt>) = 0
        4242 close(4) = -1 EBADF (Bad file descriptor)
        4242 close(5</srv/c.txt>) = 0
        """,
    )
    assert targets(report) == {(4242, 6): "/srv/d.txt"}


@pytest.mark.parametrize("with_exec", [False, True], ids=["before-execve", "after-execve"])
def test_close_range_cloexec_marks_then_execve_drops(tmp_path: Path, with_exec: bool) -> None:
    lines = """
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY) = 4</srv/b.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/c.txt", O_RDONLY) = 5</srv/c.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/d.txt", O_RDONLY) = 6</srv/d.txt>
        4242 close_range(4, 5, CLOSE_RANGE_CLOEXEC) = 0
        """
    if with_exec:
        lines += f"4242 {EXECVE} = 0\n"
    report = analyze(tmp_path, lines)
    expected = {(4242, 3): "/srv/a.txt", (4242, 6): "/srv/d.txt"}
    if not with_exec:
        expected.update({(4242, 4): "/srv/b.txt", (4242, 5): "/srv/c.txt"})
    assert targets(report) == expected


def test_close_range_unshare_in_a_thread_leaves_the_leader_alone(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        f"""
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 {PTHREAD.replace("TID", "4243")} = 4243
        4243 close_range(3, 4294967295, CLOSE_RANGE_UNSHARE) = 0
        4243 exit(0) = ?
        4243 +++ exited with 0 +++
        """,
    )
    assert targets(report) == {(4242, 3): "/srv/a.txt"}


# --------------------------------------------------------------------------- execve


def test_execve_drops_cloexec_fds(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        f"""
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY|O_CLOEXEC) = 3</srv/a.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY) = 4</srv/b.txt>
        4242 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 5<socket:[5231001]>
        4242 pipe2([6<pipe:[901]>, 7<pipe:[901]>], O_CLOEXEC) = 0
        4242 eventfd2(0, EFD_CLOEXEC) = 8<anon_inode:[eventfd]>
        4242 epoll_create1(EPOLL_CLOEXEC) = 9<anon_inode:[eventpoll]>
        4242 accept4(5<socket:[5231001]>, NULL, NULL, SOCK_CLOEXEC) = 10<socket:[5231002]>
        4242 {EXECVE} = 0
        4242 openat(AT_FDCWD</srv>, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3</etc/ld.so.cache>
        """,
    )
    assert targets(report) == {(4242, 3): "/etc/ld.so.cache", (4242, 4): "/srv/b.txt"}
    assert process(report, 4242)["exited"] is False


def test_failed_execve_drops_nothing(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY|O_CLOEXEC) = 3</srv/a.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY) = 4</srv/b.txt>
        4242 execve("/nonexistent", ["x"], 0x7fff6004a880 /* 35 vars */) = -1 ENOENT (No such file or directory)
        4242 execveat(AT_FDCWD</srv>, "nope", ["nope"], 0x7fff6004a880 /* 35 vars */, 0) = -1 ENOENT (No such file or directory)
        """,
    )
    assert targets(report) == {(4242, 3): "/srv/a.txt", (4242, 4): "/srv/b.txt"}


def test_execve_unfinished_then_resumed(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY|O_CLOEXEC) = 3</srv/a.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY) = 4</srv/b.txt>
        4242 execve("/bin/true", ["/bin/true"], 0x7fff6004a880 /* 35 vars */ <unfinished ...>
        4242 <... execve resumed>) = 0
        """,
    )
    assert targets(report) == {(4242, 4): "/srv/b.txt"}


# --------------------------------------------------------------------------- processes and threads


@pytest.mark.parametrize(
    "call",
    [
        FORK,
        "fork()",
        "vfork()",
        "clone3({flags=CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD, "
        "stack=0x7f7ca38e5000, stack_size=0x9000}, 88)",
    ],
    ids=["clone", "fork", "vfork", "clone3-vfork"],
)
def test_fork_copies_the_table(tmp_path: Path, call: str) -> None:
    report = analyze(
        tmp_path,
        f"""
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY) = 4</srv/b.txt>
        4242 {call} = 4243
        4243 close(3</srv/a.txt>) = 0
        4243 openat(AT_FDCWD</srv>, "/srv/c.txt", O_RDONLY) = 3</srv/c.txt>
        4242 close(4</srv/b.txt>) = 0
        """,
    )
    assert targets(report) == {
        (4242, 3): "/srv/a.txt",  # the child's close left the parent's open
        (4243, 3): "/srv/c.txt",
        (4243, 4): "/srv/b.txt",  # the child's copy, though the parent closed its own
    }
    assert process(report, 4243)["parent"] == 4242


def test_fork_child_keeps_copies_listed_under_the_child(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        f"""
        4242 pipe2([3<pipe:[77]>, 4<pipe:[77]>], O_CLOEXEC) = 0
        4242 {FORK} = 4243
        4242 {FORK} = 4244
        4244 close(3<pipe:[77]>) = 0
        """,
    )
    assert targets(report) == {
        (4242, 3): "pipe:[77]",
        (4242, 4): "pipe:[77]",
        (4243, 3): "pipe:[77]",
        (4243, 4): "pipe:[77]",
        (4244, 4): "pipe:[77]",
    }


def test_grandchild_copies_the_childs_table(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        f"""
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 {FORK} = 4243
        4243 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY) = 4</srv/b.txt>
        4243 {FORK} = 4244
        4243 exit_group(0) = ?
        4243 +++ exited with 0 +++
        4242 close(3</srv/a.txt>) = 0
        """,
    )
    assert targets(report) == {(4244, 3): "/srv/a.txt", (4244, 4): "/srv/b.txt"}
    assert process(report, 4244)["parent"] == 4243


@pytest.mark.parametrize(
    "mark", ["fcntl(3</srv/a.txt>, F_SETFD, FD_CLOEXEC) = 0", "ioctl(3</srv/a.txt>, FIOCLEX) = 0"]
)
def test_a_mark_the_parent_sets_after_the_fork_is_not_the_childs(tmp_path: Path, mark: str) -> None:
    """The child's table is the parent's at the fork (fdleak copies it lazily, on first use)."""
    report = analyze(
        tmp_path,
        f"""
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY|O_CLOEXEC) = 4</srv/b.txt>
        4242 {FORK} = 4243
        4242 {mark}
        4242 fcntl(4</srv/b.txt>, F_SETFD, 0) = 0
        4243 execve("/bin/true", ["true"], 0x7ffc /* 1 var */) = 0
        4242 execve("/bin/true", ["true"], 0x7ffc /* 1 var */) = 0
        """,
    )
    # the parent's marks changed its own fds only: the child's exec kept 3 and dropped 4
    assert targets(report) == {(4242, 4): "/srv/b.txt", (4243, 3): "/srv/a.txt"}


def test_a_fork_of_a_fork_copy_not_yet_used_copies_the_table_at_its_own_fork(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        f"""
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY) = 4</srv/b.txt>
        4242 {FORK} = 4243
        4242 close(3</srv/a.txt>) = 0
        4242 fcntl(4</srv/b.txt>, F_SETFD, FD_CLOEXEC) = 0
        4243 {FORK} = 4244
        4243 close_range(3, 4294967295, 0) = 0
        4244 dup2(4</srv/b.txt>, 5</srv/b.txt>) = 5</srv/b.txt>
        4244 execve("/bin/true", ["true"], 0x7ffc /* 1 var */) = 0
        """,
    )
    assert targets(report) == {
        (4242, 4): "/srv/b.txt",
        (4244, 3): "/srv/a.txt",
        (4244, 4): "/srv/b.txt",  # not close-on-exec in the grandchild: the mark came later
        (4244, 5): "/srv/b.txt",
    }
    assert [process(report, pid)["opened"] for pid in (4242, 4243, 4244)] == [2, 0, 1]


@pytest.mark.parametrize(
    "call",
    [PTHREAD.replace("TID", "4243"), CLONE3_THREAD.replace("TID", "4243")],
    ids=["clone-thread", "clone3-thread"],
)
def test_threads_share_the_table_and_list_under_the_leader(tmp_path: Path, call: str) -> None:
    report = analyze(
        tmp_path,
        f"""
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY) = 4</srv/b.txt>
        4242 {call} = 4243
        4243 close(3</srv/a.txt>) = 0
        4243 openat(AT_FDCWD</srv>, "/srv/t.txt", O_RDONLY|O_CREAT|O_CLOEXEC, 0777) = 5</srv/t.txt>
        4243 openat(AT_FDCWD</srv>, "/srv/u.txt", O_RDONLY) = 3</srv/u.txt>
        4242 close(5</srv/t.txt>) = 0
        4243 exit(0) = ?
        4243 +++ exited with 0 +++
        """,
    )
    # the thread's exit takes nothing with it: the table belongs to the thread group
    assert targets(report) == {(4242, 3): "/srv/u.txt", (4242, 4): "/srv/b.txt"}
    assert 4243 not in {p["pid"] for p in report["processes"]}


def test_clone_files_without_thread_shares_the_table(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY) = 4</srv/b.txt>
        4242 clone(child_stack=0x7f3a1c000ff0, flags=CLONE_FILES|SIGCHLD) = 4243
        4243 close(3</srv/a.txt>) = 0
        4243 openat(AT_FDCWD</srv>, "/srv/c.txt", O_RDONLY) = 5</srv/c.txt>
        4242 close(4</srv/b.txt>) = 0
        """,
    )
    # one table, two processes: whichever pid it is listed under, only c.txt is still open
    seen = {(fd, target) for (pid, fd), target in targets(report).items()}
    assert seen == {(5, "/srv/c.txt")}
    assert {pid for pid, _ in targets(report)} <= {4242, 4243}


def test_clone_files_child_exit_leaves_the_shared_table_to_the_parent(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 clone(child_stack=0x7f3a1c000ff0, flags=CLONE_FILES|SIGCHLD) = 4243
        4243 openat(AT_FDCWD</srv>, "/srv/c.txt", O_RDONLY) = 3</srv/c.txt>
        4243 exit_group(0) = ?
        4243 +++ exited with 0 +++
        """,
    )
    assert targets(report) == {(4242, 3): "/srv/c.txt"}


def test_unshare_files_gives_the_thread_its_own_copy(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        f"""
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 {CLONE3_THREAD.replace("TID", "4243")} = 4243
        4243 unshare(CLONE_FILES) = 0
        4243 close(3</srv/a.txt>) = 0
        4243 openat(AT_FDCWD</srv>, "/srv/t.txt", O_RDONLY) = 3</srv/t.txt>
        4243 exit(0) = ?
        4243 +++ exited with 0 +++
        """,
    )
    # the thread's close hit its private copy; its private table died with it
    assert targets(report) == {(4242, 3): "/srv/a.txt"}


def test_close_in_the_leader_after_unshare_leaves_the_threads_copy(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        f"""
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 {CLONE3_THREAD.replace("TID", "4243")} = 4243
        4243 unshare(CLONE_FILES <unfinished ...>
        4242 futex(0x7f7ca48ef990, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, NULL, FUTEX_BITSET_MATCH_ANY <unfinished ...>
        4243 <... unshare resumed>) = 0
        4242 <... futex resumed>) = 0
        4242 close(3</srv/a.txt>) = 0
        """,
    )
    # the thread (listed under its thread-group leader) still holds its copy
    assert targets(report) == {(4242, 3): "/srv/a.txt"}


def test_close_unfinished_while_another_thread_reuses_the_number(tmp_path: Path) -> None:
    """close() frees the number on entry: a thread may get it before the close returns."""
    report = analyze(
        tmp_path,
        f"""
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 {PTHREAD.replace("TID", "4243")} = 4243
        4242 close(3</srv/a.txt> <unfinished ...>
        4243 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY) = 3</srv/b.txt>
        4242 <... close resumed>) = 0
        """,
    )
    assert targets(report) == {(4242, 3): "/srv/b.txt"}


def test_exit_group_from_a_thread_ends_the_whole_process(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        f"""
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 {PTHREAD.replace("TID", "4243")} = 4243
        4242 futex(0x7f1c2a3fe9d0, FUTEX_WAIT_BITSET|FUTEX_CLOCK_REALTIME, 4243, NULL, FUTEX_BITSET_MATCH_ANY <unfinished ...>
        4243 exit_group(0) = ?
        4242 <... futex resumed>) = ?
        4242 +++ exited with 0 +++
        4243 +++ exited with 0 +++
        """,
    )
    assert targets(report) == {}
    assert process(report, 4242)["exited"] is True


def test_pid_reused_by_a_later_child(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        f"""
        4242 {FORK} = 4243
        4243 openat(AT_FDCWD</srv>, "/srv/old.txt", O_RDONLY) = 3</srv/old.txt>
        4243 exit_group(0) = ?
        4243 +++ exited with 0 +++
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 {FORK} = 4243
        4243 openat(AT_FDCWD</srv>, "/srv/new.txt", O_RDONLY) = 4</srv/new.txt>
        """,
    )
    assert targets(report) == {
        (4242, 3): "/srv/a.txt",
        (4243, 3): "/srv/a.txt",
        (4243, 4): "/srv/new.txt",
    }


def test_exit_group_and_exited_process_not_listed(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        f"""
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 {FORK} = 4243
        4243 openat(AT_FDCWD</srv>, "/srv/c.txt", O_RDONLY) = 4</srv/c.txt>
        4243 exit_group(3) = ?
        4243 +++ exited with 3 +++
        4242 --- SIGCHLD {{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=4243, si_uid=0, si_status=3, si_utime=0, si_stime=0}} ---
        """,
    )
    assert targets(report) == {(4242, 3): "/srv/a.txt"}
    child = process(report, 4243)
    assert (child["exited"], child["exit_status"]) == (True, 3)
    parent = process(report, 4242)
    assert (parent["exited"], parent["exit_status"]) == (False, None)


def test_killed_by_signal(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        f"""
        4242 {FORK} = 4243
        4243 openat(AT_FDCWD</srv>, "/srv/c.txt", O_RDONLY) = 3</srv/c.txt>
        4243 kill(4243, SIGKILL) = ?
        4243 +++ killed by SIGKILL +++
        4242 --- SIGCHLD {{si_signo=SIGCHLD, si_code=CLD_KILLED, si_pid=4243, si_uid=0, si_status=SIGKILL, si_utime=0, si_stime=0}} ---
        """,
    )
    assert targets(report) == {}
    child = process(report, 4243)
    assert child["exited"] is True
    assert child["exit_status"] == -9  # the convention of the project's other tests: -signal


def test_killed_with_core_dump(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 --- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---
        4242 +++ killed by SIGSEGV (core dumped) +++
        """,
    )
    assert targets(report) == {}
    proc = process(report, 4242)
    assert (proc["exited"], proc["exit_status"]) == (True, -11)


def test_exit_of_the_last_thread_ends_the_process(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 exit(0) = ?
        4242 +++ exited with 0 +++
        """,
    )
    assert targets(report) == {}
    assert process(report, 4242)["exited"] is True


def test_child_lines_before_the_parents_clone_resumed(tmp_path: Path) -> None:
    """Real strace prints the new child's first calls before the parent's clone returns."""
    report = analyze(
        tmp_path,
        """
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD <unfinished ...>
        4243 <... set_robust_list resumed>) = 0
        4243 close(3</srv/a.txt>) = 0
        4243 openat(AT_FDCWD</srv>, "/srv/c.txt", O_RDONLY) = 4</srv/c.txt>
        4242 <... clone resumed>, child_tidptr=0x7f5add447e50) = 4243
        4242 openat(AT_FDCWD</srv>, "/srv/d.txt", O_RDONLY) = 4</srv/d.txt>
        """,
    )
    assert targets(report) == {
        (4242, 3): "/srv/a.txt",
        (4242, 4): "/srv/d.txt",
        (4243, 4): "/srv/c.txt",
    }
    assert process(report, 4243)["parent"] == 4242


def test_vfork_child_execs_before_the_parent_resumes(tmp_path: Path) -> None:
    """subprocess.run: the vfork child closes, dup2s and execs while the parent waits."""
    report = analyze(
        tmp_path,
        """
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 pipe2([4<pipe:[5346855]>, 5<pipe:[5346855]>], O_CLOEXEC) = 0
        4242 vfork( <unfinished ...>
        4243 dup2(5<pipe:[5346855]>, 1</dev/pts/0>) = 1<pipe:[5346855]>
        4243 close_range(3, 4, 0) = 0
        4243 execve("/bin/true", ["/bin/true"], 0x7fff6004a880 /* 35 vars */ <unfinished ...>
        4242 <... vfork resumed>) = 4243
        4242 close(5<pipe:[5346855]> <unfinished ...>
        4243 <... execve resumed>) = 0
        4242 <... close resumed>) = 0
        4243 openat(AT_FDCWD</srv>, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3</etc/ld.so.cache>
        4243 close(3</etc/ld.so.cache>) = 0
        """,
    )
    assert targets(report) == {
        (4242, 3): "/srv/a.txt",
        (4242, 4): "pipe:[5346855]",
        (4243, 1): "pipe:[5346855]",  # dup2 cleared close-on-exec; 5 went with execve
    }


def test_thread_lines_before_clone3_resumed(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        f"""
        4242 openat(AT_FDCWD</srv>, "/srv/a.txt", O_RDONLY) = 3</srv/a.txt>
        4242 clone3({{flags={THREAD_FLAGS}, child_tid=0x7f7ca48ef990, parent_tid=0x7f7ca48ef990, exit_signal=0, stack=0x7f7ca40ef000, stack_size=0x7fff80, tls=0x7f7ca48ef6c0}} <unfinished ...>
        4243 <... rseq resumed>) = 0
        4243 close(3</srv/a.txt>) = 0
        4243 openat(AT_FDCWD</srv>, "/srv/t.txt", O_RDONLY) = 4</srv/t.txt>
        4242 <... clone3 resumed> => {{parent_tid=[4243]}}, 88) = 4243
        """,
    )
    assert targets(report) == {(4242, 4): "/srv/t.txt"}


THREAD_EXEC_LEADER = f"""
4242 openat(AT_FDCWD</srv>, "/srv/keep.txt", O_RDONLY) = 3</srv/keep.txt>
4242 openat(AT_FDCWD</srv>, "/srv/drop.txt", O_RDONLY|O_CLOEXEC) = 4</srv/drop.txt>
4242 {CLONE3_THREAD.replace("TID", "4243")} = 4243
4243 openat(AT_FDCWD</srv>, "/srv/thread.txt", O_RDONLY) = 5</srv/thread.txt>
4242 futex(0x7f7ca48ef990, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, NULL, FUTEX_BITSET_MATCH_ANY <unfinished ...>
4243 execve("/bin/true", ["true"], 0x7fff6004a880 /* 35 vars */ <unfinished ...>
4242 +++ superseded by execve in pid 4243 +++
4242 <... execve resumed>) = 0
4242 openat(AT_FDCWD</srv>, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 4</etc/ld.so.cache>
"""
THREAD_EXEC_EXPECTED = {
    (4242, 3): "/srv/keep.txt",
    (4242, 4): "/etc/ld.so.cache",
    (4242, 5): "/srv/thread.txt",
}


def test_thread_calling_execve_becomes_the_leader(tmp_path: Path) -> None:
    """strace -f -o: the leader's line says 'superseded', then execve resumes under its pid."""
    report = analyze(tmp_path, THREAD_EXEC_LEADER)
    assert targets(report) == THREAD_EXEC_EXPECTED
    assert process(report, 4242)["exited"] is False
    assert 4243 not in {p["pid"] for p in report["processes"] if not p["exited"]}


def test_thread_calling_execve_in_split_files(tmp_path: Path) -> None:
    """strace -ff: the thread's own file ends with '<pid changed to 4242 ...>'."""
    shaped = strace_f(THREAD_EXEC_LEADER).splitlines()
    leader = [line.split(" ", 1)[1].lstrip() for line in shaped if line.startswith("4242")]
    thread = [line.split(" ", 1)[1].lstrip() for line in shaped if line.startswith("4243")]
    thread[-1] = thread[-1].replace("<unfinished ...>", "<pid changed to 4242 ...>")
    (tmp_path / "trace.4242").write_text("\n".join(leader) + "\n")
    (tmp_path / "trace.4243").write_text("\n".join(thread) + "\n")
    _, report, _ = analyze_json(tmp_path, tmp_path / "trace.4242", tmp_path / "trace.4243")
    assert targets(report) == THREAD_EXEC_EXPECTED


# --------------------------------------------------------------------------- fd errors


def test_emfile_errors_are_counted(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        """
        4242 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3<socket:[5346787]>
        4242 listen(3<socket:[5346787]>, 128) = 0
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY|O_CLOEXEC) = -1 EMFILE (Too many open files)
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY|O_CLOEXEC) = -1 EMFILE (Too many open files)
        4242 accept4(3<socket:[5346787]>, NULL, NULL, SOCK_CLOEXEC) = -1 EMFILE (Too many open files)
        4242 openat(AT_FDCWD</srv>, "/srv/c.txt", O_RDONLY|O_CLOEXEC) = -1 EMFILE (Too many open files)
        4242 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = -1 EMFILE (Too many open files)
        """,
    )
    assert {key: kind for key, (kind, _) in table(report).items()} == {(4242, 3): "socket"}
    errors = {(e["errno"], e["pid"], e["syscall"]): e for e in report["fd_errors"]}
    assert set(errors) == {
        ("EMFILE", 4242, "openat"),
        ("EMFILE", 4242, "accept4"),
        ("EMFILE", 4242, "socket"),
    }
    openat = errors[("EMFILE", 4242, "openat")]
    assert (openat["count"], openat["first_line"]) == (3, 3)
    assert openat["first_ts"] == pytest.approx(T0 + 0.003)
    accept = errors[("EMFILE", 4242, "accept4")]
    assert (accept["count"], accept["first_line"]) == (1, 5)
    assert errors[("EMFILE", 4242, "socket")]["count"] == 1


def test_emfile_in_two_processes_counted_apart(tmp_path: Path) -> None:
    report = analyze(
        tmp_path,
        f"""
        4242 {FORK} = 4243
        4243 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY|O_CLOEXEC) = -1 EMFILE (Too many open files)
        4242 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY|O_CLOEXEC) = -1 EMFILE (Too many open files)
        4243 openat(AT_FDCWD</srv>, "/srv/b.txt", O_RDONLY|O_CLOEXEC) = -1 EMFILE (Too many open files)
        """,
    )
    counts = {(e["pid"], e["syscall"]): e["count"] for e in report["fd_errors"] if e["errno"] == "EMFILE"}
    assert counts == {(4242, "openat"): 1, (4243, "openat"): 2}


def test_narrow_close_range_in_a_forked_copy_of_a_big_table(tmp_path: Path) -> None:
    """A child's copies are its own: its close_range and execve leave the parent's fds,
    and their close-on-exec flags, alone; the copies' release counts no close."""
    opens = "\n".join(
        f'4242 openat(AT_FDCWD</srv>, "/srv/f{fd}.txt", O_RDONLY) = {fd}</srv/f{fd}.txt>'
        for fd in range(3, 43)
    )
    report = analyze(
        tmp_path,
        opens
        + f"""
        4242 {FORK} = 5000
        5000 close_range(10, 12, 0) = 0
        5000 close_range(20, 21, CLOSE_RANGE_CLOEXEC) = 0
        5000 {EXECVE} = 0
        4242 close_range(30, 31, 0) = 0
        """,
    )
    parent = {fd for pid, fd in targets(report) if pid == 4242}
    child = {fd for pid, fd in targets(report) if pid == 5000}
    assert parent == set(range(3, 43)) - {30, 31}
    assert child == set(range(3, 43)) - {10, 11, 12, 20, 21}
    assert (process(report, 4242)["opened"], process(report, 4242)["closed"]) == (40, 2)
    assert (process(report, 5000)["opened"], process(report, 5000)["closed"]) == (0, 0)
