"""cffi API-mode (out-of-line) build of the asicrc native core.

Built by `pip install .` through setup.py's ``cffi_modules``; produces the
extension module ``asicrc.native._core``. Every ``src/*.c`` is compiled; the
Python-visible declarations are gathered from ``src/*.cdef``.
"""

from __future__ import annotations

import os
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "src")

# Each C file native/src/NAME.c declares what Python may call in native/src/NAME.cdef (cffi cdef syntax),
# so adding a C module never means editing this script.
CDEF = "\n".join(
    open(os.path.join(SRC, name), encoding="utf-8").read()
    for name in sorted(os.listdir(SRC))
    if name.endswith(".cdef")
)

# setuptools refuses absolute source paths, so name them relative to the build's working directory.
SOURCES = sorted(os.path.relpath(os.path.join(SRC, name)) for name in os.listdir(SRC) if name.endswith(".c"))

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
# The shared header first, then any per-module header (src/NAME.h) so every .cdef function has a prototype.
OWN_HEADERS = sorted(name for name in os.listdir(SRC) if name.endswith(".h") and name != "asicrc_native.h")
HEADERS = ["asicrc_native.h", *OWN_HEADERS]

ffibuilder.set_source(
    "asicrc.native._core",
    "\n".join(f'#include "{name}"' for name in HEADERS),
    sources=SOURCES,
    include_dirs=[os.path.relpath(SRC)],
    depends=sorted(os.path.relpath(os.path.join(SRC, n)) for n in os.listdir(SRC) if n.endswith((".h", ".inc"))),
    extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra", "-fno-strict-aliasing"],
)

if __name__ == "__main__":  # pragma: no cover - manual in-place build
    ffibuilder.compile(tmpdir=os.path.join(HERE, "..", "build", "cffi"), verbose=True)
    sys.exit(0)
