"""The bpftrace program: fd syscalls and fork/exec/exit of a process tree, as compact lines.

A handful of probes, not one per syscall: bpftrace detaches each at its exit, which took
6 s to a minute here for 88 per-syscall tracepoints, and under a second for one
raw_syscalls probe at entry, one at exit and four sched ones. The raw_syscalls probes run
on every system call of every process: they test the syscall's number first, then the
targets' pids and ``@traced[pid]`` (pid is the thread-group id, so every thread of a
traced process passes), which forks extend.

One line per call: ``NSECS TID TGID NAME FIELDS...`` (a string, the exec's file, always
last). A close is printed at its entry (without BTF, at its exit), with its entry's time:
the number is free from some moment inside the call, and another thread of the process
may take it and return before the close does; what was freed at entry sorts first. A
close of a number not open prints nothing (see _close). Every other call is printed
at its exit, with its result, and its arguments read where the kernel saved them at its
entry (the task's pt_regs, through the kernel's types: BTF; without, its entry keeps them
in a map). User memory behind a pointer is read at exit: the kernel has just read it, so
it is resident. Socket addresses go out as raw numbers that records.py formats. A string
(an opened path, a memfd's name, an AF_UNIX address) goes out as a 64-bit hash of its
text, the text itself in a ``name`` line the first time that hash is met. Syscall
numbers are x86_64's.

Printing is most of what tracing costs the traced program (bpftrace formats each record
and writes it out, and wakes its reader with an interrupt in the traced thread), and most
fds are closed soon after they are made. So each thread's latest create (an open,
socket, pipe, socketpair, eventfd or epoll) is held in a map keyed by the thread rather
than printed. Closing every fd it made before the thread does anything else to the table
counts one pair in @pairs, keyed by what tells the pair's group apart (call, flags or
family and type, path hash), and prints nothing. Anything else the thread does first
prints the held create as a ``held`` line: another fd call (a close of another fd, at its
entry; a create, at its entry before it makes its own), a clone or an exec, its exit.
When bpftrace exits it prints its maps: the pairs, and the creates still held. A
held line comes later than the create happened, but with the create's own time, and
before anything else its thread did to the table.

Other threads share the table: a call of theirs that names a held fd (@hf maps it to its
holder) prints the create first, and a fork, close_range or unshare prints every
thread's, found by walking the process's threads (see _others). The reader orders lines
by time and keeps the first of the same held lines. Not seen: another process sharing the
table (clone with CLONE_FILES alone) closing a held fd. Not exact: a fork while another
thread of the process is inside a create or a close. The kernel copies the table inside
the fork at a moment no probe sees, so the child may hold an fd more or less than the
order of the lines says (the test workloads fork while their other threads wait).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# bpftrace 0.17 keeps strings on the 512-byte BPF stack: 200 bytes is its maximum
STRLEN = 200

_HEAD = '"%lu %d %d '
_PREFIX_ARGS = "nsecs, tid, pid"
# the groups of calls, the branches of the exit probe
_OPEN, _MEMFD, _ADDRESS, _NUMBERS = 1, 2, 3, 4
_PAIRED = 5  # the calls whose creates are held, and close (at entry), which pairs with them
_TABLE = 6  # dups, fcntl, ioctl, recvmsg, close_range, unshare: the rest of the numbers
_BOUND = 7  # connect and bind: sockaddrs as _ADDRESS's accepts
# in the order the exit probe tests for them, the likeliest first. One exit probe for them
# all: each raw_syscalls probe costs every system call of every process (and a perf sample
# on one CPU where its perf event cannot be disabled: perf_events.py). bpftrace attaches
# the enter probe first, so a create seen at its exit never misses its close.
_GROUPS = (_PAIRED, _OPEN, _TABLE, _NUMBERS, _MEMFD, _ADDRESS, _BOUND)


@dataclass(frozen=True, slots=True)
class Call:
    """One syscall: its number, its group (the exit probe's branch), and what it prints."""

    name: str
    nr: int
    group: int
    fmt: str  # printf format after "NAME " (without the newline)
    values: tuple[str, ...]  # printf values: $r is the result, $a0..$a3 the arguments
    when: str = "$r >= 0"  # condition on the result for a line to be printed
    # condition on its arguments ($e0.. at entry) for the call to change a fd table at all
    enter_if: str = ""
    hold: Hold | None = None  # a create the kernel may hold back (see Hold)
    # the existing fds it names, of its arguments at entry ($e0, $e1): another thread's
    # create held back must be printed before them
    names: tuple[str, ...] = ()
    # the address of a string it names (a path, a memfd's name, an AF_UNIX address), which
    # goes out as its hash $h (see _string_hash)
    text: str = ""

    def fields(self) -> tuple[str, ...]:
        """What the call's line prints, field by field: its values, and the literal
        numbers its format holds (a held create keeps its numbers the same way)."""
        values = iter(self.values)
        return tuple(next(values) if token.startswith("%") else token for token in self.fmt.split())


@dataclass(frozen=True, slots=True)
class Hold:
    """How a create is held back in the kernel until its process does anything else: its
    numbers are the fields its own line prints (``Call.fields``), of which the first one or
    two are the fds it made; the key of @pairs tells its pairs apart (never an fd number or
    an inode, which every create has its own)."""

    ends: int = 1
    key: tuple[str, str] = ("0", "0")  # of the held numbers, $v0 to $v3


# an AF_UNIX sockaddr's path (see _family), past the leading NUL of an abstract one
_UNIX_PATH = "$fam == 1 ? $a1 + 2 + $s1 : 0"
_PIPE_ENDS = ("*(int32*)uptr($a0)", "*(int32*)uptr($a0 + 4)")

CALLS: tuple[Call, ...] = (
    # a path goes out as its hash ($h, see _string_hash), its text once per distinct path
    Call("open", 2, _OPEN, "%d %d %lu", ("$r", "$a1", "$h"), hold=Hold(key=("$v1", "$v2")), text="$a0"),
    Call(
        "openat",
        257,
        _OPEN,
        "%d %d %lu",
        ("$r", "$a2", "$h"),
        hold=Hold(key=("$v1", "$v2")),
        text="$a1",
    ),
    Call("creat", 85, _OPEN, "%d 0 %lu", ("$r", "$h"), hold=Hold(key=("0", "$v2")), text="$a0"),
    Call("openat2", 437, _OPEN, "%d %lu %lu", ("$r", "*(uint64*)uptr($a2)", "$h"), text="$a1"),
    Call("memfd_create", 319, _MEMFD, "%d %d %lu", ("$r", "$a1", "$h"), text="$a0"),
    Call("accept", 43, _ADDRESS, "%d %d 0", ("$r", "$a0"), names=("$e0",), text=_UNIX_PATH),
    Call("accept4", 288, _ADDRESS, "%d %d %d", ("$r", "$a0", "$a3"), names=("$e0",), text=_UNIX_PATH),
    # a non-blocking connect says EINPROGRESS (-115) but has its peer already
    Call(
        "connect", 42, _BOUND, "%d", ("$a0",), when="$r == 0 || $r == -115", names=("$e0",), text=_UNIX_PATH
    ),
    Call("bind", 49, _BOUND, "%d", ("$a0",), when="$r == 0", names=("$e0",), text=_UNIX_PATH),
    Call("open_by_handle_at", 304, _NUMBERS, "%d %d", ("$r", "$a2")),
    Call(
        "socket",
        41,
        _PAIRED,
        "%d %d %d",
        ("$r", "$a0", "$a1"),
        hold=Hold(key=("$v1", "$v2")),
    ),
    Call(
        "socketpair",
        53,
        _PAIRED,
        "%d %d %d %d",
        ("*(int32*)uptr($a3)", "*(int32*)uptr($a3 + 4)", "$a0", "$a1"),
        when="$r == 0",
        hold=Hold(ends=2, key=("$v2", "$v3")),
    ),
    Call(
        "pipe",
        22,
        _PAIRED,
        "%d %d 0 %lu",
        (*_PIPE_ENDS, "$ino"),
        when="$r == 0",
        hold=Hold(ends=2, key=("$v3 != 0", "0")),
    ),
    Call(
        "pipe2",
        293,
        _PAIRED,
        "%d %d %d %lu",
        (*_PIPE_ENDS, "$a1", "$ino"),
        when="$r == 0",
        hold=Hold(ends=2, key=("$v3 != 0", "0")),
    ),
    Call("dup", 32, _TABLE, "%d %d 0", ("$a0", "$r"), names=("$e0",)),
    Call("dup2", 33, _TABLE, "%d %d 0", ("$a0", "$r"), names=("$e0", "$e1")),
    Call("dup3", 292, _TABLE, "%d %d %d", ("$a0", "$r", "$a2"), names=("$e0", "$e1")),
    # F_DUPFD (0), F_DUPFD_CLOEXEC (1030), F_SETFD (2): the others change no fd table
    Call(
        "fcntl",
        72,
        _TABLE,
        "%d %d %d %d",
        ("$a0", "$a1", "$a2", "$r"),
        enter_if="$e1 == 0 || $e1 == 1030 || $e1 == 2",
        names=("$e0",),
    ),
    # FIONCLEX (0x5450), FIOCLEX (0x5451): os.set_inheritable() uses them
    Call(
        "ioctl",
        16,
        _TABLE,
        "%d %d",
        ("$a0", "$a1"),
        when="$r == 0",
        enter_if="$e1 == 0x5450 || $e1 == 0x5451",
        names=("$e0",),
    ),
    Call("eventfd", 284, _PAIRED, "%d 0", ("$r",), hold=Hold()),
    Call("eventfd2", 290, _PAIRED, "%d %d", ("$r", "$a1"), hold=Hold()),
    Call("epoll_create", 213, _PAIRED, "%d 0", ("$r",), hold=Hold()),
    Call("epoll_create1", 291, _PAIRED, "%d %d", ("$r", "$a0"), hold=Hold()),
    Call("timerfd_create", 283, _NUMBERS, "%d %d", ("$r", "$a1")),
    # an existing signalfd (ufd != -1) only has its mask changed
    Call("signalfd", 282, _NUMBERS, "%d 0", ("$r",), when="$r >= 0 && (int32)$a0 == -1"),
    Call("signalfd4", 289, _NUMBERS, "%d %d", ("$r", "$a3"), when="$r >= 0 && (int32)$a0 == -1"),
    Call("inotify_init", 253, _NUMBERS, "%d 0", ("$r",)),
    Call("inotify_init1", 294, _NUMBERS, "%d %d", ("$r", "$a0")),
    Call("fanotify_init", 300, _NUMBERS, "%d %d", ("$r", "$a0")),
    Call("pidfd_open", 434, _NUMBERS, "%d 0", ("$r",)),
    Call("pidfd_getfd", 438, _NUMBERS, "%d 0", ("$r",)),
    Call("userfaultfd", 323, _NUMBERS, "%d %d", ("$r", "$a0")),
    # (its flags are the fifth argument, not kept: PERF_FLAG_FD_CLOEXEC is not seen)
    Call("perf_event_open", 298, _NUMBERS, "%d 0", ("$r",)),
    Call("io_uring_setup", 425, _NUMBERS, "%d 0", ("$r",)),
    # fds passed over a UNIX socket (SCM_RIGHTS): the first control message's first 4 fds.
    # struct msghdr: msg_control at +32, msg_controllen at +40 (set by the kernel to what
    # it wrote); struct cmsghdr: cmsg_len +0, cmsg_level +8, cmsg_type +12, data +16.
    Call(
        "recvmsg",
        47,
        _TABLE,
        "%d %d %d %d %d %d",
        (
            "$n",
            "$a2",
            "*(int32*)uptr($c + 16)",
            "*(int32*)uptr($c + 20)",
            "*(int32*)uptr($c + 24)",
            "*(int32*)uptr($c + 28)",
        ),
        when="$n > 0",
    ),
    # with BTF, printed (or paired) at its entry: see _close
    Call("close", 3, _PAIRED, "%d", ("$a0",), when="$r != -9", names=("$e0",)),
    Call("close_range", 436, _TABLE, "%d %lu %d", ("$a0", "$a1", "$a2"), when="$r == 0"),
    # unshare(CLONE_FILES): a private copy of the table
    Call("unshare", 272, _TABLE, "%d", ("$a0",), when="$r == 0"),
)

# the clone flags at entry, read by sched_process_fork (which runs in the parent, inside
# the call, before the child can run)
_CLONES = (
    (56, "$e0"),  # clone
    (435, "*(uint64*)uptr($e0)"),  # clone3: struct clone_args starts with its flags
    (57, "0x11"),  # fork: SIGCHLD
    (58, "0x4111"),  # vfork: CLONE_VM | CLONE_VFORK | SIGCHLD
)
_CLONE_THREAD = 0x10000
_CLOSE, _CLOSE_RANGE = 3, 436
# a thread's held create, one tuple (one map update holds it), keyed by the thread: @hv
# (when, its process, its numbers, its call, its state: which of its fds are still open
# as bits, _SHARED, and the thread's id from bit 8), there while one is held; and @pct,
# when its first end was closed (a pipe whose other end is still open). A close marked at
# its entry pairs only with the create held then, which its time tells apart.
HELD_SLOTS = ("hv", "pct")
_HELD_CALL, _HELD_STATE = 6, 7  # @hv's fields: the call, the state
# held while the process had other threads: they may name its fds, which @hf[pid, fd]
# maps to the holder, or fork (see _others)
_SHARED = 4
# creates are held while the process has at most this many threads: the walk of its
# threads that finds every holder goes no further
HOLDING_THREADS = 32
# the held maps' types, given where bpftrace 0.17 first meets them (it types a map by the
# first assignment it reads, and the probe reading @hv comes before the one filling it);
# never run: no call's number is negative here
_HELD_TYPES = (
    "  if ($id < 0) {",
    "    @hv[tid] = (" + ", ".join(("(uint64)0",) * 8) + ");",
    "    @pct[tid] = (uint64)0; @hf[pid, (uint64)0] = (uint64)0; @ep[pid] = (uint64)0;",
    "    @pairs[pid, tid, (uint64)0, (uint64)0, (uint64)0] = (uint64)0;",
    "  }",
)
# calls after which another thread's held create could be wrong in the reader's tables
# whatever fd they name: clone, clone3, fork, vfork (a child copies the table; not a new
# thread, which shares it), close_range, unshare (a thread's own copy). (An execve ends
# the other threads first, which print what they held as they exit.)
_NAME_ALL = {
    56: f"!($e0 & {_CLONE_THREAD})",
    435: f"!(*(uint64*)uptr($e0) & {_CLONE_THREAD})",
    57: "1",
    58: "1",
    436: "1",
    272: "1",
}
# besides the fd calls, the ones a held create must be printed before: clone, clone3,
# fork, vfork (the child copies the table), execve, execveat (close-on-exec)
_FLUSHED_BY = (56, 435, 57, 58, 59, 322)
# every call the enter probe looks at, and the exit probe (with BTF, all but close)
_FD_CALLS = (*(call.nr for call in CALLS), *_FLUSHED_BY)
_EXIT_CALLS = tuple(call.nr for call in CALLS if call.nr != _CLOSE)
# where the kernel saved a task's registers at its system call (task_pt_regs): struct
# pt_regs (168 bytes) at the top of its kernel stack: 16 KiB, 32 KiB with KASAN, less 16
# bytes with FRED (Linux 6.9+). Tried in turn: the first whose orig_ax is the call's
# number and whose ax its result (two words no stale stack is likely to hold)
_REGS_AT = tuple(top - pad - 168 for top in (16384, 32768) for pad in (0, 16))
_AX, _ORIG_AX = 80, 120
_ARGS_AT = (112, 104, 96, 56)  # pt_regs' di, si, dx, r10: x86_64's first four arguments


def build(pids: list[int], group_dead: bool, btf: bool) -> str:
    """The program's text for the trees of ``pids``."""
    # the targets are in the predicate, not put in the map by a BEGIN probe: BEGIN is a
    # uprobe on bpftrace's own binary, and it did not always fire here
    # the targets first, then the map of the pids their forks added
    traced = "(" + "".join(f"pid == {pid} || " for pid in pids) + "@traced[pid])"
    out: list[str] = []
    # creates are held only with BTF (a process's thread count is read from the kernel's types)
    held = [*_HELD_TYPES, *_enter_held(), *_others()] if btf else []
    out.append(
        _probe(
            "tracepoint:raw_syscalls:sys_enter",
            _FD_CALLS,
            [f"  if {traced} {{", *_enter(), *held, *_close(btf), *_keep(btf), "  }"],
        )
    )
    exits = [call.nr for call in _exit_calls(btf)]
    out.append(_probe("tracepoint:raw_syscalls:sys_exit", exits, _exit(btf, traced)))
    out.append(
        f"tracepoint:sched:sched_process_fork /{traced}/ {{\n"
        f'  printf({_HEAD}fork %d %lu\\n", {_PREFIX_ARGS}, args->child_pid, @cf[tid]);\n'
        f"  if (!(@cf[tid] & {_CLONE_THREAD})) {{ @traced[args->child_pid] = 1; }}\n"
        "}"
    )
    out.append(
        f"tracepoint:sched:sched_process_exec /{traced}/ {{\n"
        f'  printf({_HEAD}exec %d %s\\n", {_PREFIX_ARGS}, args->old_pid, str(args->filename));\n'
        "}"
    )
    # exit_code: (status << 8) for exit(status), the signal's number when killed
    code = "curtask->exit_code" if btf else "-1"
    dead = "args->group_dead" if group_dead else "0"
    # its fds close with it: what it held is printed first (a probe of its own, as in
    # _enter_held: the reader orders lines by time, and the held one is older)
    if btf:
        out.append(f"tracepoint:sched:sched_process_exit {{\n  $hv = @hv[tid];\n{_flush('  ')}\n}}")
    out.append(
        f"tracepoint:sched:sched_process_exit /{traced}/ {{\n"
        f'  printf({_HEAD}exit %d %d\\n", {_PREFIX_ARGS}, {code}, {dead});\n'
        # (a target that ends stays in the predicate: its pid could be reused within the
        # window by another process, traced then too)
        + (
            "  if (args->group_dead) {\n"
            "    delete(@traced[pid]);\n" + ("    delete(@ep[pid]);\n" if btf else "") + "  }\n"
            if group_dead
            else ""
        )
        # a task killed inside a call never reaches its exit probe: drop what it kept
        + "".join(f"  delete(@{slot}[tid]);\n" for slot in ("ct" if btf else "ar", "cf"))
        + "}"
    )
    return "\n".join(out) + "\n"


def _enter() -> list[str]:
    """At entry, a clone keeps its flags for the fork's probe; $e0, $e1: the call's first
    two arguments."""
    lines = ["  $e0 = args->args[0]; $e1 = args->args[1];"]
    for nr, flags in _CLONES:
        lines.append(f"  if ($id == {nr}) {{ @cf[tid] = (uint64)({flags}); }}")
    return lines


def _keep(btf: bool) -> list[str]:
    """What a call's exit needs of its entry. With BTF, only a close_range's time (the exit
    reads the arguments the kernel saved, see _exit): it frees numbers, timed at its entry
    as a close is. Without, the arguments and time of every call the exit probe prints (a
    call the exit finds nothing of is not printed), in one tuple: map updates are most of
    what a probe costs."""
    if btf:
        return [f"  if ($id == {_CLOSE_RANGE}) {{ @ct[tid] = nsecs; }}"]
    skipped = "".join(
        f" if ($id == {call.nr} && !({call.enter_if})) {{ $kept = 0; }}" for call in CALLS if call.enter_if
    )
    return [
        *_member((call.nr for call in _exit_calls(btf)), "$kept"),
        f" {skipped}",
        "  if ($kept) { @ar[tid] = ($id, $e0, $e1, args->args[2], args->args[3], nsecs); }",
    ]


def _close(btf: bool) -> list[str]:
    """With BTF a close is done at its entry, not at its exit, which does not run for it:
    its own thread's held create, the last of whose fds it closes, counts a pair (see
    _pair); a close of any other fd open in the process's table is printed; one of a
    number not open (EBADF: a loop closing every number, say) is not. (Not waiting for its
    result: another thread could make that number between this test and the close. Only
    a program that closes numbers it does not hold does that.) Without BTF, the exit
    prints it, with its result, and its entry's time."""
    if not btf:
        return []
    line = f'printf({_HEAD}close %d\\n", {_PREFIX_ARGS}, $e0);'
    table = "(uint64)curtask->files->fdt"
    is_open = (
        "$e0 < (uint64)((struct fdtable *)$fdt)->max_fds"
        " && *(uint64*)kptr((uint64)((struct fdtable *)$fdt)->fd + $e0 * 8) != 0"
    )
    return [
        f"  if ($id == {_CLOSE}) {{",
        f"    if ($k != 0) {{\n{_pair(line)}\n    }}",
        f"    else {{ $fdt = {table}; if ({is_open}) {{ {line} }} }}",
        "  }",
    ]


def _enter_held() -> list[str]:
    """The thread's own held create ($own: to be printed first): a close of a fd it made
    ($k: which of them) pairs with it (see _close); any other fd call, clone or exec
    prints it."""
    # every call the probe runs for does, but an ioctl or fcntl that changes no fd table
    # (such as isatty()'s)
    not_kept = "".join(
        f" if ($id == {call.nr} && !({call.enter_if})) {{ $own = 0; }}" for call in CALLS if call.enter_if
    )
    return [
        "  $k = 0; $own = 0;",
        "  $hv = @hv[tid];",
        f"  if ($hv.{_HELD_CALL} != 0) {{",
        f"    if ($id == {_CLOSE}) {{",
        f"      $m = $hv.{_HELD_STATE};",
        "      if (($m & 1) && $e0 == $hv.2) { $k = 1; }",
        "      if (($m & 2) && $e0 == $hv.3) { $k = 2; }",
        "    }",
        "    if ($k != 0) {",
        # (before the number is free: another thread may be given it and hold it)
        f"      if ($hv.{_HELD_STATE} & {_SHARED}) {{ delete(@hf[pid, $e0]); }}",
        f"    }} else {{ $own = 1;{not_kept} }}",
        "  }",
    ]


def _others() -> list[str]:
    """In a process with other threads, the creates they hold that this call names ($h1,
    $h2, from @hf), or all of them ($all: a fork, close_range, unshare), are printed
    before it, and the thread's own ($own); walking the process's threads finds them all.

    The holder alone pairs or forgets its create; another thread printing it first raises
    the process's epoch (@ep), and a holder whose create is older than the epoch prints
    it again rather than count a pair (the reader keeps the first of the same held
    lines). Each side writes, then reads what the other wrote (the holder deletes its
    create; the printer raises the epoch, then reads the create): of two writes, one is
    always seen. A map update takes a lock, which on x86 orders the writes before it
    before the reads after it; so the epoch is written twice, and the holder's count of
    its pair comes between its delete and its read. Only a create older than the epoch is
    printed by another thread. Left: two threads raising the epoch within nanoseconds of
    each other may leave the older time, and a create made between the two, printed by
    the second, could then be counted as a pair as well."""
    named = "".join(
        f"      if ($id == {call.nr}"
        + (f" && ({call.enter_if})" if call.enter_if else "")
        + (" && $k == 0" if call.nr == _CLOSE else "")  # (not of its own held fd)
        + f") {{ $x1 = {call.names[0]};"
        + (f" $x2 = {call.names[1]};" if len(call.names) > 1 else "")
        + " }\n"
        for call in CALLS
        if call.names
    )
    every = " || ".join(f"($id == {nr} && {test})" for nr, test in _NAME_ALL.items())
    # (a create names no fd: it reads neither the time nor the thread count here)
    return [
        "  $now = (uint64)0; $all = 0; $h1 = (uint64)0; $h2 = (uint64)0; $nt = 0;",
        "  $x1 = (uint64)0x80000000; $x2 = $x1;",
        named.rstrip("\n").replace("      if", "  if"),
        f"  if ({every}) {{ $all = 1; }}",
        "  if ($all || $x1 < 0x80000000) { $nt = curtask->signal->nr_threads; }",
        "  if ($nt > 1) {",
        "    if (!$all) {",
        "      if ($x1 < 0x80000000) { $h1 = @hf[pid, $x1]; if ($h1 == tid) { $h1 = 0; } }",
        "      if ($x2 < 0x80000000) { $h2 = @hf[pid, $x2]; if ($h2 == tid || $h2 == $h1) { $h2 = 0; } }",
        "    }",
        "    if ($all || $h1 != 0 || $h2 != 0) { $now = nsecs; @ep[pid] = $now; @ep[pid] = $now; }",
        "  } else { $all = 0; }",
        "  if ($own || $all || $h1 != 0 || $h2 != 0) {",
        "    $i = 0; $node = (uint64)0; $off = (uint64)0;",
        # the first task of the thread list is the group's leader: the offset of the
        # list's node in a task_struct, without offsetof (bpftrace 0.17 has none)
        "    if ($all) {",
        "      $node = (uint64)curtask->signal->thread_head.next;",
        "      $off = $node - (uint64)curtask->group_leader;",
        "    }",
        f"    while ($i < {HOLDING_THREADS + 3}) {{",
        "      $h = (uint64)0;",
        "      if ($i == 0) { if ($own) { $h = tid; } }",
        "      else if ($i == 1) { $h = $h1; }",
        "      else if ($i == 2) { $h = $h2; }",
        "      else {",
        "        if (!$all || $i - 3 >= $nt) { break; }",
        "        $h = (uint64)((struct task_struct *)($node - $off))->pid;",
        "        $node = (uint64)((struct list_head *)$node)->next;",
        "        if ($h == tid) { $h = 0; }",
        "      }",
        "      if ($h != 0) {",
        "        $o = @hv[$h];",
        f"        $ok = $o.{_HELD_CALL} != 0;",
        # another thread's, made before this call, read whole: read again, the same (a
        # deleted entry of a preallocated map may be reused meanwhile)
        "        if ($h != tid) {",
        "          $p = @hv[$h];",
        f"          $ok = $ok && $o.1 == pid && ($o.{_HELD_STATE} >> 8) == $h && $o.0 < $now && $p.0 == $o.0",
        f"            && $p.{_HELD_STATE} == $o.{_HELD_STATE} && $p.2 == $o.2 && $p.3 == $o.3;",
        "        }",
        "        if ($ok) {",
        f"          {_print_held('$o', '$h')}",
        "          if ($h == tid) {",
        "            delete(@hv[tid]);",
        f"            {_unindex('$o')}",
        "          }",
        "        }",
        "      }",
        "      $i++;",
        "    }",
        "  }",
    ]


def _print_held(held: str, holder: str) -> str:
    """The ``held`` line of the create in tuple ``held``, held by thread ``holder``: its
    time, call and numbers, which of its fds are still open and when the other was closed."""
    return (
        f'printf({_HEAD}held %d %lu %lu %lu %lu %d %lu\\n", {held}.0, {holder}, pid, {held}.{_HELD_CALL}, '
        f"{held}.2, {held}.3, {held}.4, {held}.5, {held}.{_HELD_STATE} & 3, @pct[{holder}]);"
    )


def _unindex(held: str) -> str:
    """Forget the open fds of the thread's create in tuple ``held`` in @hf, if it was held
    shared: those still its own (another thread may have closed one, and a third made and
    holds a fd of the same number since)."""
    state = f"{held}.{_HELD_STATE}"
    ends = (
        f"if (({state} & {bit}) && @hf[pid, {held}.{at}] == tid) {{ delete(@hf[pid, {held}.{at}]); }}"
        for bit, at in ((1, 2), (2, 3))
    )
    return f"if ({state} & {_SHARED}) {{ {' '.join(ends)} }}"


def _exit(btf: bool, traced: str) -> list[str]:
    """A call's exit (with BTF, any but a close's): its line, or its create held. Its
    arguments: with BTF, those the kernel saved at its entry (_REGS_AT), in a traced
    process; without, those its entry kept (see _keep). None found: no line.

    The probe's stack is 512 bytes, a string's printing takes over 400 of them (bpftrace's
    str() its 200, its printf as many more), and what a probe keeps across a helper call
    it keeps there too: so the string comes first, and the rest is read after it."""
    calls = _exit_calls(btf)
    lines = [
        "  $r = args->ret;",
        *_arguments(btf, traced),
        f"  if ($g) {{\n{chr(10).join(_group(calls))}\n  }}",
        *_string_hash(),
        *_more_arguments(btf),
        *_family(),
        "  $c = (uint64)0; $n = 0; $ino = (uint64)0;",
    ]
    if btf:
        # held in a process with few enough threads that a walk finds every holder (see
        # _others); the thread holds nothing now: its create's entry printed what it held
        lines.append(
            f"  $nt = $g == {_PAIRED} || $g == {_OPEN} ? curtask->signal->nr_threads : 0;\n"
            f"  $free = $nt <= {HOLDING_THREADS};\n"
            "  $hold = 0; $two = 0;\n"
            "  $v0 = (uint64)0; $v1 = (uint64)0; $v2 = (uint64)0; $v3 = (uint64)0;"
        )
    branches = []
    for group in _GROUPS:
        of_group = " else ".join(_exit_of(call, btf) for call in calls if call.group == group)
        branches.append(f"if ($g == {group}) {{\n  {of_group}\n  }}")
    lines.append("  " + " else ".join(branches))
    if btf:
        # one place that writes the slots: a tuple built in each branch would take stack
        lines.append(
            "  if ($hold) {\n"
            f"    $sh = $nt > 1 ? {_SHARED} : 0;\n"
            "    @hv[tid] = ((uint64)nsecs, (uint64)pid, $v0, $v1, $v2, $v3, (uint64)$id,\n"
            "      (uint64)(($two ? 3 : 1) | $sh | (tid << 8)));\n"
            "    if ($sh) { @hf[pid, $v0] = tid; if ($two) { @hf[pid, $v1] = tid; } }\n"
            "  }"
        )
        lines.append(f"  if ($id == {_CLOSE_RANGE}) {{ delete(@ct[tid]); }}")
    else:
        # (deleted: a later call its entry does not keep must find nothing)
        lines.append("  if ($g) { delete(@ar[tid]); }")
    return lines


def _exit_calls(btf: bool) -> list[Call]:
    """The calls the exit probe prints: with BTF, all but close (see _close)."""
    return [call for call in CALLS if call.nr != _CLOSE or not btf]


def _group(calls: list[Call]) -> list[str]:
    """$g: the group of the call $id, which branch of the exit probe it takes."""
    lines = [f"    $g = {_GROUPS[-1]};"]
    for group in _GROUPS[:-1]:
        numbers = [call.nr for call in calls if call.group == group]
        lines += [*_member(numbers, "$gm"), f"  if ($gm) {{ $g = {group}; }}"]
    return lines


def _exit_of(call: Call, btf: bool) -> str:
    """The branch of ``call`` in the exit probe: its line, or its create held."""
    body = []
    if call.name in ("pipe", "pipe2") and btf:
        # the pipe's inode, as /proc/PID/fd and strace -y name it (pipe:[N]): from the
        # new fd's struct file, through the kernel's types (BTF)
        file = "*(uint64*)kptr((uint64)curtask->files->fdt->fd + (uint64)*(int32*)uptr($a0) * 8)"
        body.append(f"if ($r == 0) {{ $ino = ((struct file*){file})->f_inode->i_ino; }}")
    if call.name == "recvmsg":
        body.append(
            "if ($r >= 0) { $c = *(uint64*)uptr($a1 + 32); "
            "if ($c != 0 && *(uint64*)uptr($a1 + 40) >= 20 && *(int32*)uptr($c + 8) == 1 "
            "&& *(int32*)uptr($c + 12) == 1) { $n = (int32)((*(uint64*)uptr($c) - 16) / 4); } }"
        )
    values = ", ".join(call.values)
    fmt = call.fmt
    prefix = _PREFIX_ARGS
    if call.nr in (_CLOSE, _CLOSE_RANGE):
        # timed at its entry (see the module's docstring)
        prefix = _PREFIX_ARGS.replace("nsecs", "$ts")
        body.append(f"$ts = @{'ct[tid]' if btf else 'ar[tid].5'}; if ($ts == 0) {{ $ts = nsecs; }}")
    line = f'printf({_HEAD}{call.name} {fmt}\\n", {prefix}, {values});'
    if call.group in (_ADDRESS, _BOUND):
        line = _sockaddr(call, values)
    if call.hold is not None and btf:
        line = f"if ($free) {{ {_hold(call)} }} else {{ {line} }}"
    # (an ioctl or fcntl that changes no table: without BTF, its entry kept nothing)
    when = f"({call.when}) && ({call.enter_if.replace('$e', '$a')})" if call.enter_if else call.when
    body.append(f"if ({when}) {{ {line} }}")
    return f"if ($id == {call.nr}) {{\n    " + "\n    ".join(body) + "\n  }"


def _arguments(btf: bool, traced: str) -> list[str]:
    """$a0, $a1: the call's first two arguments; $g: 1 where they were found (a traced
    process), else 0. ($a2, $a3: _more_arguments.)"""
    if not btf:
        return [
            "  $g = @ar[tid].0 != 0; $a0 = (uint64)0; $a1 = (uint64)0;",
            "  if ($g) { $a0 = @ar[tid].1; $a1 = @ar[tid].2; }",
        ]
    found = " ".join(f"$a{i} = *(uint64*)kptr($regs + {at});" for i, at in enumerate(_ARGS_AT[:2]))
    return [
        "  $g = 0; $a0 = (uint64)0; $a1 = (uint64)0; $regs = (uint64)0;",
        f"  if {traced} {{",
        "    $stack = (uint64)curtask->stack;",
        *(
            f"    if ($regs == 0 && *(uint64*)kptr($stack + {at + _ORIG_AX}) == (uint64)$id"
            f" && *(uint64*)kptr($stack + {at + _AX}) == (uint64)$r) {{ $regs = $stack + {at}; }}"
            for at in _REGS_AT
        ),
        f"    if ($regs != 0) {{ {found} $g = 1; }}",
        # a kernel whose registers are elsewhere: every call is lost, and counted
        "    else { @noregs = count(); }",
        "  }",
    ]


def _more_arguments(btf: bool) -> list[str]:
    """$a2, $a3, read after the string's printing (fewer values kept across it); and the
    call's number and result again."""
    if not btf:
        # (field by field: a tuple read whole would take its room on the stack throughout)
        reads = "$a2 = @ar[tid].3; $a3 = @ar[tid].4;"
    else:
        reads = f"$a2 = *(uint64*)kptr($regs + {_ARGS_AT[2]}); $a3 = *(uint64*)kptr($regs + {_ARGS_AT[3]});"
    return ["  $id = args->id; $r = args->ret; $a2 = (uint64)0; $a3 = (uint64)0;", f"  if ($g) {{ {reads} }}"]


def _family() -> list[str]:
    """$fam: the family of a connect's, bind's or accept's sockaddr at $a1; $s1, whether an
    AF_UNIX address is abstract (its name after a NUL)."""
    return [
        "  $fam = (uint64)0; $s1 = (uint64)0;",
        f"  if (($g == {_ADDRESS} || $g == {_BOUND}) && $a1 != 0) {{",
        "    $fam = *(uint16*)uptr($a1); if ($fam == 1) { $s1 = *(uint8*)uptr($a1 + 2) == 0 ? 1 : 0; }",
        "  }",
    ]


def _sockaddr(call: Call, values: str) -> str:
    """The call's line with its sockaddr at $a1 in five more fields: for IPv4 and IPv6
    ``FAMILY PORT V4 LO HI`` (IPv4's address at +4, IPv6's 16 bytes at +8); for AF_UNIX ``1
    ABSTRACT LENGTH 0 HASH``, its path's text in a ``name`` line (see _string_hash). Read
    as they are printed, not kept in variables before: that would pass the 512-byte stack."""
    head = f'printf({_HEAD}{call.name} {call.fmt} %d %lu %lu %lu %lu\\n", {_PREFIX_ARGS}, {values}'
    # its length: addrlen; accept's, what the kernel wrote to *addrlen
    length = "$a2" if call.group == _BOUND else "($a2 != 0 ? *(uint32*)uptr($a2) : 0)"
    field = "$a1 != 0 ? *(uint{bits}*)uptr($a1 + {at}) : 0"
    inet = ", ".join(field.format(bits=bits, at=at) for bits, at in ((16, 2), (32, 4), (64, 8), (64, 16)))
    return f"if ($fam == 1) {{ {head}, 1, $s1, {length}, 0, $h); }} else {{ {head}, $fam, {inet}); }}"


def _probe(probe: str, numbers: Iterable[int], body: list[str]) -> str:
    """``probe`` running ``body`` for the calls ``numbers`` alone. The number is tested
    before any map is read: the raw_syscalls probes run on every system call of every
    process, and most are none of these. (In the body, not the predicate: bpftrace 0.17
    makes a program the verifier refuses of several ``args->id`` tests there.)"""
    return "\n".join(
        (f"{probe} {{", "  $id = args->id;", *_member(numbers), "  if ($in) {", *body, "  }", "}")
    )


def _member(numbers: Iterable[int], into: str = "$in") -> list[str]:
    """``into``: 1 when the call $id is one of ``numbers``, tested as a bit of a 64-bit word:
    a chain of ``||`` would cost more, and take 8 bytes of the 512-byte BPF stack for each
    of its tests (bpftrace 0.17 keeps each intermediate result there)."""
    words: dict[int, int] = {}
    for nr in numbers:
        words[nr // 64] = words.get(nr // 64, 0) | 1 << nr % 64
    tests = " else ".join(
        f"if ($id < {(word + 1) * 64}) {{ $w = {words.get(word, 0):#x}; }}" for word in range(max(words) + 1)
    )
    return ["  $w = (uint64)0;", f"  if ($id >= 0) {{ {tests} }}", f"  {into} = ($w >> ($id & 63)) & 1;"]


# FNV-1a's offset basis and prime, over the path's 8-byte words
_FNV_BASIS, _FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3
_WORDS = STRLEN // 8  # a path is hashed as far as its text is printed


def _string_hash() -> list[str]:
    """$h: a hash of the string the call names (Call.text), read 8 bytes at a time up to its
    NUL; and, the first time a hash is met (@names), a ``name`` line with its text. A
    record then carries the number, not the text: one printf of a string in the probe
    (bpftrace 0.17 gives each its own 200 bytes of the 512-byte stack)."""
    zeros = "(($w - 0x0101010101010101) & ~$w & 0x8080808080808080)"
    texts = " else ".join(
        f"if ($id == {call.nr}) {{ if ({call.when}) {{ $p = {call.text}; }} }}" for call in CALLS if call.text
    )
    return [
        *_family(),
        "  $p = (uint64)0;",
        f"  if ($g) {{ {texts} }}",
        f"  $h = (uint64){_FNV_BASIS:#x}; $i = 0;",
        "  if ($p != 0) {",
        f"    while ($i < {_WORDS}) {{",
        "      $w = *(uint64*)uptr($p + $i * 8);",
        f"      $z = {zeros};",
        # the word holding the NUL: only its bytes before it (the lowest zero byte's
        # high bit is the lowest bit set in $z; little-endian)
        "      if ($z != 0) { $w = $w & ((($z & (~$z + 1)) >> 7) - 1); }",
        f"      $h = ($h ^ $w) * {_FNV_PRIME:#x};",
        f"      $i = $z != 0 ? {_WORDS} : $i + 1;",
        "    }",
        "    if (@names[$h] == 0) {",
        "      @names[$h] = 1;",
        # (no time nor thread: not needed, and 16 bytes of a stack this string fills)
        '      printf("name %lu %s\\n", $h, str(uptr($p)));',
        "    }",
        "  }",
    ]


def _hold(call: Call) -> str:
    """Mark a create to be held (its numbers in $v0 to $v3) instead of printed."""
    assert call.hold is not None
    fields = call.fields()
    numbers = (*fields, *("0",) * (4 - len(fields)))
    values = " ".join(f"$v{i} = (uint64)({value});" for i, value in enumerate(numbers))
    return f"$hold = 1; $two = {int(call.hold.ends == 2)}; {values}"


def _pair(printed: str) -> str:
    """A close of the thread's own held create ($hv; which of its fds: $k): once every fd
    it made is closed, a pair is counted in @pairs (bpftrace prints the map at its exit),
    keyed by what tells its group apart; the other end of a pipe or socketpair stays held,
    with when this one was closed (@pct). Else, or where the pair cannot be counted,
    ``printed``, after the create."""
    keys = " else ".join(
        f"if ($hn == {call.nr}) {{ $k1 = (uint64)({call.hold.key[0]}); $k2 = (uint64)({call.hold.key[1]}); }}"
        for call in CALLS
        if call.hold is not None
    )
    pair = "@pairs[pid, tid, $hn, $k1, $k2]"
    return "\n".join(
        "      " + line
        for line in (
            f"$hn = $hv.{_HELD_CALL}; $st = $hv.{_HELD_STATE}; $m = $st & (3 - $k);",
            "$v0 = $hv.2; $v1 = $hv.3; $v2 = $hv.4; $v3 = $hv.5;",
            "if ($m == 0) {",
            "  $k1 = (uint64)0; $k2 = (uint64)0;",
            f"  {keys}",
            "  delete(@hv[tid]);",
            f"  $pc = {pair}; {pair} = $pc + 1;",
            # printed by another thread meanwhile (see _others): printed again, not counted
            f"  $late = ($st & {_SHARED}) && @ep[pid] > $hv.0;",
            f"  if ($late) {{ {pair} = $pc; }}",
            # a full @pairs (bpftrace's 4,096 keys: paths of their own, such as report_N.csv)
            # takes no new key: print what the pair was, as if nothing had been held
            f"  if ($late || ($pc == 0 && {pair} == 0)) {{",
            f"    {_print_held('$hv', 'tid')}",
            f"    {printed}",
            "  }",
            "} else {",
            "  @hv[tid] = ($hv.0, $hv.1, $v0, $v1, $v2, $v3, $hn, ($st & ~3) | $m);",
            "  @pct[tid] = nsecs;",
            "}",
        )
    )


def _flush(indent: str) -> str:
    """Print the exiting thread's held create (in $hv, read from @hv) as a ``held`` line,
    and forget it; and when its first end was closed (@pct, which only this probe deletes,
    after reading it)."""
    return "\n".join(
        indent + line
        for line in (
            f"if ($hv.{_HELD_CALL} != 0) {{",
            f"  {_print_held('$hv', 'tid')}",
            "  delete(@hv[tid]);",
            f"  {_unindex('$hv')}",
            "}",
            "delete(@pct[tid]);",
        )
    )


HELD_CALLS = {call.nr: call for call in CALLS if call.hold is not None}


def held_fields(nr: int, numbers: list[str]) -> tuple[str, list[str]]:
    """A ``held`` line's call and fields, as the call's own line would have printed them."""
    call = HELD_CALLS[nr]
    return call.name, numbers[: len(call.fields())]


def two_ends(nr: int) -> bool:
    """Whether the held call ``nr`` made two fds (a pipe, a socketpair)."""
    hold = HELD_CALLS[nr].hold
    return hold is not None and hold.ends == 2


def pair_fields(nr: int, key1: int, key2: int) -> tuple[str, list[str]]:
    """The fields of one create counted under this @pairs key: made-up fd numbers, the
    numbers the key kept, 0 for the others (what group the pair is in depends on those)."""
    hold = HELD_CALLS[nr].hold
    assert hold is not None
    numbers = []
    for at in range(len(HELD_CALLS[nr].fields())):
        held = f"$v{at}"
        if at < hold.ends:
            numbers.append(str(at))
        elif hold.key[0] in (held, f"{held} != 0"):
            numbers.append(str(key1))  # (a pipe's inode: only whether it was known)
        elif hold.key[1] == held:
            numbers.append(str(key2))
        else:
            numbers.append("0")
    return held_fields(nr, numbers)
