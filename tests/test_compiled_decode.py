"""The compiled decoder (_decode.c) against its oracle, decode.py: the same events, always.

Real strace lines of each fd call it reads, whole and split into "<unfinished ...>" and
"<... resumed>" pieces, then hostile ones: paths with quotes, commas, parentheses,
escapes and "<>" in them, -yy decorations, odd results. Where the C reader is not sure
it hands the call to Python, so each line must come out the same either way.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import need
from differential import assert_same, compiled_built
from fdleak.sources.strace.reduce import BlockReducer, BlockResult

# the shapes of the bench log (strace -f -ttt -y), which the C reader must take itself
COMMON = [
    "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 7<socket:[29226]>",
    'connect(7<socket:[29226]>, {sa_family=AF_INET, sin_port=htons(38669), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EINPROGRESS (Operation now in progress)',
    'accept4(3<socket:[4915]>, {sa_family=AF_INET, sin_port=htons(42224), sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC) = 8<socket:[29227]>',
    "dup2(8<socket:[29227]>, 8180) = 8180<socket:[29227]>",
    "dup3(9</t/settings_7.ini>, 10</t/worker.d>, O_CLOEXEC) = 10</t/settings_7.ini>",
    "fcntl(9</t/settings_7.ini>, F_DUPFD_CLOEXEC, 0) = 11</t/settings_7.ini>",
    "pipe2([12<pipe:[29230]>, 13<pipe:[29230]>], O_CLOEXEC) = 0",
    "socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, [14<socket:[29240]>, 15<socket:[29241]>]) = 0",
    "eventfd2(0, EFD_CLOEXEC|EFD_NONBLOCK) = 16<anon_inode:[eventfd]>",
    "epoll_create1(EPOLL_CLOEXEC) = 17<anon_inode:[eventpoll]>",
    'memfd_create("blob-29025", MFD_CLOEXEC) = 18</memfd:blob-29025>(deleted)',
    "close_range(8177, 8180, 0) = 0",
    "socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = -1 EAFNOSUPPORT (Address family not supported by protocol)",
    "dup2(3, 1000000) = -1 EBADF (Bad file descriptor)",
    'recvmsg(5<socket:[4937]>, {msg_name=0x7fff685075c0, msg_namelen=110 => 0, msg_iov=[{iov_base="fd", iov_len=16}], msg_iovlen=1, msg_control=[{cmsg_len=20, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, cmsg_data=[329</t/worker.d/settings_8.ini>]}], msg_controllen=24, msg_flags=0}, 0) = 2',
    # failures of calls that change nothing when they fail
    "ioctl(3</t/x.pyc>, TCGETS, 0x7fff68506b60) = -1 ENOTTY (Inappropriate ioctl for device)",
    'execve("/usr/local/bin/true", ["true"], 0x7fff68507cc0 /* 36 vars */) = -1 ENOENT (No such file or directory)',
    'openat(AT_FDCWD</w>, "/lib/x86-64-v4/libc.so.6", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)',
]

HOSTILE = [
    # sockets: -yy decorations, UNIX paths, v6, netlink, no decoration
    "socket(AF_UNIX, SOCK_DGRAM, 0) = 3",
    "socket(AF_INET6, SOCK_DGRAM, IPPROTO_IP) = 3<UDPv6:[1234]>",
    "socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE) = 3<NETLINK:[5555]>",
    "socket(AF_PACKET, SOCK_RAW, 768) = 3<PACKET:[]>",
    "socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 3<TCP:[127.0.0.1:40312->127.0.0.1:6379]>",
    'socket(AF_UNIX, SOCK_STREAM, 0) = 3<UNIX-STREAM:[5139,"/run/x.sock"]>',
    "socket(AF_UNIX, SOCK_STREAM, 0) = 3<UNIX-stream:[5139]>",
    'socket(AF_INET, SOCK_STREAM, 0) = 3<TCP:[a\\"b]>',
    "socket(AF_LOCAL,SOCK_SEQPACKET , 0) = 3<socket:[7]>",
    "socket(AF_INET, SOCK_STREAM, 0) = 3<TCP:[:5->:7]>",
    "accept4(3<socket:[1]>, NULL, NULL, 0) = 5<TCP:[a:1->:80]>",
    "socket(AF_INET, SOCK_STREAM, 0) = 3<TCP:[x->]>",
    "socket(AF_INET, SOCK_STREAM, 0) = 3<TCP:[a b->c]>",
    "socket(AF_INET, SOCK_STREAM, 0) = 3<TCP:[a->b c:1]>",
    "socket(42, 1, 0) = 3",
    "socket() = 3",
    # accept: UNIX and v6 peers, a -yy listener, hostile paths
    'accept4(3<UNIX-STREAM:[1,"/run/s.sock"]>, {sa_family=AF_UNIX, sun_path="/tmp/a,b)c = 4<x>"}, [110], SOCK_CLOEXEC) = 4<UNIX-STREAM:[2->1]>',
    'accept(3<socket:[1]>, {sa_family=AF_UNIX, sun_path=@"abstract\\"q"}, [20]) = 4',
    'accept(3<socket:[1]>, {sa_family=AF_UNIX, sun_path=@"abstract"}, [20]) = 4',
    "accept(3<socket:[1]>, {sa_family=AF_UNIX}, [2]) = 4",
    'accept4(3<TCP:[127.0.0.1:8080]>, {sa_family=AF_INET, sin_port=htons(4000), sin_addr=inet_addr("127.0.0.1")}, [16], 0) = 5<socket:[9]>',
    'accept4(3<TCPv6:[[::1]:8080]>, {sa_family=AF_INET6, sin6_port=htons(4000), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, [28], 0) = 5',
    "accept(3, NULL, NULL) = 5",
    "accept4(3<socket:[1]>, 0x7ffd, [16], SOCK_CLOEXEC) = 5<TCP:[127.0.0.1:8080->127.0.0.1:4000]>",
    'accept4(3<socket:[1]>, {sa_family=AF_INET, sin_port=htons(4000), sin_addr=inet_addr("127.0.0.1")}, [16], 0) = 5<socket:[9]> <0.000012>',
    # copies: decorations holding ") = ", "<", ">", commas, escapes
    "dup2(3</tmp/a) = 4>, 9) = 9</tmp/a) = 4>",
    "dup2(3</tmp/a>b>, 9) = 9</tmp/a>b>",
    "dup2(3</tmp/x\\303\\251>, 5) = 5</tmp/x\\303\\251>",
    "dup2(3</dev/null<char 1:3>>, 5) = 5</dev/null<char 1:3>>",
    "dup2(3</tmp/a,b>, 5) = 5</tmp/a,b>",
    "dup(3) = 4",
    "dup(3</dev/pts/0>) = 4",
    "dup2(4, 4) = 4",
    "dup2(4</x>, 5) = 5<>",
    "dup(3) = 0x10",
    "dup3(3</a>, 4</b>, 0) = 4</a>",
    "dup2(3<pipe:[1]>, 99999999999) = 99999999999<pipe:[1]>",
    "fcntl(3</t,a>, F_DUPFD_CLOEXEC, 0) = 7</t,a>",
    "fcntl(3</p>, F_DUPFD, 10) = 10</p>",
    "fcntl(3, F_SETFD, FD_CLOEXEC) = 0",
    "fcntl(3<socket:[1]>, F_SETFD, 0) = 0",
    "fcntl(3, F_SETFD) = 0",
    "fcntl64(3</dev/shm/x>, F_DUPFD_CLOEXEC, 0) = 4</dev/shm/x>",
    "fcntl( 3 , F_DUPFD_CLOEXEC , 0) = 4",
    # two ends
    "pipe([3, 4]) = 0",
    "pipe2([3<pipe:[1]>, 4<pipe:[1]>], 0) = 0",
    "pipe2([3<>, 4<pipe:[1]>], O_NONBLOCK|O_CLOEXEC) = 0",
    "socketpair(AF_UNIX, SOCK_STREAM, 0, [3<UNIX-STREAM:[1->2]>, 4<UNIX-STREAM:[2->1]>]) = 0",
    'socketpair(AF_UNIX, SOCK_DGRAM, 0, [3<UNIX:[1,"/a<b>"]>, 4<UNIX:[2]>]) = 0',
    "socketpair(AF_INET, SOCK_STREAM, 0, [3, 4]) = 0",
    "pipe2(0x7ffc, O_CLOEXEC) = 0",
    "pipe2([3<pipe:[1]>, 4<pipe:[1]>], O_CLOEXEC) = -1 EMFILE (Too many open files)",
    # anonymous inodes
    "eventfd2(0, 0) = 3",
    "eventfd(0) = 3<anon_inode:[eventfd]>",
    "epoll_create(1) = 3",
    "timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC|TFD_NONBLOCK) = 3<anon_inode:[timerfd]>",
    "inotify_init1(IN_NONBLOCK|IN_CLOEXEC) = 3<anon_inode:inotify>",
    "pidfd_open(1234, 0) = 3<anon_inode:[pidfd]>",
    "io_uring_setup(8, 0x7ffc) = 3",
    "signalfd4(-1, [CHLD], 8, SFD_CLOEXEC) = 3<anon_inode:[signalfd]>",
    'memfd_create("a\\"b,c)", MFD_CLOEXEC) = 3</memfd:a"b,c) (deleted)>',
    'memfd_create("x", 0) = 3</memfd:x\\n>(deleted)',
    'memfd_create("lbl", MFD_CLOEXEC) = 3',
    # socket ends
    'connect(3<socket:[1]>, {sa_family=AF_UNIX, sun_path="/run/a \\"b\\", c).sock"}, 110) = 0',
    'connect(3<socket:[1]>, {sa_family=AF_UNIX, sun_path="/run/a(b), c.sock"}, 110) = 0',
    'connect(3, {sa_family=AF_INET6, sin6_port=htons(53), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
    'connect(3, {sa_family=AF_INET, sin_port=htons(53), inet_pton(AF_INET, "10.0.0.1", &sin_addr)}, 16) = 0',
    'connect(3<socket:[1]>, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 ECONNREFUSED (Connection refused)',
    "connect(3<socket:[1]>, {sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, 12) = 0",
    'bind(3<socket:[1]>, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("0.0.0.0")}, 16) = 0',
    'bind(3<socket:[1]>, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("0.0.0.0")}, 16) = -1 EADDRINUSE (Address in use)',
    'bind(3, {sa_family=AF_INET, sin_port=htons(x), sin_addr=inet_addr("1")}, 16) = 0',
    # close_range spellings
    "close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) = 0",
    "close_range(3, 4294967295, 0) = 0",
    "close_range(0x3, 10, CLOSE_RANGE_UNSHARE) = 0",
    "close_range(08, 9, 0) = 0",
    "close_range(3, 9, CLOSE_RANGE_UNSHARE|CLOSE_RANGE_CLOEXEC) = 0",
    "close_range(3) = 0",
    "close_range(3<x>, 9, 0) = 0",
    # fds passed over UNIX sockets
    "recvmsg(5<socket:[1]>, {msg_name=NULL, msg_control=[{cmsg_len=24, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, cmsg_data=[7<pipe:[9]>, 8</a,b [c]>]}], msg_flags=MSG_CMSG_CLOEXEC}, MSG_CMSG_CLOEXEC) = 2",
    "recvmsg(5, {msg_control=[{cmsg_type=SCM_RIGHTS, cmsg_data=[7, 8]}, {cmsg_type=SCM_RIGHTS, cmsg_data=[9</x>]}]}, 0) = 2",
    'recvmsg(5, {msg_control=[{cmsg_type=SCM_RIGHTS, cmsg_data=[7</a"b>]}]}, 0) = 2',
    "recvmsg(5, {msg_control=[{cmsg_type=SCM_RIGHTS, cmsg_data=[7</a\\nb>]}]}, 0) = 2",
    "recvmsg(5, {msg_control=[{cmsg_type=SCM_RIGHTS, cmsg_data=[]}]}, 0) = 2",
    "recvmsg(5, {msg_control=[{cmsg_type=SCM_RIGHTS, cmsg_data=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}]}, 0) = 2",
    "recvmsg(5, {msg_control=[{cmsg_type=SCM_RIGHTS, cmsg_data=[7, ...]}]}, 0) = 2",
    "recvmsg(5, {msg_control=[{cmsg_type=SCM_RIGHTS, cmsg_data=[7</dev/null<char 1:3>>]}]}, 0) = 2",
    "recvmsg(5, {msg_control=[{cmsg_type=SCM_RIGHTS, cmsg_data=[7<x>y, 8]}]}, 0) = 2",
    'recvmsg(5, {msg_iov=[{iov_base="cmsg_type=SCM_RIGHTS, cmsg_data=[3]", iov_len=9}]}, 0) = 9',
    "recvmsg(5, {msg_control=[{cmsg_type=SCM_RIGHTS, cmsg_data=[7]}]}, 0) = -1 EMFILE (Too many open files)",
    "recvmmsg(5, [{msg_hdr={msg_control=[{cmsg_type=SCM_RIGHTS, cmsg_data=[7</z>]}]}, msg_len=1}], 2, 0, NULL) = 1",
    # failures: nothing, unless Python counts an fd error or the call is special
    "ioctl(3, FIOCLEX) = -1 EBADF (Bad file descriptor)",
    'execve("/x", ["x"], 0x7ffc /* 1 var */) = -1 EMFILE (Too many open files)',
    "clone(child_stack=NULL, flags=SIGCHLD) = -1 EAGAIN (Resource temporarily unavailable)",
    "close(3) = -1 EINTR (Interrupted system call)",
    "exit_group(0) = ?",
    "read(3, 0x7ffc, 10) = -1 EAGAIN (Resource temporarily unavailable)",
    "unshare(CLONE_FILES) = -1 EPERM (Operation not permitted)",
    # results the reader must leave to Python
    "socket(AF_INET, SOCK_STREAM, 0) = ?",
    "socket(AF_INET, SOCK_STREAM, 0)  = 3",
    "socket(AF_INET, SOCK_STREAM, 0) = 3 (x) = 4",
    "socket(AF_INET, SOCK_STREAM, 0) = 3<socket:[1]> trailing",
    "socket(AF_INET, SOCK_STREAM, 0) = -1 EMFILE (Too many open files)",
    "dup(3) = -1 ENFILE (Too many open files in system)",
]

PREFIXES = ["4242  1795512173.164999 ", "4243  09:09:20.479474 ", "4244 ", "1795512173.165 ", ""]
OTHER = '4245  1795512173.170000 read(5</t/x>, "", 1) = 0'


def pieces(call: str) -> list[str]:
    """The call split by another thread's line, as strace -f prints it, at a few places."""
    name = call[: call.index("(")]
    cuts = {len(name) + 1, call.find(", ") + 2 if ", " in call else len(name) + 1, call.rfind(") = ")}
    out = []
    for cut in sorted(cut for cut in cuts if 0 < cut <= len(call)):
        out += [f"{call[:cut]} <unfinished ...>", OTHER, f"<... {name} resumed>{call[cut:]}"]
    return out


@pytest.fixture(autouse=True)
def _built() -> None:
    need(compiled_built(), "fdleak's C extension is not built (pip install -e . with gcc and Python headers)")


def shapes(calls: list[str], prefix: str) -> list[str]:
    lines = []
    for call in calls:
        lines.append(prefix + call)
        lines += [line if line is OTHER else prefix + line for line in pieces(call)]
    return lines


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("calls", [COMMON, HOSTILE], ids=["common", "hostile"])
def test_same_events_as_python(prefix: str, calls: list[str]) -> None:
    lines = shapes(calls, prefix)
    assert_same(lines)
    assert_same([line + "\n" for line in lines], blocks=(7, 20_000))


# opens: the line loop keeps them undecoded; C decodes those that outlive their block
# and signs those folded with their close
OPENS = [
    'openat(AT_FDCWD</w>, "/t/d", O_RDONLY|O_DIRECTORY|O_CLOEXEC) = 3</t/d>',
    'openat(AT_FDCWD</w>, "/t/\\"q\\", O_CLOEXEC", O_RDONLY) = 3</t/"q", O_CLOEXEC>',
    'openat(AT_FDCWD</w>, "/t/a) = 4<b>", O_RDONLY) = 3</t/a) = 4<b>>',
    'open("/dev/null", O_RDWR) = 3</dev/null>',
    'open("/dev/shm/x", O_RDWR|O_DIRECTORY) = 3</dev/shm/x>',
    'openat(AT_FDCWD, "/x", O_RDONLY) = 3',
    'openat(AT_FDCWD, "/x", O_RDONLY) = 3<>',
    'openat(AT_FDCWD, "x", O_RDONLY|O_DIRECTORY) = 3<socket:[5]>',
    'openat(AT_FDCWD, "/proc/self/fd/5", O_RDONLY) = 3<pipe:[9]>',
    'openat(AT_FDCWD, "/x", O_RDONLY) = 3</x\\303\\251>',
    'openat(AT_FDCWD, "/x", O_RDONLY) = 3</dev/null<char 1:3>>',
    'creat("/tmp/c", 0644) = 3</tmp/c>',
    'openat2(AT_FDCWD, "/x", {flags=O_RDONLY|O_CLOEXEC, resolve=0}, 24) = 3</x>',
    'openat(AT_FDCWD, "/memfd:x", O_RDONLY) = 3</memfd:x (deleted)>',
]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_opens_settled_and_signed_as_python(prefix: str) -> None:
    lines = []
    for call in OPENS:
        for shape in ([call], pieces(call)):
            lines += [line if line is OTHER else prefix + line for line in shape]
            lines += [f"{prefix}close(3) = 0", *(line if line is OTHER else prefix + line for line in shape)]
    assert_same(lines)


class _PythonRefuses(BlockReducer):
    """A reducer whose Python paths fail: what reaches them was not taken in C."""

    def _line(self, line: str, seq: int, result: BlockResult, pending: dict[int, int]) -> None:
        raise AssertionError(f"left to Python: {line!r}")

    def complete(self, text: str, *args: object, **kwargs: object) -> None:
        raise AssertionError(f"decoded in Python: {text!r}")


@pytest.mark.parametrize("prefix", ["4242  1795512173.164999 ", "1795512173.165 "])
def test_common_calls_never_reach_python(prefix: str) -> None:
    lines = [line for line in shapes(COMMON, prefix) if line is not OTHER]
    _PythonRefuses(compiled=True).reduce(lines)


@st.composite
def hostile_mangled(draw: st.DrawFn) -> list[str]:
    call = draw(st.sampled_from(COMMON + HOSTILE))
    lines = [call, *pieces(call)]
    line = draw(st.sampled_from(lines))
    cut = draw(st.integers(0, len(line)))
    how = draw(st.sampled_from(["keep", "truncate", "insert", "delete"]))
    if how == "truncate":
        line = line[:cut]
    elif how == "insert":
        glyph = draw(
            st.sampled_from([" ", ")", " = ", "<", ">", ",", '"', "\\", "[", "]", "-", "9", "é", "\r"])
        )
        line = line[:cut] + glyph + line[cut:]
    elif how == "delete":
        line = line[:cut] + line[cut + 1 :]
    prefix = draw(st.sampled_from(PREFIXES))
    # the mangled line, then the pieces of the same call around it
    return [line if line is OTHER else prefix + line for line in [line, *lines[1:4]]]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile_mangled(), max_size=12))
def test_mangled_calls(groups: list[list[str]]) -> None:
    assert_same([line for group in groups for line in group], blocks=(40, 3, 1))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**12), st.integers(0, 10**22), st.integers(0, 24))
def test_times_read_as_float_reads_them(whole: int, fraction: int, width: int) -> None:
    # the C loop reads -ttt times itself when they are exact (fewer than 2**53 as a
    # whole number), and must give float()'s answer to the last bit
    digits = str(fraction).zfill(width)[:width] if width else ""
    ts = f"{whole}.{digits}" if digits else str(whole)
    lines = [f"4242  {ts} close(7) = 0", f"4242  {ts} dup2(3, 7) = 7", f"4242  {ts} <... close resumed>) = 0"]
    assert_same(lines, blocks=(3,))


def closes_after(call: str) -> list[str]:
    """The call, then closes of every fd it made: the block folds them into pairs."""
    made = re.findall(r"(?:\[|, )(\d+)(?=[<,\]])", call) if "[" in call else []
    result = re.search(r"\) = (\d+)", call)
    fds = [*made, *([result.group(1)] if result else [])]
    return [call, *(f"close({fd}) = 0" for fd in fds)]


@pytest.mark.parametrize("prefix", PREFIXES[:2])
def test_pairs_signed_as_python(prefix: str) -> None:
    # in-block pairs are signed in C (model/_signature.c)
    lines = [prefix + line for call in COMMON + HOSTILE for line in closes_after(call)]
    assert_same(lines)


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters="<>\\"), max_size=30
    ),
    st.sampled_from(
        [
            ("socket(AF_INET, SOCK_STREAM, 0)", "TCP:["),
            ("accept4(3<socket:[1]>, NULL, NULL, 0)", "TCPv6:["),
            ("socket(AF_UNIX, SOCK_STREAM, 0)", "socket:["),
            ("eventfd2(0, 0)", "anon_inode:["),
        ]
    ),
)
def test_socket_signatures_as_python(body: str, made: tuple[str, str]) -> None:
    call, deco = made
    lines = [
        f"4242  1795512173.1 {call} = 5<{deco}{body}]>",
        "4242  1795512173.2 close(5) = 0",
        f"4242  1795512173.3 socketpair(AF_UNIX, SOCK_STREAM, 0, [6<UNIX:[{body}]>, 7<pipe:[{body}]>]) = 0",
        "4242  1795512173.4 close(6) = 0",
        "4242  1795512173.5 close(7) = 0",
    ]
    assert_same(lines, blocks=(5,))


HEADS = ["TCP", "tcp", "TCPv6", "UNIX", "unix", "UNIT", "UNI", "AF_INET", "AF", "NETLINKX", "XDP", "", "é"]


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(HEADS),
    st.sampled_from(["", "-", ":", "-STREAM:", ":["]),
    st.text(alphabet="TCPUNIXtcp6_-:[]0 é", max_size=8),
)
def test_link_kinds_as_python(head: str, sep: str, tail: str) -> None:
    """What a decoration says an fd is (model.kinds.kind_of_link): TCP:[..], UNIX-STREAM:[..], ..."""
    link = head + sep + tail
    lines = [
        f"4242  1795512173.1 dup(9<{link}>) = 6<{link}>",
        f"4242  1795512173.2 fcntl(9<{link}>, F_DUPFD_CLOEXEC, 0) = 7<{link}>",
    ]
    assert_same(lines, blocks=(2,))
