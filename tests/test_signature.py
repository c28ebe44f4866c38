"""Signatures: what varies from run to run becomes *, what identifies the code path stays."""

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import need
from fdleak.model import signature
from fdleak.model.kinds import FdKind
from fdleak.model.signature import signature_of

Compute = Callable[[FdKind, str, str], str]


def compiled_signature() -> Compute:
    """The C signature_of (_signature.c), set up as model/signature.py sets it up."""
    try:
        from fdleak.model import _signature
    except ImportError:
        need(False, "fdleak's C extension is not built (pip install -e . with gcc and Python headers)")
        raise
    _signature.setup(FdKind.PIPE, FdKind.SOCKET, signature._signature)
    return _signature.signature_of


# the pieces each pass looks for, and the characters around them that decide a match
CHARACTERS = "/-_.:*~[] \t\néaAfFgGzZ0179"
WORDS = ["tmp", "3f2a9c", "deadbeef", "abcdef", "x9k2ab3_", "tkez3seh", "->", "pipe:", "socket:", "TCP "]
MORE_WORDS = ["anon_inode:", "127.0.0.1:", "123e4567-e89b-12d3-a456-426614174000"]
PIECES = [*CHARACTERS, *WORDS, *MORE_WORDS]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/tmp/leaky_task_file_12.txt", "/tmp/leaky_task_file_*.txt"),
        ("/tmp/report_3.csv", "/tmp/report_*.csv"),
        ("/tmp/tmpab3_x9k2/x.log", "/tmp/tmp*/x.log"),
        ("/tmp/fdleak-bench-tkez3seh/leaky_task_file_27500.txt", "/tmp/fdleak-bench-*/leaky_task_file_*.txt"),
        ("/srv/app-settings/config_prod.yaml", "/srv/app-settings/config_prod.yaml"),
        ("/var/cache/3f2a9c1d9e/obj", "/var/cache/*/obj"),
        ("/tmp/a-123e4567-e89b-12d3-a456-426614174000.json", "/tmp/a-*.json"),
        ("/proc/4242/stat", "/proc/*/stat"),
        ("/etc/hostname", "/etc/hostname"),
        ("/srv/app/config.yaml", "/srv/app/config.yaml"),
        ("/var/log/backup.log", "/var/log/backup.log"),
    ],
)
def test_file_signatures(target: str, expected: str) -> None:
    assert signature_of(FdKind.FILE, target) == expected
    assert signature.python_signature_of(FdKind.FILE, target) == expected
    assert compiled_signature()(FdKind.FILE, target, "") == expected


@settings(max_examples=3000, deadline=None)
@given(
    st.sampled_from(list(FdKind)),
    st.lists(st.sampled_from(PIECES), max_size=24).map("".join),
    st.sampled_from(["openat", "accept", "accept4", "connect", ""]),
)
def test_compiled_signatures_are_the_regex_passes(kind: FdKind, target: str, syscall: str) -> None:
    """_signature.c against model/signature.py's regexes on targets built to trip each pass."""
    assert compiled_signature()(kind, target, syscall) == signature._signature(kind, target, syscall)


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(list(FdKind)), st.text(max_size=40))
def test_compiled_signatures_of_any_text(kind: FdKind, target: str) -> None:
    """Any characters at all: the C code computes or hands the target to Python."""
    assert compiled_signature()(kind, target, "connect") == signature._signature(kind, target, "connect")


def test_compiled_signature_of_a_long_path_is_pythons() -> None:
    target = "/srv/" + "a1" * 2000 + "/deadbeef42/x.log"
    assert compiled_signature()(FdKind.FILE, target, "") == signature._signature(FdKind.FILE, target, "")


def test_client_socket_keeps_peer_and_drops_ephemeral_port() -> None:
    sig = signature_of(FdKind.SOCKET, "TCP 127.0.0.1:40312->127.0.0.1:6379", "connect")
    assert sig == "TCP 127.0.0.1:*->127.0.0.1:6379"


def test_accepted_socket_keeps_local_port_and_drops_client_port() -> None:
    sig = signature_of(FdKind.SOCKET, "TCP 127.0.0.1:8080->127.0.0.1:54321", "accept4")
    assert sig == "TCP 127.0.0.1:8080->127.0.0.1:*"


def test_listening_socket_and_inodes() -> None:
    assert signature_of(FdKind.SOCKET, "TCP 127.0.0.1:8080", "socket") == "TCP 127.0.0.1:8080"
    assert signature_of(FdKind.SOCKET, "socket:[4617]") == "socket:[*]"
    assert signature_of(FdKind.PIPE, "pipe:[1234]") == "pipe:[*]"


def test_same_code_path_same_signature() -> None:
    a = signature_of(FdKind.FILE, "/tmp/out/job_17_part_3.json")
    b = signature_of(FdKind.FILE, "/tmp/out/job_2088_part_11.json")
    assert a == b == "/tmp/out/job_*_part_*.json"


@pytest.mark.parametrize("kind", list(FdKind))
@pytest.mark.parametrize(
    "target",
    [
        "/tmp/leaky_task_file_12.txt",
        "/tmp/tmpab3_x9k2/x.log",
        "pipe:[4242]",
        "socket:[77]",
        "TCP 127.0.0.1:40312->127.0.0.1:6379",
        "UDP 0.0.0.0:5353",
        "anon_inode:[eventfd]",
    ],
)
def test_remembered_signatures_are_the_computed_ones(kind: FdKind, target: str) -> None:
    """The memo gives what the regex passes give, and only a socket's depends on the call."""
    calls = ("openat", "accept4", "connect", "")
    computed = {call: signature._signature(kind, target, call) for call in calls}
    for _ in range(2):  # the first call fills the memo, the second reads it
        assert {call: signature.python_signature_of(kind, target, call) for call in calls} == computed
    if kind is not FdKind.SOCKET:
        assert len(set(computed.values())) == 1


def test_the_memo_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signature, "_MEMO", {})
    monkeypatch.setattr(signature, "_MEMO_SIZE", 8)
    for n in range(50):
        assert signature.python_signature_of(FdKind.FILE, f"/srv/f{n}") == "/srv/f*"
        assert len(signature._MEMO) <= 8


def test_compiled_signatures_remembered_are_the_computed_ones() -> None:
    """Far more targets than the C memo's 4096 slots, twice over: collisions never mix them up."""
    compute = compiled_signature()
    targets = [f"/srv/job_{n}/tmp{n:08x}/part-{n % 7}.csv" for n in range(20_000)]
    targets += [f"/srv/deadbeef{n}/x.log" for n in range(5_000)]
    for _ in range(2):
        for target in targets:
            assert compute(FdKind.FILE, target, "") == signature._signature(FdKind.FILE, target, "")
