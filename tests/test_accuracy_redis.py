"""Accuracy against the kernel on a real server: redis-server under loopback load.

strace attaches to a running redis (as a user would: strace -f -p), the test opens
and closes client connections, then reads /proc/PID/fd as ground truth just before
strace detaches. The fds fdleak says were created in the window and are still open
must be exactly the ones /proc shows that were not there before the attach.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import analyze_json, end_child, need_tool, proc_fds


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def command(conn: socket.socket, *words: str) -> bytes:
    payload = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    conn.sendall(payload.encode())
    return conn.recv(65536)


def wait_for_clients(port: int, expected: int, timeout: float = 20) -> None:
    """Synchronise on redis's own count of connected clients (ours included)."""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port)) as admin:
        while time.monotonic() < deadline:
            info = command(admin, "INFO", "clients").decode()
            count = int(info.split("connected_clients:")[1].split()[0])
            if count == expected + 1:
                return
        raise AssertionError(f"redis never settled at {expected} clients")


def settled_new_fds(pid: int, before: set[int], expected: int, timeout: float = 20) -> dict[int, str]:
    """The server's fds not in `before`, once it has closed the admin connection too.

    The admin's close reaches redis a moment after wait_for_clients returns; read too
    early, /proc still holds its fd, which the trace then rightly sees closed.
    """
    deadline = time.monotonic() + timeout
    while True:
        new = {fd: link for fd, link in proc_fds(pid).items() if fd not in before}
        if len(new) <= expected or time.monotonic() > deadline:
            return new
        time.sleep(0.01)


@pytest.mark.strace
@pytest.mark.redis
def test_redis_open_fds_match_proc(tmp_path: Path) -> None:
    strace = need_tool("strace")
    redis = need_tool("redis-server")
    port = free_port()
    server = subprocess.Popen(
        [
            redis,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    tracer = None
    kept: list[socket.socket] = []
    try:
        assert server.stdout is not None
        for line in server.stdout:  # its own "Ready to accept connections" line
            if "Ready to accept connections" in line:
                break
        before = set(proc_fds(server.pid))
        log = tmp_path / "redis.strace"
        tracer = subprocess.Popen(
            [strace, "-f", "-ttt", "-y", "-s", "256", "-o", str(log), "-p", str(server.pid)],
            stderr=subprocess.PIPE,
            text=True,
        )
        assert tracer.stderr is not None
        assert "attached" in tracer.stderr.readline()
        for round_ in range(30):  # churn: connect, talk, close
            with socket.create_connection(("127.0.0.1", port)) as conn:
                assert command(conn, "SET", f"k{round_}", "v") == b"+OK\r\n"
        for _ in range(12):  # kept open until after the ground truth is read
            conn = socket.create_connection(("127.0.0.1", port))
            assert command(conn, "PING") == b"+PONG\r\n"
            kept.append(conn)
        wait_for_clients(port, len(kept))
        truth = settled_new_fds(server.pid, before, len(kept))
        tracer.send_signal(2)  # an attached strace detaches on SIGINT
        tracer.wait(timeout=20)
        tracer_pid = Path(f"/proc/{server.pid}/status").read_text().split("TracerPid:")[1].split()[0]
        assert tracer_pid == "0"
    finally:
        for conn in kept:
            conn.close()
        for proc in (tracer, server):
            if proc is not None:
                end_child(proc, signal.SIGTERM)
    _, report, _ = analyze_json(tmp_path, log)
    seen = {e["fd"]: e for e in report["open_fds"] if e["pid"] == server.pid}
    assert len(truth) >= 12  # the kept clients, at least
    assert set(seen) == set(truth)
    for fd, link in truth.items():
        if link.startswith("socket:"):
            assert seen[fd]["kind"] == "socket"
            # the listener predates the attach and -y names it only by inode: the
            # client's end is what the log tells
            assert "->127.0.0.1:" in seen[fd]["target"]
    # twelve clients still connected and thirty that came and went: no leak in redis
    assert not [leak for leak in report["leaks"] if leak["confidence"] != "low"]
