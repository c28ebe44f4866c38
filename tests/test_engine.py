"""fd-table semantics on small hand-written logs, through the library API."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

from fdleak.lifecycle.engine import Engine
from fdleak.lifecycle.tables import Table
from fdleak.pipeline.logs import analyze_logs
from fdleak.sources.strace import drive
from fdleak.sources.strace.inputs import resolve


def report_of(tmp_path: Path, text: str, **kwargs: Any) -> dict[str, Any]:
    log = tmp_path / "trace.txt"
    log.write_text(text.lstrip("\n"))
    return analyze_logs([str(log)], **kwargs).to_json()


def open_set(report: dict[str, Any]) -> set[tuple[int, int]]:
    return {(e["pid"], e["fd"]) for e in report["open_fds"]}


def test_open_close_and_kept(tmp_path: Path) -> None:
    r = report_of(
        tmp_path,
        """
100 1.0 openat(AT_FDCWD, "/etc/a", O_RDONLY|O_CLOEXEC) = 3</etc/a>
100 1.1 openat(AT_FDCWD, "/etc/b", O_RDONLY) = 4</etc/b>
100 1.2 close(3</etc/a>) = 0
100 1.3 close(9) = -1 EBADF (Bad file descriptor)
""",
    )
    assert open_set(r) == {(100, 4)}
    assert r["open_fds"][0]["target"] == "/etc/b"
    assert r["open_fds"][0]["line"] == 2


def test_dup2_onto_open_fd_closes_it_first(tmp_path: Path) -> None:
    r = report_of(
        tmp_path,
        """
100 1.0 openat(AT_FDCWD, "/etc/a", O_RDONLY) = 3</etc/a>
100 1.1 openat(AT_FDCWD, "/etc/b", O_RDONLY) = 4</etc/b>
100 1.2 dup2(3</etc/a>, 4</etc/b>) = 4</etc/a>
100 1.3 fcntl(3</etc/a>, F_DUPFD_CLOEXEC, 0) = 5</etc/a>
""",
    )
    targets = {e["fd"]: e["target"] for e in r["open_fds"]}
    assert targets == {3: "/etc/a", 4: "/etc/a", 5: "/etc/a"}


def test_fork_copies_and_thread_shares(tmp_path: Path) -> None:
    r = report_of(
        tmp_path,
        """
100 1.0 openat(AT_FDCWD, "/etc/a", O_RDONLY) = 3</etc/a>
100 1.1 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 200
200 1.2 close(3</etc/a>) = 0
200 1.3 openat(AT_FDCWD, "/etc/c", O_RDONLY) = 3</etc/c>
100 1.4 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, exit_signal=0} => {parent_tid=[101]}, 88) = 101
101 1.5 openat(AT_FDCWD, "/etc/t", O_RDONLY) = 4</etc/t>
101 1.6 close(3</etc/a>) = 0
101 1.7 +++ exited with 0 +++
""",
    )
    assert open_set(r) == {(200, 3), (100, 4)}
    by = {(e["pid"], e["fd"]): e["target"] for e in r["open_fds"]}
    assert by[(200, 3)] == "/etc/c"
    assert by[(100, 4)] == "/etc/t"


def test_child_printing_before_parent_clone_returns(tmp_path: Path) -> None:
    # real strace: the vfork child runs first; its lines precede "<... vfork resumed>"
    r = report_of(
        tmp_path,
        """
100 1.0 pipe2([3<pipe:[77]>, 4<pipe:[77]>], O_CLOEXEC) = 0
100 1.1 vfork( <unfinished ...>
200 1.2 close(3<pipe:[77]>) = 0
200 1.3 openat(AT_FDCWD, "/etc/c", O_RDONLY) = 5</etc/c>
100 1.4 <... vfork resumed>) = 200
100 1.5 close(4<pipe:[77]>) = 0
""",
    )
    assert open_set(r) == {(100, 3), (200, 4), (200, 5)}


def test_execve_drops_close_on_exec_fds_only_when_it_succeeds(tmp_path: Path) -> None:
    r = report_of(
        tmp_path,
        """
100 1.0 openat(AT_FDCWD, "/etc/a", O_RDONLY|O_CLOEXEC) = 3</etc/a>
100 1.1 openat(AT_FDCWD, "/etc/b", O_RDONLY) = 4</etc/b>
100 1.2 openat(AT_FDCWD, "/etc/c", O_RDONLY) = 5</etc/c>
100 1.3 fcntl(5</etc/c>, F_SETFD, FD_CLOEXEC) = 0
100 1.4 ioctl(4</etc/b>, FIOCLEX) = 0
100 1.5 ioctl(4</etc/b>, FIONCLEX) = 0
100 1.6 execve("/nope", ["nope"], 0x7ff /* 3 vars */) = -1 ENOENT (No such file or directory)
100 1.7 openat(AT_FDCWD, "/etc/d", O_RDONLY) = 6</etc/d>
100 1.8 execve("/bin/true", ["true", "x"], 0x7ff /* 3 vars */) = 0
""",
    )
    assert open_set(r) == {(100, 4), (100, 6)}
    assert r["processes"][0]["command"] == "true x"


def test_close_range_and_cloexec_variant(tmp_path: Path) -> None:
    r = report_of(
        tmp_path,
        """
100 1.0 openat(AT_FDCWD, "/etc/a", O_RDONLY) = 3</etc/a>
100 1.1 openat(AT_FDCWD, "/etc/b", O_RDONLY) = 4</etc/b>
100 1.2 openat(AT_FDCWD, "/etc/c", O_RDONLY) = 5</etc/c>
100 1.3 openat(AT_FDCWD, "/etc/d", O_RDONLY) = 9</etc/d>
100 1.4 close_range(3, 4, 0) = 0
100 1.5 close_range(5, ~0U, CLOSE_RANGE_CLOEXEC) = 0
100 1.6 openat(AT_FDCWD, "/etc/e", O_RDONLY) = 3</etc/e>
100 1.7 execve("/bin/true", ["true"], 0x7ff /* 3 vars */) = 0
""",
    )
    assert open_set(r) == {(100, 3)}


def test_close_frees_the_fd_when_it_starts(tmp_path: Path) -> None:
    # another thread is handed fd 3 while this close is still in flight
    r = report_of(
        tmp_path,
        """
100 1.0 openat(AT_FDCWD, "/etc/a", O_RDONLY) = 3</etc/a>
100 1.1 clone3({flags=CLONE_VM|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD} => {parent_tid=[101]}, 88) = 101
100 1.2 close(3</etc/a> <unfinished ...>
101 1.3 openat(AT_FDCWD, "/etc/b", O_RDONLY) = 3</etc/b>
100 1.4 <... close resumed>) = 0
""",
    )
    assert [(e["fd"], e["target"]) for e in r["open_fds"]] == [(3, "/etc/b")]
    assert r["warnings"] == []


def test_sockets_get_their_ends_from_connect_bind_accept(tmp_path: Path) -> None:
    r = report_of(
        tmp_path,
        """
100 1.0 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 3<socket:[11]>
100 1.1 connect(3<socket:[11]>, {sa_family=AF_INET, sin_port=htons(6379), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
100 1.2 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 4<socket:[12]>
100 1.3 bind(4<socket:[12]>, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
100 1.4 accept4(4<socket:[12]>, {sa_family=AF_INET, sin_port=htons(51000), sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC) = 5<socket:[13]>
100 1.5 socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, [6<socket:[14]>, 7<socket:[15]>]) = 0
""",
    )
    targets = {e["fd"]: e["target"] for e in r["open_fds"]}
    assert targets[3] == "TCP ->127.0.0.1:6379"
    assert targets[4] == "TCP 127.0.0.1:8080"
    assert targets[5] == "TCP 127.0.0.1:8080->127.0.0.1:51000"
    assert targets[6] == targets[7] == "UNIX socketpair"
    assert all(e["kind"] == "socket" for e in r["open_fds"])


def test_exit_releases_and_reports_at_exit(tmp_path: Path) -> None:
    lines = ['100 1.0 openat(AT_FDCWD, "/etc/cfg", O_RDONLY) = 3</etc/cfg>']
    for i in range(12):
        lines.append(
            f'100 {2 + i}.0 openat(AT_FDCWD, "/tmp/job_{i}.txt", O_WRONLY|O_CREAT, 0666) = {4 + i}</tmp/job_{i}.txt>'
        )
        lines.append(f'100 {2 + i}.5 openat(AT_FDCWD, "/etc/hosts", O_RDONLY) = {5 + i}</etc/hosts>')
        lines.append(f"100 {2 + i}.6 close({5 + i}</etc/hosts>) = 0")
    lines.append("100 20.0 exit_group(0) = ?")
    lines.append("100 20.1 +++ exited with 0 +++")
    r = report_of(tmp_path, "\n".join(lines) + "\n")
    assert r["open_fds"] == []  # the process is gone
    assert r["processes"][0]["exited"] is True and r["processes"][0]["exit_status"] == 0
    assert [(leak["signature"], leak["count"]) for leak in r["leaks"]] == [("/tmp/job_*.txt", 12)]
    assert r["leaks"][0]["examples"][0]["line"] == 2


def test_emfile_is_counted(tmp_path: Path) -> None:
    r = report_of(
        tmp_path,
        """
100 1.0 openat(AT_FDCWD, "/etc/a", O_RDONLY) = -1 EMFILE (Too many open files)
100 1.1 openat(AT_FDCWD, "/etc/a", O_RDONLY) = -1 EMFILE (Too many open files)
100 1.2 accept4(3, 0x7ff, [16], SOCK_CLOEXEC) = -1 EMFILE (Too many open files)
""",
    )
    errors = {(e["syscall"], e["errno"]): e["count"] for e in r["fd_errors"]}
    assert errors == {("openat", "EMFILE"): 2, ("accept4", "EMFILE"): 1}


@pytest.mark.parametrize("jobs", [1, 2])
def test_blocks_and_workers_agree_with_one_pass(
    tmp_path: Path, jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # small blocks force pieces, pairs and forks across block boundaries

    lines = []
    for i in range(400):
        pid = 100 + (i % 3)
        fd = 10 + i  # every fd number distinct: a consistent log
        lines.append(f'{pid} {i}.0 openat(AT_FDCWD, "/tmp/f{i}", O_RDONLY <unfinished ...>')
        lines.append(f"{pid} {i}.1 <... openat resumed>) = {fd}</tmp/f{i}>")
        if i % 5:
            lines.append(f"{pid} {i}.2 close({fd}</tmp/f{i}>) = 0")
        if i == 200:
            lines.append(f"{pid} {i}.3 clone(child_stack=NULL, flags=SIGCHLD <unfinished ...>")
            lines.append(f"{pid} {i}.4 <... clone resumed>) = 900")
            lines.append(f"900 {i}.5 close(10</tmp/f0>) = 0")
    text = "\n".join(lines) + "\n"
    whole = report_of(tmp_path, text)
    monkeypatch.setattr(drive, "BLOCK_LINES", 7)
    monkeypatch.setattr(drive, "BLOCK_BYTES", 300)
    monkeypatch.setattr(drive, "PARALLEL_MIN_BYTES", 0)
    split = report_of(tmp_path, text, jobs=jobs)
    assert split["open_fds"] == whole["open_fds"]
    assert split["groups"] == whole["groups"]
    assert split["processes"] == whole["processes"]


def test_a_process_seen_only_in_pairs_is_still_listed(tmp_path: Path) -> None:
    r = report_of(
        tmp_path,
        """
100 1.0 openat(AT_FDCWD, "/etc/a", O_RDONLY) = 3</etc/a>
100 1.1 close(3</etc/a>) = 0
""",
    )
    assert [(p["pid"], p["opened"], p["closed"], p["open_at_end"]) for p in r["processes"]] == [
        (100, 1, 1, 0)
    ]


def test_child_starting_a_thread_before_parent_clone_returns(tmp_path: Path) -> None:
    # found in a real trace: the child's closes and its own thread clone print
    # before the parent's "<... clone resumed>"
    r = report_of(
        tmp_path,
        """
100 1.0 openat(AT_FDCWD, "/etc/a", O_RDONLY) = 3</etc/a>
100 1.1 pipe2([4<pipe:[9]>, 5<pipe:[9]>], O_CLOEXEC) = 0
100 1.2 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD <unfinished ...>
200 1.3 close(4<pipe:[9]> <unfinished ...>
200 1.4 <... close resumed>) = 0
200 1.5 close(3</etc/a>) = 0
200 1.6 clone3({flags=CLONE_VM|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD} => {parent_tid=[201]}, 88) = 201
100 1.7 <... clone resumed>, child_tidptr=0x7f) = 200
200 1.8 openat(AT_FDCWD, "/dev/null", O_RDONLY) = 3</dev/null>
201 1.9 openat(AT_FDCWD, "/etc/t", O_RDONLY) = 4</etc/t>
""",
    )
    by = {(e["pid"], e["fd"]): e["target"] for e in r["open_fds"]}
    assert by == {
        (100, 3): "/etc/a",
        (100, 4): "pipe:[9]",
        (100, 5): "pipe:[9]",
        (200, 3): "/dev/null",
        (200, 4): "/etc/t",
        (200, 5): "pipe:[9]",
    }
    assert r["warnings"] == []


def test_failed_clone_does_not_hold_up_other_processes(tmp_path: Path) -> None:
    r = report_of(
        tmp_path,
        """
100 1.0 clone(child_stack=NULL, flags=SIGCHLD <unfinished ...>
300 1.1 openat(AT_FDCWD, "/etc/x", O_RDONLY) = 3</etc/x>
100 1.2 <... clone resumed>) = -1 EAGAIN (Resource temporarily unavailable)
300 1.3 openat(AT_FDCWD, "/etc/y", O_RDONLY) = 4</etc/y>
""",
    )
    assert {(e["pid"], e["fd"]) for e in r["open_fds"]} == {(300, 3), (300, 4)}


def test_thread_execve_in_superseded_form(tmp_path: Path) -> None:
    # the execve starts unfinished in the thread; its end comes under the leader's pid
    r = report_of(
        tmp_path,
        """
100 1.0 openat(AT_FDCWD, "/tmp/g.txt", O_WRONLY|O_CREAT|O_CLOEXEC, 0600) = 10</tmp/g.txt>
100 1.1 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD} => {parent_tid=[103]}, 88) = 103
103 1.2 execve("/usr/bin/python3", ["python3", "x.py"], 0x7ffc /* 42 vars */ <unfinished ...>
100 1.3 +++ superseded by execve in pid 103 +++
100 1.4 <... execve resumed>) = 0
100 1.5 openat(AT_FDCWD, "/tmp/after.txt", O_WRONLY|O_CREAT|O_CLOEXEC, 0600) = 3</tmp/after.txt>
""",
    )
    assert [(e["pid"], e["fd"], e["target"]) for e in r["open_fds"]] == [(100, 3, "/tmp/after.txt")]
    assert r["window"]["unparsed_lines"] == 0


def test_bound_to_port_zero_is_not_port_zero(tmp_path: Path) -> None:
    r = report_of(
        tmp_path,
        """
100 1.0 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3<socket:[5]>
100 1.1 bind(3<socket:[5]>, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
""",
    )
    assert r["open_fds"][0]["target"] == "TCP 127.0.0.1:*"


def test_window_starts_at_the_first_line(tmp_path: Path) -> None:
    r = report_of(
        tmp_path,
        """
100 1716900000.0 openat(AT_FDCWD, "/etc/a", O_RDONLY) = 3</etc/a>
100 1716900005.0 clone(child_stack=NULL, flags=SIGCHLD) = 101
""",
    )
    assert (r["window"]["start"], r["window"]["end"]) == (1716900000.0, 1716900005.0)


_reduce_range = drive.reduce_range


def _reduce_and_tell_priority(path: str, start: int, end: int, root: int = 0) -> Any:
    result = _reduce_range(path, start, end, root)
    result.unparsed_examples = [(0, f"nice {os.nice(0)}")]  # the worker's own priority, carried back
    return result


def test_parallel_workers_yield_the_cpu_to_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine in this process is the one serial part: the workers are the nicer ones."""
    lines = [
        f'100 17955{i:05}.0 openat(AT_FDCWD, "/tmp/f{i}", O_RDONLY) = 3</tmp/f{i}>\n100 17955{i:05}.1 close(3) = 0'
        for i in range(50)
    ]
    log = tmp_path / "trace.txt"
    log.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(drive, "BLOCK_BYTES", 300)
    monkeypatch.setattr(drive, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(drive, "reduce_range", _reduce_and_tell_priority)
    engine = Engine()
    totals = drive.LogDriver(engine, jobs=2).run(resolve([str(log)]))
    assert totals.lines == 100
    assert totals.unparsed_examples and {text for _, text in totals.unparsed_examples} == {
        f"nice {os.nice(0) + drive.WORKER_NICE}"
    }


def random_log(seed: int, lines: int = 250) -> str:
    """Forks, threads, vforks, execs and exits among opens, closes, copies, close-on-exec
    marks and close_ranges on a few fd numbers: every way a fork's copy is used."""
    rnd = random.Random(seed)
    pids, next_pid, t, out = [100], 101, 1795512173.0, []
    clones = ["SIGCHLD", "CLONE_VM|CLONE_VFORK|SIGCHLD", "CLONE_VM|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD"]
    for _ in range(lines):
        t += 0.001
        pid, fd, fd2, k = rnd.choice(pids), rnd.randint(3, 12), rnd.randint(3, 12), rnd.random()
        head = f"{pid} {t:.6f} "
        if k < 0.25:
            flags = rnd.choice(["O_RDONLY", "O_RDONLY|O_CLOEXEC"])
            out.append(f'{head}openat(AT_FDCWD, "/srv/f{fd}.txt", {flags}) = {fd}</srv/f{fd}.txt>')
        elif k < 0.40:
            out.append(f"{head}close({fd}) = 0")
        elif k < 0.50:
            out.append(f"{head}dup2({fd}, {fd2}) = {fd2}")
        elif k < 0.60:
            out.append(f"{head}fcntl({fd}, F_SETFD, {rnd.choice(['FD_CLOEXEC', '0'])}) = 0")
        elif k < 0.65:
            how = rnd.choice(["0", "CLOSE_RANGE_CLOEXEC"])
            out.append(f"{head}close_range({fd}, {rnd.choice([fd + 2, 4294967295])}, {how}) = 0")
        elif k < 0.72 and len(pids) < 8:
            out.append(f"{head}clone(child_stack=NULL, flags={rnd.choice(clones)}) = {next_pid}")
            pids.append(next_pid)
            next_pid += 1
        elif k < 0.77:
            out.append(f'{head}execve("/bin/true", ["true"], 0x7ffc /* 1 var */) = 0')
        elif k < 0.80 and pid != 100:
            out += [f"{head}exit_group(0) = ?", f"{pid} {t:.6f} +++ exited with 0 +++"]
            pids.remove(pid)
        elif k < 0.88:
            out.append(f"{head}socket(AF_INET, SOCK_STREAM, 0) = {fd}<TCP:[{rnd.randint(1, 99)}]>")
            port = rnd.choice([6379, 5432])
            out.append(
                f'{head}connect({fd}, {{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr("127.0.0.1")}}, 16) = 0'
            )
        else:
            out.append(f"{head}fcntl({fd}, F_DUPFD_CLOEXEC, 0) = {fd2}")
    return "\n".join(out) + "\n"


def test_lazy_fork_copies_are_the_tables_copied_at_the_fork(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Table.copy_for lends the parent's entries; copying them all at once must report the same."""
    logs = [random_log(seed) for seed in range(120)]
    lazy = [report_of(tmp_path, log) for log in logs]
    lend = Table.copy_for

    def copy_now(self: Table, pid: int) -> Table:
        copy = lend(self, pid)
        copy.entries()  # every lent entry copied at the fork, as a kernel does
        return copy

    def set_pid(self: Table, pid: int) -> None:
        for entry in self.fds.values():
            entry.pid = pid

    monkeypatch.setattr(Table, "copy_for", copy_now)
    monkeypatch.setattr(Table, "set_pid", set_pid)
    eager = [report_of(tmp_path, log) for log in logs]
    assert sum(len(r["open_fds"]) for r in eager) > 1000  # the logs hold plenty to compare
    for seed, (got, want) in enumerate(zip(lazy, eager, strict=True)):
        assert got == want, f"log {seed}"
