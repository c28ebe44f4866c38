"""The fd-table engine: FdEvents applied to a model of the kernel's fd tables."""
