"""--backend: which tracer does the work, bpftrace (ebpf) or strace, and why that one."""

from __future__ import annotations

from dataclasses import dataclass

from fdleak.errors import FdleakError
from fdleak.system import Bpftrace, find_bpftrace

BACKENDS = ("strace", "ebpf", "auto")


@dataclass(frozen=True, slots=True)
class Backend:
    name: str  # "ebpf" or "strace"
    bpftrace: Bpftrace | None  # with "ebpf": the bpftrace found and what the kernel offers
    why: str = ""  # with "auto": why this one


def choose_backend(requested: str) -> Backend:
    """``ebpf`` checks its requirements (one FdleakError each); ``auto`` takes ebpf where
    they are met and strace otherwise, saying which requirement failed."""
    if requested == "strace":
        return Backend("strace", None)
    if requested == "ebpf":
        return Backend("ebpf", find_bpftrace())
    try:
        bpftrace = find_bpftrace()
    except FdleakError as error:
        return Backend("strace", None, f"ebpf is not available here ({error.message})")
    return Backend("ebpf", bpftrace, "bpftrace, tracefs and the kernel's tracepoints are all here")
