"""cffi API-mode (out-of-line) build of the asicrc native core.

Built by `pip install .` through setup.py's ``cffi_modules``; produces the extension module
``asicrc.native._core``. Every ``src/*.c`` is compiled. The Python-visible declarations are not written twice:
the cdef is generated from ``src/asicrc_native.h`` (``header_cdef``), and because the structs are declared
whole (no ``...;``), cffi checks at build and import time that their layout is the C compiler's.
"""

from __future__ import annotations

import os
import re
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "src")
HEADER = os.path.join(SRC, "asicrc_native.h")

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
_INT_DEFINE = re.compile(r"#\s*define\s+\w+\s+(?:0[xX][0-9A-Fa-f]+|\d+)[uUlL]*\s*$")


def header_cdef(path: str = HEADER) -> str:
    """The cffi cdef of a C header: comments and preprocessor lines dropped, except ``#define NAME <integer>``
    (cffi exposes those as ``lib.NAME``; include guards and #includes have no value and are dropped)."""
    with open(path, encoding="utf-8") as f:
        text = _COMMENT.sub("", f.read())
    kept = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") and not _INT_DEFINE.match(stripped):
            continue
        if stripped:
            kept.append(line.rstrip())
    return "\n".join(kept) + "\n"


# setuptools refuses absolute source paths, so name them relative to the build's working directory.
SOURCES = sorted(os.path.relpath(os.path.join(SRC, name)) for name in os.listdir(SRC) if name.endswith(".c"))

ffibuilder = FFI()
ffibuilder.cdef(header_cdef())
ffibuilder.set_source(
    "asicrc.native._core",
    '#include "asicrc_native.h"',
    sources=SOURCES,
    include_dirs=[os.path.relpath(SRC)],
    depends=[os.path.relpath(HEADER)],
    extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra", "-fno-strict-aliasing"],
)

if __name__ == "__main__":  # pragma: no cover - manual in-place build
    ffibuilder.compile(tmpdir=os.path.join(HERE, "..", "build", "cffi"), verbose=True)
    sys.exit(0)
