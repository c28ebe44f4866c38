"""Builds fdleak's one C extension, the strace line loop; all other metadata is in pyproject.toml.

optional=True: where no compiler is at hand the install still succeeds and fdleak runs
the pure-Python loop, which gives the same results more slowly.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "fdleak.sources.strace._scan",
            [
                "src/fdleak/sources/strace/_scan.c",
                "src/fdleak/sources/strace/_decode.c",
                "src/fdleak/sources/strace/_signature.c",
            ],
            depends=["src/fdleak/sources/strace/_decode.h", "src/fdleak/sources/strace/_signature.h"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
