"""The same scenario in every shape of strace log a user may hand in: same answer."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from fdleak.pipeline.logs import analyze_logs

# pid 100 opens two files and keeps one; child 101 keeps a pipe end.
EXPECTED = {(100, 4, "/etc/b"), (101, 5, "pipe:[77]")}

PID_TTT = """\
100 1716900000.000001 openat(AT_FDCWD, "/etc/a", O_RDONLY) = 3</etc/a>
100 1716900000.000002 openat(AT_FDCWD, "/etc/b", O_RDONLY) = 4</etc/b>
100 1716900000.000003 close(3</etc/a>) = 0
100 1716900000.000004 clone(child_stack=NULL, flags=SIGCHLD) = 101
101 1716900000.000005 pipe2([5<pipe:[77]>, 6<pipe:[77]>], 0) = 0
101 1716900000.000006 close(6<pipe:[77]>) = 0
101 1716900000.000007 close(4</etc/b>) = 0
"""


def shape(text: str, prefix: str = "{pid} {ts} ") -> str:
    """Re-print PID_TTT with another prefix; {pid} and {ts} are filled per line."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        pid, _, body = line.split(" ", 2)
        out.append(prefix.format(pid=pid, ts=f"09:00:0{n}.00000{n}", n=n) + body)
    return "\n".join(out) + "\n"


def open_set(tmp_path: Path, *texts: str, names: tuple[str, ...] = ()) -> set[tuple[int, int, str]]:
    paths = []
    for i, text in enumerate(texts):
        path = tmp_path / (names[i] if names else f"log{i}.txt")
        path.write_text(text)
        paths.append(str(path))
    report = analyze_logs(paths).to_json()
    return {(e["pid"], e["fd"], e["target"]) for e in report["open_fds"]}


def test_pid_and_epoch_time(tmp_path: Path) -> None:
    assert open_set(tmp_path, PID_TTT) == EXPECTED


@pytest.mark.parametrize(
    "prefix",
    [
        "{pid}  ",  # -f, no time
        "{pid}  {ts} ",  # -f -tt
        "[pid  {pid}] {ts} ",  # -f to stderr
        "{pid}  {ts} ",
    ],
)
def test_prefix_shapes(tmp_path: Path, prefix: str) -> None:
    assert open_set(tmp_path, shape(PID_TTT, prefix)) == EXPECTED


def test_relative_time_and_durations(tmp_path: Path) -> None:
    text = "".join(
        f"{line.split(' ', 2)[0]}       0.000{n}00 {line.split(' ', 2)[2]} <0.000017>\n"
        for n, line in enumerate(PID_TTT.splitlines(), 1)
    )
    assert open_set(tmp_path, text) == EXPECTED


def test_split_files_by_pid(tmp_path: Path) -> None:
    lines = PID_TTT.splitlines()
    parent = "".join(line.split(" ", 1)[1] + "\n" for line in lines if line.startswith("100 "))
    child = "".join(line.split(" ", 1)[1] + "\n" for line in lines if line.startswith("101 "))
    assert open_set(tmp_path, parent, child, names=("trace.100", "trace.101")) == EXPECTED


def test_split_files_by_glob(tmp_path: Path) -> None:
    lines = PID_TTT.splitlines()
    (tmp_path / "trace.100").write_text(
        "".join(line.split(" ", 1)[1] + "\n" for line in lines if line.startswith("100 "))
    )
    (tmp_path / "trace.101").write_text(
        "".join(line.split(" ", 1)[1] + "\n" for line in lines if line.startswith("101 "))
    )
    report = analyze_logs([str(tmp_path / "trace.*")]).to_json()
    assert {(e["pid"], e["fd"], e["target"]) for e in report["open_fds"]} == EXPECTED


def test_without_f_all_lines_are_one_process(tmp_path: Path) -> None:
    text = (
        'openat(AT_FDCWD, "/etc/a", O_RDONLY) = 3\nopenat(AT_FDCWD, "/etc/b", O_RDONLY) = 4\nclose(3) = 0\n'
    )
    assert open_set(tmp_path, text) == {(0, 4, "/etc/b")}


def test_unfinished_pieces_interleaved_across_pids(tmp_path: Path) -> None:
    text = """\
100 1.0 openat(AT_FDCWD, "/etc/a", O_RDONLY <unfinished ...>
200 1.1 openat(AT_FDCWD, "/etc/b", O_RDONLY) = 3</etc/b>
100 1.2 <... openat resumed>) = 3</etc/a>
200 1.3 close(3</etc/b> <unfinished ...>
100 1.4 openat(AT_FDCWD, "/etc/c", O_RDONLY <unfinished ...>
200 1.5 <... close resumed>) = 0
100 1.6 <... openat resumed> ) = 4</etc/c>
"""
    assert open_set(tmp_path, text) == {(100, 3, "/etc/a"), (100, 4, "/etc/c")}


def test_noise_lines_are_understood_and_garbage_counted(tmp_path: Path) -> None:
    text = """\
100 1.0 openat(AT_FDCWD, "/etc/a", O_RDONLY) = 3</etc/a>
strace: Process 100 attached
100 1.1 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=7, si_uid=0, si_status=0} ---
 > /usr/lib/x86_64-linux-gnu/libc.so.6(open64+0x1a) [0xf4e2a]
100 1.2 fstat(3</etc/a>, {st_mode=S_IFREG|0644, st_size=12, ...}) = 0
##### this is not strace #####
100 1.3 read(3</etc/a>, "abc"..., 4096) = 12
"""
    log = tmp_path / "noise.txt"
    log.write_text(text)
    report = analyze_logs([str(log)]).to_json()
    assert report["window"]["unparsed_lines"] == 1
    assert {(e["pid"], e["fd"]) for e in report["open_fds"]} == {(100, 3)}


def test_attach_notice_in_the_middle_of_a_line(tmp_path: Path) -> None:
    text = (
        "100 1.0 clone3({flags=CLONE_VM|CLONE_FILES|CLONE_THREAD, exit_signal=0}strace: Process 101 attached\n"
        " => {parent_tid=[101]}, 88) = 101\n"
        '101 1.1 openat(AT_FDCWD, "/etc/t", O_RDONLY) = 3</etc/t>\n'
    )
    assert open_set(tmp_path, text) == {(100, 3, "/etc/t")}


@pytest.mark.parametrize(
    ("printed", "target"),
    [
        (r'"/tmp/we\"ird, (name)\n.txt"', 'we"ird, (name)\n.txt'),
        (r'"/tmp/caf\303\251.txt"', "café.txt"),
        (r'"/tmp/very/long/na"...', "na..."),
    ],
)
def test_quoted_paths_without_decorations(tmp_path: Path, printed: str, target: str) -> None:
    text = f"100 1.0 openat(AT_FDCWD, {printed}, O_RDONLY) = 3\n"
    (got,) = open_set(tmp_path, text)
    assert got[2].endswith(target)


def test_yy_decorations_and_deleted_files(tmp_path: Path) -> None:
    text = """\
100 1.0 openat(AT_FDCWD</tmp>, "/dev/null", O_RDONLY|O_CLOEXEC) = 5</dev/null<char 1:3>>
100 1.1 openat(AT_FDCWD</tmp>, "/tmp/x", O_RDWR|O_CREAT, 0600) = 6</tmp/x (deleted)>
100 1.2 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 7<TCP:[5138]>
100 1.3 connect(7<TCP:[5138]>, {sa_family=AF_INET, sin_port=htons(6379), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
"""
    log = tmp_path / "yy.txt"
    log.write_text(text)
    entries = {e["fd"]: e for e in analyze_logs([str(log)]).to_json()["open_fds"]}
    assert (entries[5]["kind"], entries[5]["target"]) == ("device", "/dev/null")
    assert entries[6]["target"] == "/tmp/x (deleted)"
    assert (entries[7]["kind"], entries[7]["target"]) == ("socket", "TCP ->127.0.0.1:6379")


def test_crlf_and_gzip(tmp_path: Path) -> None:
    packed = tmp_path / "t.gz"
    packed.write_bytes(gzip.compress(PID_TTT.replace("\n", "\r\n").encode()))
    report = analyze_logs([str(packed)]).to_json()
    assert {(e["pid"], e["fd"], e["target"]) for e in report["open_fds"]} == EXPECTED


def test_escaped_decoration(tmp_path: Path) -> None:
    text = '100 1.0 openat(AT_FDCWD</tmp>, "/tmp/we\\"ird\\n.txt", O_WRONLY|O_CREAT, 0666) = 3</tmp/we\\"ird\\n.txt>\n'
    assert open_set(tmp_path, text) == {(100, 3, '/tmp/we"ird\n.txt')}


def test_pid_without_time_has_no_window_times(tmp_path: Path) -> None:
    log = tmp_path / "f.txt"
    log.write_text(shape(PID_TTT, "{pid}  "))
    window = analyze_logs([str(log)]).to_json()["window"]
    assert (window["start"], window["end"]) == (None, None)
