"""fdleak snapshot and diff against the kernel: real processes, checked with lsof and /proc."""

from __future__ import annotations

import json
import os
import subprocess
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from conftest import holder, need_tool, proc_fds, run_fdleak
from fdleak.model.kinds import FdKind
from fdleak.model.signature import signature_of

# lsof's TYPE column -> the report's kinds
_LSOF_KINDS = {
    "REG": {"file", "memfd"},
    "DIR": {"directory"},
    "CHR": {"device"},
    "FIFO": {"pipe", "fifo"},
    "IPv4": {"socket"},
    "IPv6": {"socket"},
    "unix": {"socket"},
    "sock": {"socket"},
    "a_inode": {"eventfd", "epoll", "timerfd", "signalfd", "inotify", "pidfd", "other"},
}


def lsof(pid: int) -> dict[int, dict[str, str]]:
    """lsof -p, parsed from its field output: fd -> {type, name, access, tcp state, inode}."""
    out = subprocess.run(
        [need_tool("lsof"), "-n", "-P", "-w", "-p", str(pid), "-F", "fatinT"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    found: dict[int, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in out.splitlines():
        tag, value = line[:1], line[1:]
        if tag == "f":
            current = found.setdefault(int(value), {}) if value.isdigit() else None
        elif current is not None and tag in "atin":
            current[tag] = value
        elif current is not None and tag == "T" and value.startswith("ST="):
            current["state"] = value[3:]
    return found


def snapshot_json(tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / f"snap-{len(list(tmp_path.glob('snap-*')))}.json"
    proc = run_fdleak("snapshot", *args, "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    document = json.loads(out.read_text())
    import jsonschema

    schema = json.loads((files("fdleak") / "schema" / "snapshot-1.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(document)
    return document


def by_fd(document: dict[str, Any], pid: int) -> dict[int, dict[str, Any]]:
    (process,) = [p for p in document["processes"] if p["pid"] == pid]
    return {f["fd"]: f for f in process["fds"]}


def test_snapshot_agrees_with_lsof_and_proc(tmp_path: Path) -> None:
    with holder(tmp_path, "--files", "20", "--sockets", "--special") as held:
        document = snapshot_json(tmp_path, "-p", str(held.pid))
        seen = by_fd(document, held.pid)
        truth = proc_fds(held.pid)
        listed = lsof(held.pid)
    assert set(seen) == set(truth) == set(listed)
    for fd, entry in seen.items():
        kind = listed[fd]["t"]
        assert entry["kind"] in _LSOF_KINDS.get(kind, {"other"}), (fd, entry, listed[fd])
        if kind in ("REG", "DIR", "CHR"):
            assert entry["target"] == listed[fd]["n"] == truth[fd]
        if kind in ("IPv4", "IPv6"):  # "TCP 127.0.0.1:40312->127.0.0.1:6379" vs lsof's name
            assert entry["target"].split(" ", 1)[1] == listed[fd]["n"], (entry, listed[fd])
            assert entry["state"] == listed[fd].get("state"), (entry, listed[fd])
        if kind == "FIFO":
            assert entry["target"] == f"pipe:[{listed[fd]['i']}]"
        access = {"r": "r", "w": "w", "u": "rw"}.get(listed[fd]["a"].strip())
        if access is not None:
            assert entry["mode"] == access, (fd, entry, listed[fd])
    # what the holder says it holds, kind by kind
    for fd, what in held.fds.items():
        assert seen[fd]["kind"] == what.split()[0], (fd, what, seen[fd])
        if what == "socket close_wait":
            assert seen[fd]["state"] == "CLOSE_WAIT"
        if what.startswith("socket unix "):
            assert seen[fd]["target"] == f"UNIX {what.split(' ', 2)[2]}"
        if what == "pipe":  # the forked child holds both ends too
            assert held.child in seen[fd]["peers"]


def test_snapshot_text_shows_summary_and_every_fd(tmp_path: Path) -> None:
    with holder(tmp_path, "--files", "30", "--sockets") as held:
        proc = run_fdleak("snapshot", "-p", str(held.pid))
    assert proc.returncode == 0, proc.stderr
    summary, _, listing = proc.stdout.partition("TARGET")
    assert f"{signature_of(FdKind.FILE, str(tmp_path))}/held_*.txt" in summary  # 30 files, one group
    assert "CLOSE_WAIT 2" in summary
    for fd in held.fds:
        assert any(line.split()[:1] == [str(fd)] for line in listing.splitlines()), fd


def test_snapshot_of_many_fds_is_complete(tmp_path: Path) -> None:
    # 15,000: this machine's hard fd limit is 20,000 and root lacks CAP_SYS_RESOURCE to raise it
    with holder(tmp_path, "--mixed", "15000") as held:
        document = snapshot_json(tmp_path, "-p", str(held.pid), "--summary")
        truth = proc_fds(held.pid)
    seen = by_fd(document, held.pid)
    assert set(seen) == set(truth)
    kinds = {
        kind: sum(1 for e in seen.values() if e["kind"] == kind) for kind in ("pipe", "socket", "eventfd")
    }
    # the holder makes files, pipes (2 fds), socketpairs (2 fds) and eventfds in turn
    assert kinds["pipe"] >= 5000 and kinds["socket"] >= 5000 and kinds["eventfd"] >= 2500


def test_snapshot_survives_fds_closing_mid_read(tmp_path: Path) -> None:
    with holder(tmp_path, "--churn", "400") as held:
        for _ in range(15):
            document = snapshot_json(tmp_path, "-p", str(held.pid), "--summary")
            fds = by_fd(document, held.pid)
            assert {0, 1, 2} <= set(fds)
            assert all(e["target"] for e in fds.values())


def test_tree_snapshot_includes_children(tmp_path: Path) -> None:
    with holder(tmp_path, "--special") as held:
        document = snapshot_json(tmp_path, "-p", str(held.pid), "--tree")
    pids = {p["pid"] for p in document["processes"]}
    assert pids == {held.pid, held.child}


def test_diff_shows_growth_biggest_first(tmp_path: Path) -> None:
    with holder(tmp_path, "--leak-every", "0.02", "--files", "3") as held:
        before = tmp_path / "a.json"
        after = tmp_path / "b.json"
        assert run_fdleak("snapshot", "-p", str(held.pid), "--json", str(before)).returncode == 0
        truth_before = len(proc_fds(held.pid))
        subprocess.run(["sleep", "1"], check=True)
        assert run_fdleak("snapshot", "-p", str(held.pid), "--json", str(after)).returncode == 0
    proc = run_fdleak("diff", str(before), str(after), "--json", str(tmp_path / "d.json"))
    assert proc.returncode == 0, proc.stderr
    diff = json.loads((tmp_path / "d.json").read_text())
    top = diff["changes"][0]
    assert top["signature"] == f"{signature_of(FdKind.FILE, str(tmp_path))}/leaky_*.txt"
    assert top["growth"] == len(top["appeared"]) >= 20
    assert top["after"] - top["before"] == top["growth"]
    assert truth_before > 3
    assert "leaky_*.txt" in proc.stdout.splitlines()[2] or "leaky_*.txt" in proc.stdout


def test_diff_after_waits_and_compares(tmp_path: Path) -> None:
    with holder(tmp_path, "--leak-every", "0.05") as held:
        proc = run_fdleak("snapshot", "-p", str(held.pid), "--diff-after", "1s", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    diff = json.loads(proc.stdout)
    assert diff["schema"] == "fdleak.diff/1"
    assert diff["changes"][0]["signature"].endswith("leaky_*.txt")
    assert diff["changes"][0]["growth"] >= 10


def test_diff_treats_a_recycled_pid_as_another_process(tmp_path: Path) -> None:
    with holder(tmp_path, "--files", "2") as held:
        document = snapshot_json(tmp_path, "-p", str(held.pid))
    older = json.loads(json.dumps(document))
    older["processes"][0]["start_time"] -= 3600  # the same pid, an hour older: another process
    (tmp_path / "old.json").write_text(json.dumps(older))
    (tmp_path / "new.json").write_text(json.dumps(document))
    proc = run_fdleak("diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"), "--json", "-")
    diff = json.loads(proc.stdout)
    assert diff["started"] == diff["ended"] == [held.pid]
    assert all(c["growth"] == 0 and c["appeared"] and c["disappeared"] for c in diff["changes"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("snapshot", "-p", "999999999"),
            "fdleak: no process with pid 999999999; check the pid with: ps -p PID",
        ),
        (("diff", "/nonexistent/a.json", "/nonexistent/b.json"), "fdleak: /nonexistent/a.json: no such file"),
        (("snapshot", "-p", "1", "--diff-after", "soon"), "expected a duration such as 30s, 5m or 1h"),
        (("ps", "--celery", "-p", "x"), "expected a process id, got 'x'"),
        (("ps", "(unclosed"), "fdleak: bad pattern '(unclosed'"),
    ],
)
def test_bad_input_is_one_line_and_status_2(args: tuple[str, ...], message: str) -> None:
    proc = run_fdleak(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_diff_rejects_files_that_are_not_snapshots(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"schema": "fdleak.report/1"}))
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x00\x01not json")
    proc = run_fdleak("diff", str(report), str(garbage))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"fdleak: {report} is not an fdleak snapshot; write one with: fdleak snapshot -p PID --json {report}"
    )
    proc = run_fdleak("diff", str(garbage), str(report))
    assert proc.returncode == 2 and proc.stderr.startswith(f"fdleak: {garbage} is not JSON")


def test_snapshot_json_to_unwritable_place_is_clear(tmp_path: Path) -> None:
    proc = run_fdleak("snapshot", "-p", str(os.getpid()), "--json", "/nonexistent/dir/x.json")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "fdleak: cannot write /nonexistent/dir/x.json: No such file or directory; choose a writable directory"
    )


def test_hostile_names_are_shown_inert(tmp_path: Path) -> None:
    name = tmp_path / "[bold red]x\x1b[2J\nfake line.txt"
    fd = os.open(name, os.O_CREAT | os.O_RDONLY, 0o600)
    try:
        proc = run_fdleak("snapshot", "-p", str(os.getpid()))
    finally:
        os.close(fd)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout
    assert "[bold red]x\\x1b[2J\\x0afake line.txt" in proc.stdout  # markup literal, controls escaped
    assert not any(line.startswith("fake line") for line in proc.stdout.splitlines())


def test_a_name_that_is_not_utf8_is_shown_as_its_bytes(tmp_path: Path) -> None:
    import sys

    name = os.fsencode(tmp_path) + b"/bad\xff.txt"
    keeper = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys; f = open({name!r}, 'w'); print('ready', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert keeper.stdout is not None and keeper.stdout.readline() == "ready\n"
        out, page = tmp_path / "s.json", tmp_path / "s.html"
        result = run_fdleak("snapshot", "-p", str(keeper.pid), "--json", str(out), "--html", str(page))
        assert result.returncode == 0, result.stderr
        shown = f"{tmp_path}/bad\\xff.txt"
        assert any(fd["target"] == shown for fd in json.loads(out.read_text())["processes"][0]["fds"])
        assert shown in page.read_text(encoding="utf-8")
        assert shown in run_fdleak("snapshot", "-p", str(keeper.pid)).stdout
    finally:
        assert keeper.stdin is not None and keeper.stdout is not None
        keeper.stdin.close()
        keeper.wait()
        keeper.stdout.close()
