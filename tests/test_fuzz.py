"""Property tests: no input makes the reader raise, and its counts stay consistent."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fdleak.lifecycle.engine import Engine
from fdleak.sources.strace.reduce import BlockReducer

REAL_LINES = [
    '4908  1795512173.164999 openat(AT_FDCWD</tmp/st>, "/tmp", O_RDONLY|O_CLOEXEC <unfinished ...>',
    "4909  1795512173.165056 <... socketpair resumed>[6<socket:[6938]>, 7<socket:[6939]>]) = 0",
    "4909  1795512173.165170 close(7<socket:[6939]>) = 0",
    '2514  1795511347.252540 openat(AT_FDCWD</tmp/st>, "/tmp/st/leak_0.txt", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = 3</tmp/st/leak_0.txt>',
    "2514  1795511347.253443 pipe2([8<pipe:[4616]>, 9<pipe:[4616]>], O_CLOEXEC) = 0",
    "2514  1795511347.253631 fcntl(8<pipe:[4616]>, F_DUPFD_CLOEXEC, 0) = 13<pipe:[4616]>",
    "2514  1795511347.253709 dup2(9<pipe:[4616]>, 50) = 50<pipe:[4616]>",
    "2514  1795511347.259647 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD <unfinished ...>",
    "2514  1795511347.260220 <... clone resumed>, child_tidptr=0x7f2c96436e50) = 2516",
    "2516  1795511347.262525 +++ exited with 0 +++",
    "2514  1795511347.262585 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=2516} ---",
    "2514  1795511347.262635 close_range(60, 69, 0) = 0",
    '2517  1795511347.272061 execve("/usr/bin/true", ["true"], 0x7ffc0a8f6380 /* 35 vars */ <unfinished ...>',
    "2517  1795511347.272284 <... execve resumed>) = 0",
    '[pid  3845] 1795511510.625037 execve("/bin/true", ["true"], 0x7ffe83626178 /* 35 vars */ <pid changed to 3844 ...>',
    "1795511510.626144 +++ superseded by execve in pid 3845 +++",
    '2514  1795511347.257517 accept4(14<socket:[4617]>, {sa_family=AF_INET, sin_port=htons(52066), sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC) = 16<socket:[4619]>',
    '2585  09:09:20.479474 openat(AT_FDCWD</tmp/st>, "/dev/null", O_RDONLY|O_CLOEXEC) = 5</dev/null<char 1:3>> <0.000020>',
    "strace: Process 3850 attached",
    " > /usr/lib/x86_64-linux-gnu/libc.so.6(__libc_start_main+0x85) [0x27305]",
]


def run(lines: list[str]) -> tuple[int, int, int]:
    reducer = BlockReducer()
    result = reducer.reduce(lines, 1)
    engine = Engine()
    for item in result.items:
        if item is not None and type(item).__name__ == "FdEvent":
            engine.apply(item)  # type: ignore[arg-type]
    engine.add_pairs(result.pairs, 0)
    engine.finish()
    return result.lines, result.unparsed, result.events


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(max_size=120), max_size=30))
def test_arbitrary_text_never_raises(lines: list[str]) -> None:
    total, unparsed, _ = run(lines)
    assert total == len(lines)
    assert 0 <= unparsed <= total


@st.composite
def mangled(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(REAL_LINES))
    cut = draw(st.integers(0, len(line)))
    how = draw(st.sampled_from(["truncate", "insert", "delete", "swap"]))
    if how == "truncate":
        return line[:cut]
    if how == "insert":
        return line[:cut] + draw(st.text(max_size=8)) + line[cut:]
    if how == "delete":
        return line[:cut] + line[cut + draw(st.integers(1, 10)) :]
    return line[cut:] + line[:cut]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(mangled(), st.sampled_from(REAL_LINES)), max_size=40))
def test_mangled_real_lines_never_raise(lines: list[str]) -> None:
    total, unparsed, events = run(lines)
    assert total == len(lines)
    assert unparsed <= total
    assert events >= 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(REAL_LINES), max_size=40), st.integers(1, 40))
def test_any_block_split_counts_the_same(lines: list[str], cut: int) -> None:
    whole = BlockReducer().reduce(lines, 1)
    reducer = BlockReducer()
    first = reducer.reduce(lines[:cut], 1, final=False)
    second = reducer.reduce(lines[cut:], cut + 1)
    assert first.lines + second.lines == whole.lines
    assert first.unparsed + second.unparsed == whole.unparsed
    assert first.events + second.events == whole.events


def test_a_pid_with_a_non_ascii_digit_is_unparsed_not_a_crash() -> None:
    # hypothesis found it: "²".isdigit() is True, int("²4909") raises
    lines = [
        "²4909  1795512173.165056 <... socketpair resumed>[6<socket:[6938]>, 7<socket:[6939]>]) = 0",
        '²4908  1795512173.164999 openat(AT_FDCWD</tmp/st>, "/tmp", O_RDONLY|O_CLOEXEC <unfinished ...>',
        '4908  1795512173.164999 openat(AT_FDCWD</tmp/st>, "/tmp", O_RDONLY|O_CLOEXEC <unfinished ...>',
    ]
    total, unparsed, _ = run(lines)
    assert total == 3 and unparsed >= 2
