"""Accuracy against the kernel: real strace on real programs, /proc as ground truth.

Each case starts a program under ``strace -f -ttt -y`` (a workload in
tests/workloads/, or redis-server from Debian packages), waits until it says it is
ready, and reads /proc/PID/fd of every live traced process while strace is still
attached. That is what the kernel holds at the end of the log. strace then detaches,
the programs are ended and reaped, and ``fdleak analyze`` reads the log: the
(pid, fd) pairs of its ``open_fds`` must be exactly the kernel's, apart from the
standard streams the launcher handed over, and each must have the kind (and, for
pipes and files, the target) that the kernel's link names.
"""

from __future__ import annotations

import ctypes
import os
import re
import select
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import analyze_json, need_tool

WORKLOADS = Path(__file__).parent / "workloads"

# Every system call that makes, copies, moves or ends an fd, or a process or thread
# (whose table the fds live in). "?" tells strace to skip a name this kernel or strace
# does not know instead of refusing to start (all are known to strace 6.1 on x86-64).
# The older single-argument forms are in too: redis-server 7.0 makes its epoll fd with
# epoll_create(1024) (ae_epoll.c), and an fd whose creation is not in the log cannot
# be told from one inherited from before the window.
# fmt: off
FD_SYSCALLS = (
    "open", "openat", "openat2", "creat", "socket", "socketpair", "accept", "accept4", "pipe",
    "pipe2", "dup", "dup2", "dup3", "fcntl", "ioctl", "eventfd", "eventfd2", "epoll_create",
    "epoll_create1", "timerfd_create", "signalfd", "signalfd4", "inotify_init", "inotify_init1",
    "memfd_create", "pidfd_open", "recvmsg", "close", "close_range", "execve", "clone", "clone3",
    "vfork", "unshare", "connect", "bind", "exit", "exit_group",
)
# fmt: on

TIMEOUT = 30.0  # seconds, for every wait below; all of them normally take well under one

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37

pytestmark = pytest.mark.strace


# --- ground truth -----------------------------------------------------------------


def kind_of(link: str, mode: int) -> str:
    """The report kind that /proc's link text (and the fd's file type) imply."""
    if link.startswith("pipe:["):
        return "pipe"
    if link.startswith("socket:["):
        return "socket"
    if link.startswith("anon_inode:"):
        name = link.removeprefix("anon_inode:").strip("[]")
        return {
            "eventfd": "eventfd",
            "eventpoll": "epoll",
            "timerfd": "timerfd",
            "signalfd": "signalfd",
            "inotify": "inotify",
            "pidfd": "pidfd",
        }.get(name, "other")
    if link.startswith("pidfd:"):  # pidfs (Linux 6.9+) may name pidfds this way
        return "pidfd"
    if link.startswith("/memfd:"):
        return "memfd"
    if link.startswith("/"):
        if stat.S_ISDIR(mode):
            return "directory"
        # a log names a path, not its file type, so /dev/* is a device by its name;
        # (in some containers /dev/null is a regular file bind-mounted over the node)
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or link.startswith("/dev/"):
            return "device"
        if stat.S_ISFIFO(mode):
            return "fifo"
        return "file"
    return "other"


@dataclass(frozen=True)
class KernelFd:
    link: str
    kind: str
    mode: int
    # sockets: protocol ("TCP", "UDP", "UNIX") and the addresses the kernel has for
    # it (local, and remote when connected), from /proc/PID/net
    protocol: str | None = None
    addresses: frozenset[str] = frozenset()


def _address(hex_text: str) -> str:
    """/proc/net/tcp's "0100007F:9C4B" -> "127.0.0.1:40011" (each 32-bit word of the
    address is in host byte order)."""
    host, port = hex_text.split(":")
    raw = b"".join(int(host[i : i + 8], 16).to_bytes(4, sys.byteorder) for i in range(0, len(host), 8))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    text = socket.inet_ntop(family, raw)
    return f"{text}:{int(port, 16)}" if family == socket.AF_INET else f"[{text}]:{int(port, 16)}"


def socket_table(pid: int) -> dict[str, tuple[str, frozenset[str]]]:
    """Socket inode -> (protocol, addresses) for the network namespace of ``pid``."""
    table: dict[str, tuple[str, frozenset[str]]] = {}
    for name, protocol in (("tcp", "TCP"), ("tcp6", "TCP"), ("udp", "UDP"), ("udp6", "UDP")):
        try:
            lines = Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = _address(fields[1]), _address(fields[2]), fields[9]
            unset = remote.endswith(":0")  # not connected
            table[inode] = (protocol, frozenset({local} if unset else {local, remote}))
    for line in Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        table[fields[6]] = ("UNIX", frozenset(fields[7:8]))
    return table


def read_fds(pid: int) -> dict[int, KernelFd]:
    """/proc/PID/fd: fd -> what the kernel says it is."""
    found = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        path = f"/proc/{pid}/fd/{name}"
        # nothing in the traced tree makes fd calls now, so nothing can vanish here
        link = os.readlink(path)
        mode = os.stat(path).st_mode
        found[int(name)] = KernelFd(link, kind_of(link, mode), mode)
    return found


def ground_truth(pids: list[int], launcher: dict[int, str]) -> dict[tuple[int, int], KernelFd]:
    """Every fd of ``pids`` that was made inside the trace window.

    Only 0, 1 and 2 come from the launcher (close_fds=True); an fd 0, 1 or 2 that no
    longer names the object the launcher gave was put there in the window (dup2) and
    counts. The launcher gives three distinct objects, so the link text tells them apart.
    """
    truth = {}
    for pid in pids:
        sockets = socket_table(pid)
        for fd, what in read_fds(pid).items():
            if fd in launcher and what.link == launcher[fd]:
                continue
            if what.kind == "socket" and (known := sockets.get(what.link[len("socket:[") : -1])):
                what = KernelFd(what.link, what.kind, what.mode, *known)
            truth[(pid, fd)] = what
    return truth


# --- processes --------------------------------------------------------------------


def _children() -> set[int]:
    pids: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        try:
            pids.update(int(p) for p in Path(f"/proc/self/task/{task}/children").read_text().split())
        except OSError:
            continue
    return pids


def wait_child(pid: int, timeout: float) -> bool:
    """Reap child ``pid`` if it exits within ``timeout`` seconds."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        exited = select.select([pidfd], [], [], timeout)[0]
    finally:
        os.close(pidfd)
    if not exited:
        return False
    with suppress(ChildProcessError):
        os.waitpid(pid, 0)
    return True


@contextmanager
def subreaper() -> Iterator[None]:
    """Adopt orphaned descendants while the block runs.

    When strace detaches and exits, the program it started is orphaned; without this
    it would go to init and the test could not reap it (or see that it is gone).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    before = ctypes.c_int(0)
    assert libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(before), 0, 0, 0) == 0
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, before.value, 0, 0, 0)


@dataclass
class Session:
    """A program running under strace, with its standard streams held by the test."""

    tracer: subprocess.Popen[bytes]
    log: Path
    stderr_path: Path
    launcher: dict[int, str]  # what fds 0, 1 and 2 name when the launcher hands them over
    buffer: bytes = b""
    live: list[int] = field(default_factory=list)  # the traced processes alive at the end

    def read_line(self, timeout: float = TIMEOUT) -> str:
        """The program's next stdout line; fails after ``timeout`` seconds."""
        assert self.tracer.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.tracer.stdout], [], [], remaining)[0]:
                raise AssertionError(f"no line from the program within {timeout}s; {self.stderr()}")
            chunk = os.read(self.tracer.stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"the program closed its stdout; {self.stderr()}")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()

    def wait_ready(self) -> list[int]:
        """The pids on the workload's "ready PID..." line: its live processes."""
        line = self.read_line()
        assert line.startswith("ready "), line
        self.live = [int(p) for p in line.split()[1:]]
        return self.live

    def stderr(self) -> str:
        text = self.stderr_path.read_text(errors="replace")
        return f"stderr: {text[-2000:]!r}"

    def detach(self) -> None:
        """End the trace, leaving the traced programs running.

        An interrupted strace detaches from every tracee and passes the signal on to
        the program it started. SIGHUP: our workloads ignore it, and so does redis
        (initServer: signal(SIGHUP, SIG_IGN)), which would begin shutting down on
        SIGINT or SIGTERM.
        """
        assert self.tracer.poll() is None, f"strace ended early: {self.stderr()}"
        self.tracer.send_signal(signal.SIGHUP)
        self.tracer.wait(timeout=TIMEOUT)
        for pid in self.live:
            status = Path(f"/proc/{pid}/status").read_text()
            assert re.search(r"^TracerPid:\s+0$", status, re.M), f"{pid} still traced"


def strace_argv(log: Path, program: list[str]) -> list[str]:
    trace = ",".join(f"?{name}" for name in FD_SYSCALLS)
    # -I2: with -o FILE and a command, strace blocks fatal signals for its whole run
    # (-I3); at -I2 they end it (it then detaches) except while it decodes a call
    return [
        "strace",
        "-I2",
        "-f",
        "-ttt",
        "-y",
        "-s",
        "256",
        "-o",
        str(log),
        "-e",
        f"trace={trace}",
        *program,
    ]


@contextmanager
def traced(tmp_path: Path, program: list[str], stop: signal.Signals | None = None) -> Iterator[Session]:
    """Run ``program`` under strace; afterwards stop and reap everything it started.

    The program ends when its standard input is closed (the workloads), or on
    ``stop`` sent to it after strace has detached (redis-server).
    """
    need_tool("strace")
    log = tmp_path / "trace.log"
    stderr_path = tmp_path / "stderr.txt"
    before = _children()
    with subreaper(), open(stderr_path, "wb") as stderr:
        tracer = subprocess.Popen(
            strace_argv(log, program),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            close_fds=True,
            cwd=tmp_path,
        )
        assert tracer.stdin is not None and tracer.stdout is not None
        launcher = {
            0: os.readlink(f"/proc/self/fd/{tracer.stdin.fileno()}"),
            1: os.readlink(f"/proc/self/fd/{tracer.stdout.fileno()}"),
            2: os.readlink(f"/proc/self/fd/{stderr.fileno()}"),
        }
        session = Session(tracer, log, stderr_path, launcher)
        try:
            yield session
        finally:
            try:
                if tracer.poll() is None:  # the test failed before it detached
                    tracer.send_signal(signal.SIGHUP)
                    try:
                        tracer.wait(timeout=TIMEOUT)
                    except subprocess.TimeoutExpired:
                        tracer.kill()  # the kernel detaches the tracees of a dead tracer
                        tracer.wait(timeout=TIMEOUT)
                if stop is not None:
                    for pid in _children() - before:
                        os.kill(pid, stop)
                tracer.stdin.close()  # the workloads' cue to end
                _reap_descendants(before)
            finally:
                tracer.stdout.close()


def _reap_descendants(before: set[int]) -> None:
    """Wait for every process the session left (adopted as orphans) to end; kill
    those that do not within the timeout. Repeats for grandchildren adopted when
    their parent ends."""
    for _ in range(100):
        left = _children() - before
        if not left:
            return
        for pid in left:
            if not wait_child(pid, TIMEOUT):
                os.kill(pid, signal.SIGKILL)
                wait_child(pid, TIMEOUT)
    raise AssertionError(f"processes keep appearing: {sorted(_children() - before)}")


def workload(name: str, *args: str | Path) -> list[str]:
    return [sys.executable, str(WORKLOADS / f"{name}.py"), *map(str, args)]


def trace_workload(
    tmp_path: Path, program: list[str]
) -> tuple[Path, list[int], dict[tuple[int, int], KernelFd]]:
    """Run a workload under strace; its log, live pids and the kernel's fds at the end."""
    with traced(tmp_path, program) as session:
        pids = session.wait_ready()
        truth = ground_truth(pids, session.launcher)
        session.detach()
    return session.log, pids, truth


# --- comparison -------------------------------------------------------------------


def assert_matches_kernel(
    report: dict[str, Any], pids: list[int], truth: dict[tuple[int, int], KernelFd], log: Path
) -> None:
    seen = {(e["pid"], e["fd"]): e for e in report["open_fds"]}
    assert len(seen) == len(report["open_fds"]), "one open_fds entry per (pid, fd)"
    missing = {key: truth[key].link for key in sorted(set(truth) - set(seen))}
    extra = {key: seen[key]["target"] for key in sorted(set(seen) - set(truth))}
    assert not missing and not extra, (
        f"open_fds differs from /proc (log: {log})\n"
        f"  open in the kernel, not reported: {missing}\n"
        f"  reported, not open in the kernel: {extra}"
    )
    wrong = []
    for key, what in sorted(truth.items()):
        entry = seen[key]
        # strace -y names a named pipe by its path, exactly as a file: nothing in the
        # log (mknod is not traced, and may predate it) tells the two apart
        allowed = {what.kind, "file"} if what.kind == "fifo" else {what.kind}
        if entry["kind"] not in allowed:
            wrong.append(f"{key}: kind {entry['kind']!r}, kernel {what.link!r} is {what.kind!r}")
        # a file unlinked after its open: the log has the name it was opened by
        elif what.kind in ("pipe", "file", "fifo") and entry["target"] != what.link.removesuffix(DELETED):
            wrong.append(f"{key}: target {entry['target']!r}, kernel says {what.link!r}")
    assert not wrong, "\n".join(wrong)
    # every live process is in the report, and alive
    processes = {p["pid"]: p for p in report["processes"]}
    for pid in pids:
        assert pid in processes, f"process {pid} missing from the report"
        assert processes[pid]["exited"] is False, processes[pid]


DELETED = " (deleted)"
IPV4_ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+:\d+")


def assert_socket_targets(report: dict[str, Any], truth: dict[tuple[int, int], KernelFd]) -> None:
    """A socket's target may leave out what the log does not tell (strace -y shows only
    the inode; addresses come from bind, connect and accept), but what it names must be
    so: its protocol, and every address in it, one of the socket's own ends."""
    seen = {(e["pid"], e["fd"]): e for e in report["open_fds"]}
    wrong = []
    for key, what in sorted(truth.items()):
        if what.protocol is None or key not in seen:
            continue
        target = seen[key]["target"]
        if target.startswith("socket:["):
            if target != what.link:
                wrong.append(f"{key}: target {target!r}, kernel {what.link!r}")
            continue
        protocol = target.split()[0]
        if protocol != what.protocol:
            wrong.append(f"{key}: target {target!r}, kernel protocol {what.protocol}")
        for address in IPV4_ADDRESS.findall(target):
            if address not in what.addresses:
                wrong.append(f"{key}: target {target!r} names {address}, kernel has {sorted(what.addresses)}")
    assert not wrong, "\n".join(wrong)


def check(
    tmp_path: Path, program: list[str]
) -> tuple[dict[str, Any], list[int], dict[tuple[int, int], KernelFd]]:
    log, pids, truth = trace_workload(tmp_path, program)
    _, report, _ = analyze_json(tmp_path, log)
    assert_matches_kernel(report, pids, truth, log)
    return report, pids, truth


def kinds(truth: dict[tuple[int, int], KernelFd]) -> set[str]:
    return {what.kind for what in truth.values()}


# --- the cases --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rounds", "keep_every", "closed_per_round"),
    [(30, 1, 2), (30, 3, 2), (20, 0, 3)],
    ids=["leak-every-round", "leak-every-third", "no-leak"],
)
def test_files(tmp_path: Path, rounds: int, keep_every: int, closed_per_round: int) -> None:
    files = tmp_path / "files"
    files.mkdir()
    _, _, truth = check(tmp_path, workload("files", files, rounds, keep_every, closed_per_round))
    expected = len(range(0, rounds, keep_every)) if keep_every else 0
    assert len(truth) == expected  # the workload did what it says


def test_files_leak_is_named(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    log, pids, _ = trace_workload(tmp_path, workload("files", files, 40, 1, 3))
    status, report, _ = analyze_json(tmp_path, log)
    assert status == 1
    leaks = [leak for leak in report["leaks"] if "leak_*" in leak["signature"]]
    assert len(leaks) == 1, report["leaks"]
    # numbers in the directory (pytest-N/test_x0) vary from run to run as well
    assert leaks[0]["signature"].endswith("/files/leak_*.txt"), leaks[0]["signature"]
    assert leaks[0]["kind"] == "file"
    assert leaks[0]["count"] == 40
    assert leaks[0]["pids"] == pids
    assert leaks[0]["confidence"] in ("medium", "high")
    assert not [leak for leak in report["leaks"] if "tmp_" in leak["signature"]], report["leaks"]
    assert len(report["leaks"]) == 1, report["leaks"]


def test_files_closed_are_no_leak(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    log, _, _ = trace_workload(tmp_path, workload("files", files, 40, 0, 3))
    status, report, _ = analyze_json(tmp_path, log)
    assert report["leaks"] == []
    assert status == 0


def test_file_names_strace_escapes(tmp_path: Path) -> None:
    names = tmp_path / "n"
    names.mkdir()
    _, _, truth = check(tmp_path, workload("names", names))
    assert len(truth) == 9
    assert kinds(truth) == {"file"}


def test_sockets(tmp_path: Path) -> None:
    sockets = tmp_path / "s"
    sockets.mkdir()
    _, _, truth = check(tmp_path, workload("sockets", sockets, 12, 3))
    # two fds received with SCM_RIGHTS: a listening socket and a pipe's read end
    assert kinds(truth) == {"socket", "pipe"}


def test_socket_targets(tmp_path: Path) -> None:
    sockets = tmp_path / "s"
    sockets.mkdir()
    report, _, truth = check(tmp_path, workload("sockets", sockets, 12, 3))
    assert_socket_targets(report, truth)


def test_pipes_and_subprocesses(tmp_path: Path) -> None:
    pipes = tmp_path / "p"
    pipes.mkdir()
    _, pids, truth = check(tmp_path, workload("pipes", pipes, 3))
    assert kinds(truth) == {"pipe", "fifo"}
    _, child = pids
    # the Popen child's stdin and stdout were dup2'd onto 0 and 1 in the window
    assert {(child, 0), (child, 1)} <= set(truth)


def test_anonymous_inodes(tmp_path: Path) -> None:
    _, _, truth = check(tmp_path, workload("anon"))
    assert kinds(truth) >= {"epoll", "eventfd", "timerfd", "signalfd", "inotify", "memfd", "pidfd"}


def test_dup_dup2_fcntl_close_range(tmp_path: Path) -> None:
    dups = tmp_path / "d"
    dups.mkdir()
    _, pids, truth = check(tmp_path, workload("dups", dups))
    assert len(pids) == 1
    fds = {fd: what.link for (_, fd), what in truth.items()}
    assert fds[2] == "/dev/null"  # dup2 onto standard error: made in the window
    assert {50, 51, 100, 101, *range(205, 210)} <= set(fds)
    assert not set(range(200, 205)) & set(fds)
    assert fds[101].endswith("/dup3_victim.txt")
    assert not [link for link in fds.values() if link.endswith("/victim.txt")]
    assert kinds(truth) == {"file", "directory", "device"}


def test_threads(tmp_path: Path) -> None:
    threads = tmp_path / "t"
    threads.mkdir()
    _, pids, truth = check(tmp_path, workload("threads", threads, 9))
    assert len(pids) == 1
    links = {what.link for what in truth.values()}
    assert f"{threads}/main_kept.txt" in links
    assert f"{threads}/main.txt" not in links  # closed by another thread
    # closed only in the copy a thread made with unshare(CLONE_FILES); and the file
    # that thread opened went with its table when it exited
    assert f"{threads}/unshared.txt" in links
    assert f"{threads}/private.txt" not in links


def links_by_pid(truth: dict[tuple[int, int], KernelFd]) -> dict[int, set[str]]:
    by_pid: dict[int, set[str]] = {}
    for (pid, _), what in truth.items():
        by_pid.setdefault(pid, set()).add(what.link)
    return by_pid


def holder(truth: dict[tuple[int, int], KernelFd], path: Path) -> int:
    """The one process that has ``path`` open."""
    (pid,) = [pid for pid, links in links_by_pid(truth).items() if str(path) in links]
    return pid


def test_fork_and_exec(tmp_path: Path) -> None:
    forks = tmp_path / "f"
    forks.mkdir()
    _, pids, truth = check(tmp_path, workload("forks", forks, WORKLOADS / "exec_child.py"))
    assert len(pids) == 5  # the parent, A, C, D (grandchild), E (exec'd)
    assert len(links_by_pid(truth)) == 5
    # execve kept the fd made inheritable before the fork and the one made
    # inheritable in the child (ioctl FIONCLEX), and dropped the close-on-exec ones
    exec_child = holder(truth, forks / "exec_child.txt")
    links = links_by_pid(truth)[exec_child]
    assert {f"{forks}/inheritable.txt", f"{forks}/parent_1.txt", f"{forks}/parent_3.txt"} <= links
    assert f"{forks}/parent_2.txt" not in links
    # of the dup2 copies 60..63, close_range(60, 61, CLOSE_RANGE_CLOEXEC) and
    # fcntl(62, F_SETFD, FD_CLOEXEC) left only 63 to survive the exec
    fds = {fd for pid, fd in truth if pid == exec_child}
    assert 63 in fds and not {60, 61, 62} & fds


def test_exec_from_a_thread(tmp_path: Path) -> None:
    """A thread other than the main one execs: the kernel ends the other threads and
    the exec'ing thread takes over the process id. strace 6.1 writes that as
    ``TID execve(...) <pid changed to PID ...>`` or ``TID execve(... <unfinished ...>``,
    then ``PID +++ superseded by execve in pid TID +++`` and ``PID <... execve resumed>``."""
    forks = tmp_path / "f"
    forks.mkdir()
    _, pids, truth = check(tmp_path, workload("forks", forks, WORKLOADS / "exec_child.py", "thread-exec"))
    assert len(pids) == 6  # as in test_fork_and_exec, and G
    links = links_by_pid(truth)[holder(truth, forks / "child_g_exec.txt")]
    assert {f"{forks}/inheritable.txt", f"{forks}/parent_2.txt"} <= links
    assert f"{forks}/child_g.txt" not in links


# --- a real server ----------------------------------------------------------------


class Client:
    """One redis connection: redis-py's single-connection client when installed,
    raw RESP over a socket otherwise."""

    def __init__(self, port: int) -> None:
        try:
            import redis
        except ImportError:
            self._redis = None
            self._sock: socket.socket | None = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        else:
            self._sock = None
            self._redis = redis.Redis(
                host="127.0.0.1", port=port, single_connection_client=True, socket_timeout=TIMEOUT
            )
        assert self.command("PING") in (True, b"+PONG\r\n")  # connected now, accepted by the server

    def command(self, *words: str) -> Any:
        if self._redis is not None:
            return self._redis.execute_command(*words)
        assert self._sock is not None
        payload = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
        self._sock.sendall(payload.encode())
        return self._read_reply()

    def _read_reply(self) -> bytes:
        assert self._sock is not None
        data = self._sock.recv(65536)
        if data.startswith(b"$"):  # a bulk string: read until all of it is here
            size = int(data[1 : data.index(b"\r\n")])
            while size >= 0 and len(data) < data.index(b"\r\n") + 2 + size + 2:
                data += self._sock.recv(65536)
        return data

    def client_id(self) -> int:
        reply = self.command("CLIENT", "ID")
        return int(reply) if isinstance(reply, int) else int(reply.strip()[1:])

    def info(self, section: str) -> dict[str, str]:
        if self._redis is not None:
            return {k: str(v) for k, v in self._redis.info(section).items()}
        text = self.command("INFO", section).decode()
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
        if self._sock is not None:
            self._sock.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.redis
def test_redis_server(tmp_path: Path) -> None:
    redis_server = need_tool("redis-server")
    port = free_port()
    program = [
        redis_server,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
    ]  # fmt: skip
    kept: list[Client] = []
    with traced(tmp_path, program, stop=signal.SIGTERM) as session:
        try:
            for _ in range(200):  # its log, up to the line that says it serves
                if "Ready to accept connections" in session.read_line():
                    break
            else:
                raise AssertionError("redis-server never became ready")
            for round_ in range(60):
                client = Client(port)
                assert client.command("SET", f"key{round_}", "v" * round_) in (True, b"+OK\r\n")
                client.command("GET", f"key{round_}")
                if round_ % 3 == 0:  # 20 stay connected
                    kept.append(client)
                else:
                    client.close()
            admin = kept[0]
            # connections the server closes itself
            doomed = [Client(port) for _ in range(5)]
            for client in doomed:
                admin.command("CLIENT", "KILL", "ID", str(client.client_id()))
                client.close()
            # a background save: redis forks a child that writes dump.rdb and exits
            saves = int(admin.info("persistence")["rdb_saves"])
            admin.command("BGSAVE")
            deadline = time.monotonic() + TIMEOUT
            while True:  # done once the parent has reaped the child and counted the save
                persistence = admin.info("persistence")
                if persistence["rdb_bgsave_in_progress"] == "0" and int(persistence["rdb_saves"]) > saves:
                    break
                assert time.monotonic() < deadline, f"BGSAVE never finished: {persistence}"
            assert persistence["rdb_last_bgsave_status"] == "ok", persistence
            # redis counts a client until it has freed it, fd closed and all
            # (unlinkClient closes the connection and drops it from server.clients)
            while int(admin.info("clients")["connected_clients"]) != len(kept):
                assert time.monotonic() < deadline, "redis never settled at the kept clients"
            server_pid = int(admin.info("server")["process_id"])
            session.live = [server_pid]
            truth = ground_truth([server_pid], session.launcher)
            session.detach()
        finally:
            for client in kept:
                client.close()
    _, report, _ = analyze_json(tmp_path, session.log)
    assert_matches_kernel(report, [server_pid], truth, session.log)
    assert_socket_targets(report, truth)
    sockets = [what for what in truth.values() if what.kind == "socket"]
    assert len(sockets) >= len(kept) + 1  # the kept clients and the listener
    assert {"socket", "epoll"} <= kinds(truth)
