"""Who may ptrace whom, read from /proc before strace tries: a clear reason instead of EPERM.

The kernel allows PTRACE_ATTACH when the tracer has the target's uid (and the target is
dumpable) or holds CAP_SYS_PTRACE, and Yama (kernel.yama.ptrace_scope) may narrow that
further. A process already traced (by gdb, another strace) cannot be attached at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from fdleak.errors import AccessDenied
from fdleak.procfs.process import PROC, guarded

CAP_SYS_PTRACE = 19
YAMA_SCOPE = f"{PROC}/sys/kernel/yama/ptrace_scope"


@dataclass(frozen=True, slots=True)
class TraceState:
    """What /proc/PID/status says about tracing a process."""

    pid: int
    uid: int  # real uid
    tracer: int  # TracerPid: 0 when nobody traces it
    threads: tuple[int, ...]  # every task id, the leader first


def trace_state(pid: int) -> TraceState:
    status = guarded(pid, "its status", lambda: _read(f"{PROC}/{pid}/status"))
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    tasks = guarded(pid, "its threads", lambda: os.listdir(f"{PROC}/{pid}/task"))
    others = sorted(int(t) for t in tasks if t.isascii() and t.isdigit() and int(t) != pid)
    return TraceState(
        pid=pid,
        uid=int(fields["Uid"].split()[0]),
        tracer=int(fields.get("TracerPid", "0").strip()),
        threads=(pid, *others),
    )


def tracer_of(pid: int) -> int:
    """TracerPid of one task (0: not traced); -1 when it is gone."""
    try:
        with open(f"{PROC}/{pid}/status") as status:
            for line in status:
                if line.startswith("TracerPid:"):
                    return int(line.split()[1])
    except OSError:
        return -1
    return 0


def check_can_trace(state: TraceState) -> None:
    """Raise AccessDenied, with the reason and the fix, when attaching to ``state`` must fail."""
    reason = denial(
        target=state,
        own_uid=os.getuid(),
        has_cap=has_capability(CAP_SYS_PTRACE),
        yama_scope=yama_scope(),
    )
    if reason is not None:
        raise AccessDenied(*reason)


def sibling_denial(scope: int | None, has_cap: bool) -> str | None:
    """Why strace, started by fdleak, may not attach to another child of fdleak (the
    demo's worker), or None: Yama scopes 1-3 allow it only with CAP_SYS_PTRACE, 3 never."""
    if scope == 3:
        return "kernel.yama.ptrace_scope is 3, which forbids attaching to any process"
    if scope in (1, 2) and not has_cap:
        return f"kernel.yama.ptrace_scope is {scope} and fdleak runs without CAP_SYS_PTRACE"
    return None


def denial(
    *,
    target: TraceState,
    own_uid: int,
    has_cap: bool,
    yama_scope: int | None,
) -> tuple[str, str] | None:
    """(message, fix) when the kernel will refuse PTRACE_ATTACH to ``target``, else None.

    Yama scope 1 allows tracing only one's descendants; strace, fdleak's child, is never
    an ancestor of a running worker, so scope 1 means CAP_SYS_PTRACE or nothing."""
    pid = target.pid
    if target.tracer:
        return (
            f"cannot trace pid {pid}: it is already traced by pid {target.tracer} "
            "(a debugger or another strace)",
            f"stop that tracer first (ps -p {target.tracer})",
        )
    if yama_scope == 3:
        return (
            f"cannot trace pid {pid}: kernel.yama.ptrace_scope is 3, which forbids attaching to any process",
            "only a reboot resets it; use fdleak run -- CMD to trace a command fdleak starts",
        )
    if yama_scope == 2 and not has_cap:
        return (
            f"cannot trace pid {pid}: kernel.yama.ptrace_scope is 2 (attaching needs CAP_SYS_PTRACE)",
            "run fdleak as root (sudo fdleak trace ...)",
        )
    if target.uid != own_uid and not has_cap:
        return (
            f"cannot trace pid {pid}: it belongs to uid {target.uid} and fdleak runs as uid {own_uid} "
            "without CAP_SYS_PTRACE",
            "run fdleak as that user or as root (sudo fdleak trace ...)",
        )
    if yama_scope == 1 and not has_cap:
        return (
            f"cannot trace pid {pid}: kernel.yama.ptrace_scope is 1 (only a process's own children may "
            "be traced)",
            "run fdleak as root, or allow it: sudo sysctl kernel.yama.ptrace_scope=0",
        )
    return None


def container_hint() -> str:
    """Why attaching may still fail after the checks pass: a container without the capability."""
    if not has_capability(CAP_SYS_PTRACE):
        return (
            "fdleak lacks CAP_SYS_PTRACE: in a container, start it with --cap-add SYS_PTRACE "
            "(docker) or add SYS_PTRACE to the pod's securityContext capabilities"
        )
    return "is a seccomp or LSM policy (AppArmor, SELinux) denying ptrace here?"


def has_capability(bit: int) -> bool:
    try:
        status = _read(f"{PROC}/self/status")
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> bit & 1)
    return False


def yama_scope() -> int | None:
    """kernel.yama.ptrace_scope, or None where Yama is not built in."""
    try:
        return int(_read(YAMA_SCOPE).strip())
    except (OSError, ValueError):
        return None


def _read(path: str) -> str:
    with open(path, "rb", buffering=0) as handle:
        return handle.read().decode("utf-8", "replace")
