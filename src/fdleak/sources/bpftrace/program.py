"""The bpftrace program: fd syscalls and fork/exec/exit of a process tree, as compact lines.

A handful of probes, not one per syscall: bpftrace's start-up and exit each take about
50 ms per probe here (attaching, then detaching at exit), so 80 per-syscall tracepoints
cost 5 s at each end, the two raw_syscalls tracepoints and three sched ones well under
one. Every probe is filtered on the targets' pids and ``@traced[pid]`` (pid is the
thread-group id, so every thread of a traced process passes), which forks extend.

At entry a traced fd call keeps its first four arguments per thread (and which exit
probe prints it); at exit one line per call: ``NSECS TID TGID NAME FIELDS...``, a string
field always last (a path may hold spaces). A close's NSECS is its entry's, not its exit's:
the number is free from some moment inside the call, and another thread of the process
may take it and return before the close does; what was freed at entry sorts first.
User memory behind a pointer is read at exit:
the kernel has just read it, so it is resident. Socket addresses go out as raw numbers
that records.py formats. Syscall numbers are x86_64's.
"""

from __future__ import annotations

from dataclasses import dataclass

# bpftrace 0.17 keeps strings on the 512-byte BPF stack: 200 bytes is its maximum
STRLEN = 200

_HEAD = '"%lu %d %d '
_PREFIX_ARGS = "nsecs, tid, pid"
# the exit probes: each prints one group of calls (a string each, or only numbers); one
# probe for all would put several strings on the 512-byte BPF stack at once
_OPEN, _MEMFD, _ADDRESS, _NUMBERS = 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class Call:
    """One syscall: its number, which exit probe prints it, and what it prints."""

    name: str
    nr: int
    group: int
    fmt: str  # printf format after "NAME " (without the newline)
    values: tuple[str, ...]  # printf values: $r is the result, $a0..$a3 the arguments
    when: str = "$r >= 0"  # condition on the result for a line to be printed
    enter_if: str = ""  # condition on the arguments ($e0..) for the call to be kept


_PIPE_ENDS = ("*(int32*)uptr($a0)", "*(int32*)uptr($a0 + 4)")

CALLS: tuple[Call, ...] = (
    Call("open", 2, _OPEN, "%d %d %s", ("$r", "$a1", "str(uptr($a0))")),
    Call("openat", 257, _OPEN, "%d %d %s", ("$r", "$a2", "str(uptr($a1))")),
    Call("creat", 85, _OPEN, "%d 0 %s", ("$r", "str(uptr($a0))")),
    Call("openat2", 437, _OPEN, "%d %lu %s", ("$r", "*(uint64*)uptr($a2)", "str(uptr($a1))")),
    Call("memfd_create", 319, _MEMFD, "%d %d %s", ("$r", "$a1", "str(uptr($a0))")),
    Call("accept", 43, _ADDRESS, "%d %d 0", ("$r", "$a0")),
    Call("accept4", 288, _ADDRESS, "%d %d %d", ("$r", "$a0", "$a3")),
    # a non-blocking connect says EINPROGRESS (-115) but has its peer already
    Call("connect", 42, _ADDRESS, "%d", ("$a0",), when="$r == 0 || $r == -115"),
    Call("bind", 49, _ADDRESS, "%d", ("$a0",), when="$r == 0"),
    Call("open_by_handle_at", 304, _NUMBERS, "%d %d", ("$r", "$a2")),
    Call("socket", 41, _NUMBERS, "%d %d %d", ("$r", "$a0", "$a1")),
    Call(
        "socketpair",
        53,
        _NUMBERS,
        "%d %d %d %d",
        ("*(int32*)uptr($a3)", "*(int32*)uptr($a3 + 4)", "$a0", "$a1"),
        when="$r == 0",
    ),
    Call("pipe", 22, _NUMBERS, "%d %d 0 %lu", (*_PIPE_ENDS, "$ino"), when="$r == 0"),
    Call("pipe2", 293, _NUMBERS, "%d %d %d %lu", (*_PIPE_ENDS, "$a1", "$ino"), when="$r == 0"),
    Call("dup", 32, _NUMBERS, "%d %d 0", ("$a0", "$r")),
    Call("dup2", 33, _NUMBERS, "%d %d 0", ("$a0", "$r")),
    Call("dup3", 292, _NUMBERS, "%d %d %d", ("$a0", "$r", "$a2")),
    # F_DUPFD (0), F_DUPFD_CLOEXEC (1030), F_SETFD (2): the others change no fd table
    Call(
        "fcntl",
        72,
        _NUMBERS,
        "%d %d %d %d",
        ("$a0", "$a1", "$a2", "$r"),
        enter_if="$e1 == 0 || $e1 == 1030 || $e1 == 2",
    ),
    # FIONCLEX (0x5450), FIOCLEX (0x5451): os.set_inheritable() uses them
    Call(
        "ioctl",
        16,
        _NUMBERS,
        "%d %d",
        ("$a0", "$a1"),
        when="$r == 0",
        enter_if="$e1 == 0x5450 || $e1 == 0x5451",
    ),
    Call("eventfd", 284, _NUMBERS, "%d 0", ("$r",)),
    Call("eventfd2", 290, _NUMBERS, "%d %d", ("$r", "$a1")),
    Call("epoll_create", 213, _NUMBERS, "%d 0", ("$r",)),
    Call("epoll_create1", 291, _NUMBERS, "%d %d", ("$r", "$a0")),
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
        _NUMBERS,
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
    Call("close", 3, _NUMBERS, "%d %d", ("$a0", "$r"), when="$r != -9"),
    Call("close_range", 436, _NUMBERS, "%d %lu %d", ("$a0", "$a1", "$a2"), when="$r == 0"),
    # unshare(CLONE_FILES): a private copy of the table
    Call("unshare", 272, _NUMBERS, "%d", ("$a0",), when="$r == 0"),
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
_SLOTS = ("in", "nr", "a0", "a1", "a2", "a3", "cf", "t0")
# the calls that free fd numbers: timed at their entry (see the module's docstring)
_FREEING = ("close", "close_range")


def build(pids: list[int], group_dead: bool, btf: bool) -> str:
    """The program's text for the trees of ``pids``."""
    # the targets are in the predicate, not put in the map by a BEGIN probe: BEGIN is a
    # uprobe on bpftrace's own binary, and it did not always fire here
    traced = "(@traced[pid]" + "".join(f" || pid == {pid}" for pid in pids) + ")"
    out: list[str] = []
    out.append(_enter(traced))
    for group in (_OPEN, _MEMFD, _ADDRESS, _NUMBERS):
        out.append(_exit(group, btf))
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
    out.append(
        f"tracepoint:sched:sched_process_exit /{traced}/ {{\n"
        f'  printf({_HEAD}exit %d %d\\n", {_PREFIX_ARGS}, {code}, {dead});\n'
        # (a target that ends stays in the predicate: its pid could be reused within the
        # window by another process, traced then too)
        + ("  if (args->group_dead) { delete(@traced[pid]); }\n" if group_dead else "")
        # a task killed inside a call never reaches its exit probe: drop what it kept
        + "".join(f"  delete(@{slot}[tid]);\n" for slot in _SLOTS)
        + "}"
    )
    return "\n".join(out) + "\n"


def _enter(traced: str) -> str:
    lines = [
        f"tracepoint:raw_syscalls:sys_enter /{traced}/ {{",
        "  $id = args->id; $e0 = args->args[0]; $e1 = args->args[1]; $g = 0;",
    ]
    for nr, flags in _CLONES:
        lines.append(f"  if ($id == {nr}) {{ @cf[tid] = (uint64)({flags}); }}")
    freeing = " || ".join(f"$id == {call.nr}" for call in CALLS if call.name in _FREEING)
    lines.append(f"  if ({freeing}) {{ @t0[tid] = nsecs; }}")
    for call in CALLS:
        test = f"$id == {call.nr}" + (f" && ({call.enter_if})" if call.enter_if else "")
        lines.append(f"  if ({test}) {{ $g = {call.group}; }}")
    lines.append(
        "  if ($g != 0) {\n"
        "    @in[tid] = $g; @nr[tid] = $id;\n"
        "    @a0[tid] = $e0; @a1[tid] = $e1; @a2[tid] = args->args[2]; @a3[tid] = args->args[3];\n"
        "  }"
    )
    lines.append("}")
    return "\n".join(lines)


def _exit(group: int, btf: bool) -> str:
    lines = [
        f"tracepoint:raw_syscalls:sys_exit /@in[tid] == {group}/ {{",
        "  $r = args->ret; $id = @nr[tid];",
        "  $a0 = @a0[tid]; $a1 = @a1[tid]; $a2 = @a2[tid]; $a3 = @a3[tid];",
    ]
    if group == _ADDRESS:
        lines.append("  $fam = $a1 != 0 ? *(uint16*)uptr($a1) : 0;")
    if group == _NUMBERS:
        lines.append("  $ino = (uint64)0; $c = (uint64)0; $n = 0;")
    branches = []
    for call in CALLS:
        if call.group != group:
            continue
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
        if group == _ADDRESS:
            body.append(_address_branches(call, values))
        else:
            prefix = _PREFIX_ARGS.replace("nsecs", "@t0[tid]") if call.name in _FREEING else _PREFIX_ARGS
            line = f'printf({_HEAD}{call.name} {call.fmt}\\n", {prefix}, {values});'
            body.append(f"if ({call.when}) {{ {line} }}")
        branches.append(f"if ($id == {call.nr}) {{\n    " + "\n    ".join(body) + "\n  }")
    lines.append("  " + " else ".join(branches))
    kept = ("in", "nr", "a0", "a1", "a2", "a3", *(("t0",) if group == _NUMBERS else ()))
    lines.append("  " + " ".join(f"delete(@{slot}[tid]);" for slot in kept))
    lines.append("}")
    return "\n".join(lines)


def _address_branches(call: Call, values: str) -> str:
    """The call's fields, then the sockaddr at $a1 in five more: ``FAMILY PORT V4 LO HI``
    (numbers: IPv4's address at +4, IPv6's 16 bytes at +8), or for AF_UNIX ``1 ABSTRACT
    LENGTH 0 PATH`` (the path last, as strings always are). Two printfs, not one: a string
    and ten numbers in one record would pass the 512-byte BPF stack."""
    head = f"printf({_HEAD}{call.name} {call.fmt}"
    length = "$a2" if call.name in ("connect", "bind") else "0"
    return (
        f"if ({call.when}) {{\n"
        "      if ($fam == 1) {\n"
        "        $abs = *(uint8*)uptr($a1 + 2) == 0 ? 1 : 0;\n"
        f'        {head} 1 %d %d 0 %s\\n", {_PREFIX_ARGS}, {values}, $abs, {length}, '
        "str(uptr($a1 + 2 + $abs)));\n"
        "      } else {\n"
        f'        {head} %d %d %lu %lu %lu\\n", {_PREFIX_ARGS}, {values}, $fam, '
        "$a1 != 0 ? *(uint16*)uptr($a1 + 2) : 0, $a1 != 0 ? *(uint32*)uptr($a1 + 4) : 0, "
        "$a1 != 0 ? *(uint64*)uptr($a1 + 8) : 0, $a1 != 0 ? *(uint64*)uptr($a1 + 16) : 0);\n"
        "      }\n"
        "    }"
    )
