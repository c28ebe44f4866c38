"""Builds fdleak's C extensions (the strace line loop, signature_of); all other metadata is in pyproject.toml.

optional=True: where no compiler is at hand the install still succeeds and fdleak runs
the pure-Python code, which gives the same results more slowly.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "fdleak.sources.strace._scan",
            [
                "src/fdleak/sources/strace/_scan.c",
                "src/fdleak/sources/strace/_decode.c",
                "src/fdleak/model/_signature.c",
            ],
            include_dirs=["src/fdleak/model"],
            depends=["src/fdleak/sources/strace/_decode.h", "src/fdleak/model/_signature.h"],
            optional=True,
            extra_compile_args=["-O2"],
        ),
        Extension(
            "fdleak.model._signature",
            ["src/fdleak/model/_signature_module.c", "src/fdleak/model/_signature.c"],
            depends=["src/fdleak/model/_signature.h"],
            optional=True,
            extra_compile_args=["-O2"],
        ),
    ]
)
