"""The in-process tracker against real fds of every kind: found, classified, blamed on the right line."""

from __future__ import annotations

import ctypes
import gc
import inspect
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from fdleak.model.report import Frame
from fdleak.python import tracker
from fdleak.python.checkpoint import OpenedFd

HERE = Path(__file__).parent
THIS = Path(__file__).name
SOURCE = Path(__file__).read_text().splitlines()
libc = ctypes.CDLL(None, use_errno=True)


def line(tag: str) -> int:
    """The line of this file that carries the comment ``# <- tag``."""
    hits = [n for n, text in enumerate(SOURCE, 1) if text.rstrip().endswith(f"# <- {tag}")]
    assert len(hits) == 1, f"tag {tag!r} on lines {hits}"
    return hits[0]


@pytest.fixture(scope="module")
def track() -> Iterator[tracker.Tracker]:
    installed_before = tracker.current() is not None
    yield tracker.install()
    if not installed_before:
        tracker.uninstall()


def origins(found: tuple[OpenedFd, ...]) -> list[tuple[str, Frame | None]]:
    return [(item.kind.value, item.origin_frame(root=str(HERE))) for item in found]


def at(tag: str, function: str) -> Frame:
    return Frame(THIS, line(tag), function)


def test_file_os_open_and_directory(track: tracker.Tracker, tmp_path: Path) -> None:
    base = track.baseline()
    handle = open(tmp_path / "report_1.csv", "w")  # noqa: SIM115 # <- open
    raw = os.open(tmp_path / "raw.bin", os.O_CREAT | os.O_WRONLY)  # <- os.open
    directory = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)  # <- dir
    path_handle = (tmp_path / "p.txt").open("w")  # <- pathlib
    try:
        found = track.opened_since(base)
        name = "test_file_os_open_and_directory"
        assert origins(found) == [
            ("file", at("open", name)),
            ("file", at("os.open", name)),
            ("directory", at("dir", name)),
            ("file", at("pathlib", name)),
        ]
        assert [item.target for item in found] == [
            str(tmp_path / "report_1.csv"),
            str(tmp_path / "raw.bin"),
            str(tmp_path),
            str(tmp_path / "p.txt"),
        ]
        assert [item.call for item in found] == ["open", "os.open", "os.open", "open"]
        assert found[0].signature.endswith("/report_*.csv")
    finally:
        handle.close()
        path_handle.close()
        os.close(raw)
        os.close(directory)
    assert track.opened_since(base) == ()


def test_loopback_sockets(track: tracker.Tracker) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    base = track.baseline()
    client = socket.create_connection(("127.0.0.1", port))  # <- connect
    accepted, _ = server.accept()  # <- accept
    try:
        found = track.opened_since(base)
        assert origins(found) == [
            ("socket", at("connect", "test_loopback_sockets")),
            ("socket", at("accept", "test_loopback_sockets")),
        ]
        client_port = client.getsockname()[1]
        assert [item.target for item in found] == [
            f"TCP 127.0.0.1:{client_port}->127.0.0.1:{port}",
            f"TCP 127.0.0.1:{port}->127.0.0.1:{client_port}",
        ]
        # a client's ephemeral port and an accepted peer's port are not part of the signature
        assert [item.signature for item in found] == [
            f"TCP 127.0.0.1:*->127.0.0.1:{port}",
            f"TCP 127.0.0.1:{port}->127.0.0.1:*",
        ]
        assert [item.call for item in found] == ["socket.create_connection", "socket.accept"]
    finally:
        client.close()
        accepted.close()
        server.close()
    assert track.opened_since(base) == ()


def test_pipes_socketpair_and_anonymous_inodes(track: tracker.Tracker) -> None:
    base = track.baseline()
    read, write = os.pipe()  # <- pipe
    left, right = socket.socketpair()  # <- socketpair
    counter = os.eventfd(0)  # <- eventfd
    poller = select.epoll()  # <- epoll
    memory = os.memfd_create("fdleak-test")  # <- memfd
    primary, secondary = os.openpty()  # <- pty
    try:
        found = track.opened_since(base)
        name = "test_pipes_socketpair_and_anonymous_inodes"
        assert origins(found) == [
            ("pipe", at("pipe", name)),
            ("pipe", at("pipe", name)),
            ("socket", at("socketpair", name)),
            ("socket", at("socketpair", name)),
            ("eventfd", at("eventfd", name)),
            ("epoll", at("epoll", name)),
            ("memfd", at("memfd", name)),
            ("device", at("pty", name)),
            ("device", at("pty", name)),
        ]
        assert [item.fd for item in found] == [
            read,
            write,
            left.fileno(),
            right.fileno(),
            counter,
            poller.fileno(),
            memory,
            primary,
            secondary,
        ]
        assert found[0].signature == "pipe:[*]"
        assert found[4].target == "anon_inode:[eventfd]"
        assert found[6].target.startswith("/memfd:fdleak-test")
    finally:
        for fd in (read, write, counter, memory, primary, secondary):
            os.close(fd)
        left.close()
        right.close()
        poller.close()
    assert track.opened_since(base) == ()


def test_dup_and_dup2(track: tracker.Tracker) -> None:
    read, write = os.pipe()
    base = track.baseline()
    copy = os.dup(read)  # <- dup
    spare = max(int(n) for n in os.listdir("/proc/self/fd")) + 5
    onto = os.dup2(write, spare)  # <- dup2
    try:
        found = track.opened_since(base)
        assert origins(found) == [
            ("pipe", at("dup", "test_dup_and_dup2")),
            ("pipe", at("dup2", "test_dup_and_dup2")),
        ]
        assert [item.fd for item in found] == [copy, spare]
        assert onto == spare
    finally:
        for fd in (read, write, copy, spare):
            os.close(fd)


def test_subprocess_pipes_point_at_the_popen_call(track: tracker.Tracker) -> None:
    base = track.baseline()
    child = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # <- popen
    try:
        found = track.opened_since(base)
        frame = at("popen", "test_subprocess_pipes_point_at_the_popen_call")
        assert origins(found) == [("pipe", frame), ("pipe", frame)]
        assert {item.fd for item in found} == {child.stdin.fileno(), child.stdout.fileno()}  # type: ignore[union-attr]
        # the frames inside subprocess are kept, after the user's line
        frames = found[0].frames(root=str(HERE))
        assert frames[-1].file.endswith("subprocess.py")
        assert frame in frames
    finally:
        child.communicate()
    assert track.opened_since(base) == ()


def test_c_level_opens_are_found_without_a_stack(track: tracker.Tracker, tmp_path: Path) -> None:
    path = tmp_path / "from_c.txt"
    path.write_text("x")
    base = track.baseline()
    fd = libc.open(str(path).encode(), os.O_RDONLY)
    assert fd >= 0
    try:
        (found,) = track.opened_since(base)
        assert (found.fd, found.kind.value, found.target) == (fd, "file", str(path))
        assert found.call is None and found.stack == () and found.origin_frame() is None
        assert found.origin("tests/test_x.py::test_c").task == "tests/test_x.py::test_c"
        assert found.entry().syscall == "unknown"
    finally:
        os.close(fd)


def test_a_reused_number_is_never_blamed_on_the_old_stack(track: tracker.Tracker, tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("b")
    base = track.baseline()
    with open(tmp_path / "a.txt", "w") as old:  # Python opens a.txt...
        number = old.fileno()
    # ...and closed it: the number is free again
    reused = libc.open(str(tmp_path / "b.txt").encode(), os.O_RDONLY)  # C takes the same number
    read, write = os.pipe()
    os.close(read)
    os.close(write)
    c_pipe = (ctypes.c_int * 2)()
    assert libc.pipe(c_pipe) == 0  # C pipes on the numbers the Python pipe had
    try:
        assert reused == number and {c_pipe[0], c_pipe[1]} == {read, write}
        found = track.opened_since(base)
        assert [(item.fd, item.call, item.stack) for item in found] == [
            (reused, None, ()),
            (c_pipe[0], None, ()),
            (c_pipe[1], None, ()),
        ]
    finally:
        for fd in (reused, c_pipe[0], c_pipe[1]):
            os.close(fd)


def test_the_same_file_reopened_by_c_after_python_closed_it(track: tracker.Tracker, tmp_path: Path) -> None:
    path = tmp_path / "same.txt"
    base = track.baseline()
    path.write_text("written by Python")  # opens and closes same.txt: same inode, same number next
    raw = os.open(path, os.O_RDONLY)
    raw_number = raw
    os.close(raw)
    again = libc.open(str(path).encode(), os.O_RDONLY)
    try:
        assert again == raw_number
        (found,) = track.opened_since(base)
        assert (found.fd, found.call, found.target) == (again, None, str(path))
    finally:
        os.close(again)
    with socket.socket() as sock:
        number = sock.fileno()
    base = track.baseline()
    c_socket = libc.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
    try:
        assert c_socket == number
        (found,) = track.opened_since(base)
        assert (found.kind.value, found.call) == ("socket", None)
    finally:
        os.close(c_socket)


def test_a_record_from_before_the_baseline_is_stale(track: tracker.Tracker, tmp_path: Path) -> None:
    path = tmp_path / "same.txt"
    path.write_text("same file, same inode")
    with open(path) as old:
        number = old.fileno()
    base = track.baseline()  # the Python open of same.txt is older than the window
    again = libc.open(str(path).encode(), os.O_RDONLY)
    try:
        assert again == number
        (found,) = track.opened_since(base)
        assert (found.fd, found.call) == (number, None)
    finally:
        os.close(again)


def test_fd_recreated_inside_the_window_on_a_baseline_number(track: tracker.Tracker) -> None:
    counter = os.eventfd(0)
    base = track.baseline()
    os.close(counter)
    again = os.eventfd(0)  # <- again
    try:
        assert again == counter  # same number, same link text (anon_inode:[eventfd])
        assert origins(track.opened_since(base)) == [
            ("eventfd", at("again", "test_fd_recreated_inside_the_window_on_a_baseline_number"))
        ]
    finally:
        os.close(again)


def test_closed_fds_and_the_tracker_itself_leave_nothing(track: tracker.Tracker, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ResourceWarning from the tracker fails the test
        base = track.baseline()
        with open(tmp_path / "f", "w"):
            pass
        os.close(os.eventfd(0))
        select.epoll().close()
        a, b = socket.socketpair()
        a.close()
        b.close()
        for _ in range(3):
            assert track.opened_since(base) == ()
            track.baseline()
        gc.collect()


def test_wrapped_calls_keep_their_signatures_and_types(track: tracker.Tracker) -> None:
    assert os.pipe.__name__ == "pipe" and os.open.__name__ == "open"
    assert str(inspect.signature(os.dup2)) == "(fd, fd2, inheritable=True)"
    assert str(inspect.signature(os.open)).startswith("(path, flags, mode=511")
    poller = select.epoll()
    try:
        assert isinstance(poller, select.epoll)
    finally:
        poller.close()
    left, right = socket.socketpair()
    with left, right, socket.socket(fileno=os.dup(left.fileno())) as wrapped:
        created = track.created(wrapped.fileno())  # socket(fileno=) keeps the dup's origin
        assert created is not None and created.call == "os.dup"
    read, write = os.pipe()
    with open(read, "rb") as reader, open(write, "wb") as writer:  # open(fd) keeps the pipe's origin
        created = track.created(reader.fileno())
        assert created is not None and created.call == "os.pipe"
        writer.write(b"x")


def test_threads_are_recorded(track: tracker.Tracker) -> None:
    made: list[int] = []
    worker = threading.Thread(target=lambda: made.append(os.eventfd(0)))
    base = track.baseline()
    worker.start()
    worker.join()
    try:
        (found,) = track.opened_since(base)
        assert found.thread == worker.ident and found.thread != threading.get_ident()
    finally:
        os.close(made[0])


def test_absorbed_fds_belong_to_the_baseline(track: tracker.Tracker) -> None:
    base = track.baseline()
    pool = os.eventfd(0)  # e.g. a connection pool made by the first task
    try:
        base = track.absorb(base, track.opened_since(base))
        assert track.opened_since(base) == ()
    finally:
        os.close(pool)


LEAKY_SCRIPT = """
import os, sys
from fdleak.python import tracker

def nested(n):
    if n == 0:
        return os.pipe()  # <- nested pipe
    return nested(n - 1)

track = tracker.current()
base = track.baseline()
fds = nested(10)
found = track.opened_since(base)
print(len(found), len(found[0].frames()), found[0].origin_frame().line, flush=True)
"""


def test_bootstrap_installs_the_tracker_in_a_child(tmp_path: Path) -> None:
    from fdleak.python.bootstrap import child_env

    script = tmp_path / "leaky.py"
    script.write_text(LEAKY_SCRIPT)
    other = tmp_path / "theirs"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import os\nos.environ['THEIRS'] = 'ran'\n")
    base = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(other), *sys.path[:1], str(Path(tracker.__file__).parents[2])]),
    )
    env = child_env(base, depth=3)
    assert env["PYTHONPATH"].split(os.pathsep)[0].endswith("_bootstrap")
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(script)], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    nested_line = LEAKY_SCRIPT.splitlines().index("        return os.pipe()  # <- nested pipe") + 1
    assert proc.stdout.split() == ["2", "3", str(nested_line)]  # two fds, depth 3, the pipe's line
    assert proc.stderr == ""
    chained = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ.get('THEIRS'))"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert chained.stdout.strip() == "ran"  # the user's own sitecustomize still runs


def test_child_env_keeps_the_rest_and_adds_once() -> None:
    from fdleak.python.bootstrap import BOOTSTRAP_DIR, child_env

    env = child_env({"PYTHONPATH": "/a", "X": "1"}, init=["pkg.mod:hook"])
    again = child_env(env, init=["pkg.mod:hook"])
    assert again["PYTHONPATH"] == os.pathsep.join([BOOTSTRAP_DIR, "/a"])
    assert again["FDLEAK_PYTHON_INIT"] == "pkg.mod:hook" and again["X"] == "1"


def test_the_tracker_imports_no_test_or_task_framework() -> None:
    code = (
        "import sys; import fdleak.python.tracker, fdleak.python.bootstrap; "
        "fdleak.python.tracker.install(); "
        "print(sorted(m for m in ('pytest', 'celery', '_pytest') if m in sys.modules))"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(tracker.__file__).parents[2]))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout.strip(), proc.stderr) == (0, "[]", "")


class _Task:
    """What the tracking's signal handlers read of a Celery task: its name."""

    def __init__(self, name: str) -> None:
        self.name = name


def test_a_thread_pool_task_is_not_blamed_for_an_fd_another_task_made_as_it_ended(
    track: tracker.Tracker,
) -> None:
    """The race of a thread pool: task B starts once task A's end has taken A off the running
    tasks, but before A's diff, and makes an fd that A's listing catches before B's record
    of it exists (here: C's fcntl F_DUPFD, which no hook sees). A ran alone until then, but
    the fd is not A's. (A start during the diff itself waits for it: see below.)"""
    import fcntl

    from fdleak.python.celery import CeleryTracking

    tracking = CeleryTracking(track, report_dir=None)
    made: list[int] = []
    real_lock = tracking._own_io
    b_started = threading.Event()
    b_made = threading.Event()

    def task_b() -> None:
        tracking.before(task_id="B", task=_Task("b"))
        b_started.set()
        made.append(fcntl.fcntl(2, fcntl.F_DUPFD, 0))
        b_made.set()

    class BStartsFirst:
        """A's diff takes this lock: B starts and makes its fd just before it does."""

        def __enter__(self) -> None:
            if not b_started.is_set():
                tracking._own_io = real_lock  # B's start takes the real one
                other = threading.Thread(target=task_b)
                other.start()
                other.join()
            real_lock.acquire()

        def __exit__(self, *_: object) -> None:
            real_lock.release()

    tracking.before(task_id="A", task=_Task("a"))
    tracking._own_io = BStartsFirst()  # type: ignore[assignment]
    tracking.after(task_id="A", task=_Task("a"))
    assert b_made.is_set()
    tracking.after(task_id="B", task=_Task("b"))  # nothing else ran beside B: the fd is its
    for fd in made:
        os.close(fd)
    assert made and (tracking.tasks["a"].leaked, tracking.tasks["b"].leaked) == (0, 1)
    # alone, the same fd made outside Python's view is the task's: C code's leaks are found
    tracking.before(task_id="C", task=_Task("c"))
    made = [fcntl.fcntl(2, fcntl.F_DUPFD, 0)]
    try:
        tracking.after(task_id="C", task=_Task("c"))
    finally:
        os.close(made[0])
    assert tracking.tasks["c"].leaked == 1
    # a task that starts while another is diffed waits for the diff: neither sees the
    # other's passing fds (its listing's own, its probe of the lowest free number)
    tracking.before(task_id="D", task=_Task("d"))
    started = threading.Event()
    real_opened_since = track.opened_since

    def task_e() -> None:
        tracking.before(task_id="E", task=_Task("e"))
        started.set()

    def opened_since_while_e_starts(baseline: object) -> tuple[OpenedFd, ...]:
        other = threading.Thread(target=task_e)
        other.start()
        other.join(0.2)
        held_back = other.is_alive()
        found = real_opened_since(baseline)  # type: ignore[arg-type]
        assert held_back
        waiting.append(other)
        return found

    waiting: list[threading.Thread] = []
    track.opened_since = opened_since_while_e_starts  # type: ignore[method-assign]
    try:
        tracking.after(task_id="D", task=_Task("d"))
    finally:
        del track.opened_since
    waiting[0].join(10)
    assert started.is_set()
    tracking.after(task_id="E", task=_Task("e"))
    assert (tracking.tasks["d"].leaked, tracking.tasks["e"].leaked) == (0, 0)


def _pipe_made_by_another_thread_after_the_listing(
    monkeypatch: pytest.MonkeyPatch, swap_out: tuple[int, ...] = ()
) -> tuple[list[tuple[int, int]], list[int]]:
    """From now on, the first listing of /proc/self/fd is followed at once by another thread
    that makes a pipe (and closes ``swap_out``: two fds, so the fd count comes out even):
    the moment between a baseline's listing and the rest of it. Returns (pipes, the
    thread's ident)."""
    pipes: list[tuple[int, int]] = []
    idents: list[int] = []
    real_listdir = os.listdir

    def other_thread() -> None:
        idents.append(threading.get_ident())
        pipes.append(os.pipe())  # <- made while the baseline was taken
        for fd in swap_out:
            os.close(fd)

    def listdir(path: str | int) -> list[str]:
        names = real_listdir(path)
        if not pipes:
            worker = threading.Thread(target=other_thread)
            worker.start()
            worker.join()
        return names

    monkeypatch.setattr(os, "listdir", listdir)
    return pipes, idents


def test_an_fd_python_made_while_a_baseline_was_listed_keeps_its_stack(
    track: tracker.Tracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record of an fd made just after a baseline's listing is newer than the baseline:
    the diff finds the fd with the stack and thread that made it, not as C code's."""
    pipes, idents = _pipe_made_by_another_thread_after_the_listing(monkeypatch)
    base = track.baseline()
    monkeypatch.undo()
    try:
        found = track.opened_since(base)
        assert {item.fd for item in found} == set(pipes[0])
        for item in found:
            assert (item.call, item.thread) == ("os.pipe", idents[0])
            assert item.origin_frame(root=str(HERE)) == at(
                "made while the baseline was taken",
                "_pipe_made_by_another_thread_after_the_listing.<locals>.other_thread",
            )
    finally:
        for fd in pipes[0]:
            os.close(fd)


def test_a_thread_pool_task_alone_is_not_blamed_for_an_fd_made_while_an_earlier_start_was_listed(
    track: tracker.Tracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How the threads pool's real-worker test once failed: another thread made a pipe just
    after task Q's start listed the fds, while one they held was closed (the count even).
    Q's end and the next starts must not take Q's listing as the fds open now, or a later
    task that runs alone is blamed for the pipe, as if C code had made it in its window."""
    from fdleak.python.celery import CeleryTracking

    tracking = CeleryTracking(track, report_dir=None)
    tracking.before(task_id="warm", task=_Task("clean"))  # a listing, and the count known
    tracking.after(task_id="warm", task=_Task("clean"))
    swapped = os.pipe()  # two more fds open: the next start lists them
    pipes, _ = _pipe_made_by_another_thread_after_the_listing(monkeypatch, swap_out=swapped)
    tracking.before(task_id="Q", task=_Task("q"))
    monkeypatch.undo()
    kept: list[int] = []
    try:
        assert pipes, "Q's start did not list the fds"
        tracking.after(task_id="Q", task=_Task("q"))  # the count as at its start
        tracking.before(task_id="R", task=_Task("r"))
        kept.append(os.eventfd(0))  # R keeps one fd of its own, so its end is diffed
        tracking.after(task_id="R", task=_Task("r"))
        assert "q" not in tracking.tasks or tracking.tasks["q"].leaked == 0
        assert [(fd.fd, fd.kind.value) for _, fd in tracking.tasks["r"].kept] == [(kept[0], "eventfd")]
    finally:
        for fd in (*(pipes[0] if pipes else swapped), *kept):
            os.close(fd)


def test_task_windows_that_change_nothing_cost_no_listing(
    track: tracker.Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Celery task's start and end: once a listing is known, a window whose fd count comes
    out even, with every fd Python made in it closed again, reads no /proc/self/fd listing;
    any other window still finds what it opened, Python's or C's."""
    from fdleak.python.celery import CeleryTracking

    listings: list[str] = []
    real_listdir = os.listdir

    def counted(path: str) -> list[str]:
        listings.append(path)
        return real_listdir(path)

    tracking = CeleryTracking(track, report_dir=None)
    path = tmp_path / "tiny.txt"
    tracking.before(task_id="first", task=_Task("clean"))  # no quick baseline yet: a listing
    tracking.after(task_id="first", task=_Task("clean"))
    monkeypatch.setattr(os, "listdir", counted)
    for n in range(20):
        tracking.before(task_id=str(n), task=_Task("clean"))
        with open(path, "w") as handle:  # open() and close(): counts even, nothing kept
            handle.write("x")
        os.close(os.eventfd(0))
        left, right = socket.socketpair()
        left.close()
        right.close()
        tracking.after(task_id=str(n), task=_Task("clean"))
    assert listings == [] and tracking.tasks["clean"].leaked == 0
    kept: list[int] = []
    try:
        tracking.before(task_id="py", task=_Task("leaky"))
        kept.append(os.open(path, os.O_RDONLY))  # <- kept by a task
        tracking.after(task_id="py", task=_Task("leaky"))
        tracking.before(task_id="c", task=_Task("c-leaky"))  # the count moved: listed again
        kept.append(libc.open(str(path).encode(), os.O_RDONLY))
        tracking.after(task_id="c", task=_Task("c-leaky"))
        (python_fd,) = tracking.tasks["leaky"].kept
        (c_fd,) = tracking.tasks["c-leaky"].kept
        assert python_fd[1].fd == kept[0] and python_fd[1].origin_frame(root=str(HERE)) == at(
            "kept by a task", "test_task_windows_that_change_nothing_cost_no_listing"
        )
        assert c_fd[1].fd == kept[1] and c_fd[1].call is None
        # a task that closes a kept fd and opens another (the count even) is diffed in full
        tracking.before(task_id="swap", task=_Task("swap"))
        os.close(kept.pop())
        kept.append(os.eventfd(0))
        tracking.after(task_id="swap", task=_Task("swap"))
        assert [fd.kind.value for _, fd in tracking.tasks["swap"].kept] == ["eventfd"]
    finally:
        for fd in kept:
            os.close(fd)
    assert len(listings) >= 2


FORKED_BASELINE = """
import ctypes, os, sys
from fdleak.python import tracker

libc = ctypes.CDLL(None)

def links():
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            found.append(os.readlink(f"/proc/self/fd/{name}"))
        except FileNotFoundError:
            pass  # the listing's own
    return found

track = tracker.install()
spare = os.open(os.devnull, os.O_RDONLY)
track.quick_baseline()  # the parent's, with spare open
pid = os.fork()
if pid == 0:
    # the child frees spare and C code makes another fd on a far number: the count is the
    # parent's again, the numbers are not
    libc.close(spare)
    far = libc.fcntl(2, 0, 600)  # F_DUPFD
    base = track.quick_baseline()
    mine = os.open(os.devnull, os.O_RDONLY)
    found = sorted(item.fd for item in track.opened_since(base))
    # fdleak's own fd (on /proc/PID/fd, for the count): the child's, not the parent's
    own = sorted(links().count(f"/proc/{p}/fd") for p in (os.getpid(), os.getppid()))
    os._exit(0 if found == [mine] and own == [0, 1] else 1)
_, status = os.waitpid(pid, 0)
tracker.uninstall()  # and the parent's own fd is closed with the tracker
sys.exit(os.waitstatus_to_exitcode(status) or links().count(f"/proc/{os.getpid()}/fd"))
"""


def test_a_forked_child_lists_its_own_fds_for_a_quick_baseline(tmp_path: Path) -> None:
    script = tmp_path / "forked.py"
    script.write_text(FORKED_BASELINE)
    env = dict(os.environ, PYTHONPATH=str(Path(tracker.__file__).parents[2]))
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (0, "")


def test_the_pid_kept_in_memory_is_renewed_in_a_forked_child() -> None:
    from fdleak.python.pids import getpid

    assert getpid() == os.getpid()
    pid = os.fork()
    if pid == 0:
        os._exit(0 if getpid() == os.getpid() != os.getppid() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert getpid() == os.getpid()


class _NudgedCount:
    """The registry's numbering, with ``nudge`` run once right after the next number is
    drawn: the moment between a record's number and its storing."""

    def __init__(self, inner: Iterator[int], nudge: Callable[[], None]) -> None:
        self.inner, self.nudge = inner, nudge

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        number = next(self.inner)
        nudge, self.nudge = self.nudge, lambda: None
        nudge()
        return number


def test_two_threads_recording_at_once_store_in_number_order(track: tracker.Tracker) -> None:
    """Another thread records while this one has drawn its number and not yet stored it:
    the records stay in number order, so a check for fds made since this record still sees
    the other thread's, which is newer."""
    made: list[int] = []
    other = threading.Thread(target=lambda: made.append(os.eventfd(0)))

    def other_records() -> None:
        other.start()
        other.join(0.2)  # with the numbering and the storing one step, it waits for ours

    registry = track.registry
    registry._seq = _NudgedCount(registry._seq, other_records)  # type: ignore[assignment]
    try:
        mine = os.eventfd(0)
    finally:
        registry._seq = registry._seq.inner  # type: ignore[attr-defined]
    other.join(10)
    try:
        numbers = [record.seq for record in registry.records.values()]
        assert numbers == sorted(numbers)
        assert registry.records[made[0]].seq > registry.records[mine].seq
        assert registry.live_since(registry.records[mine].seq)
    finally:
        os.close(mine)
        for fd in made:
            os.close(fd)


def fork_while_held(lock: AbstractContextManager[bool], in_child: Callable[[], bool]) -> int:
    """Fork while another thread holds ``lock`` (as if busy with it at the fork); the child
    runs ``in_child`` and exits 0 if it returned True. The child's exit status."""
    holding, release = threading.Event(), threading.Event()

    def holder() -> None:
        with lock:
            holding.set()
            release.wait(30)

    other = threading.Thread(target=holder)
    other.start()
    try:
        assert holding.wait(10)
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)  # not pytest-timeout's handler
            signal.alarm(10)  # a child stuck on the inherited lock dies instead
            os._exit(0 if in_child() else 1)
    finally:
        release.set()
        other.join(10)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_forked_child_records_even_if_another_thread_was_recording_at_the_fork(
    track: tracker.Tracker,
) -> None:
    registry = track.registry

    def records_a_pipe() -> bool:
        read_end, _ = os.pipe()
        return registry.records[read_end].call == "os.pipe"

    assert fork_while_held(registry._order, records_a_pipe) == 0  # as if storing a record


def test_a_forked_child_accounts_its_tasks_even_if_another_thread_was_diffing_at_the_fork(
    track: tracker.Tracker,
) -> None:
    """A prefork child inherits the parent's task accounting with its locks as they were:
    one another thread held (a thread-pool task's diff, a report being written) would never
    be released in the child. The child's first task starts its own accounting, locks too."""
    from fdleak.python.celery import CeleryTracking

    tracking = CeleryTracking(track, report_dir=None)

    def accounts_a_leaky_task() -> bool:
        tracking.before(task_id="child", task=_Task("leaky"))
        kept = os.pipe()
        tracking.after(task_id="child", task=_Task("leaky"))
        return {fd.fd for _, fd in tracking.tasks["leaky"].kept} == set(kept)

    assert fork_while_held(tracking._own_io, accounts_a_leaky_task) == 0


def test_a_signal_handler_that_makes_an_fd_while_a_record_is_stored(track: tracker.Tracker) -> None:
    """Python runs a signal handler in the main thread between any two steps, also while
    this thread stores a record: an fd the handler makes is recorded, with no deadlock."""
    made: list[tuple[int, int]] = []
    previous = signal.signal(signal.SIGUSR1, lambda *_: made.append(os.pipe()))
    try:
        with track.registry._order:  # as if inside record()
            signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
            for _ in range(100):  # the handler runs at the next step
                if made:
                    break
        assert made and track.registry.records[made[0][0]].call == "os.pipe"
    finally:
        signal.signal(signal.SIGUSR1, previous)
        for fd in made[0] if made else ():
            os.close(fd)
