"""The one place that wires sources -> fd-table engine -> analysis, one module per way of looking."""

from fdleak.defaults import DEFAULT_MIN_COUNT
from fdleak.pipeline.logs import analyze_logs, observe, total_size

__all__ = ["DEFAULT_MIN_COUNT", "analyze_logs", "observe", "total_size"]
