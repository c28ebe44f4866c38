"""bpftrace: fd events from the kernel's syscall and sched tracepoints."""
