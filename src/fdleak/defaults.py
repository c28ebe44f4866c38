"""Defaults shared by the command line and the library, importable without importing either."""

DEFAULT_MIN_COUNT = 5  # below that, a recycled child's pipes or a refilled pool look alike
