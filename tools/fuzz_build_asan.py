"""Build an ASan+UBSan copy of the native core as a separate cffi module (``_core_asan``) for fuzzing.

Usage: python tools/fuzz_build_asan.py OUTDIR. Every C source is compiled with the real build's cdef (generated
from src/asicrc_native.h by asicrc.native.build_native.header_cdef).
"""

from __future__ import annotations

import os
import sys

from cffi import FFI

from asicrc.native.build_native import header_cdef

TOOLS = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(TOOLS, "..", "native", "src")
SAN = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def main(outdir: str) -> None:
    ffi = FFI()
    ffi.cdef(header_cdef(os.path.join(SRC, "asicrc_native.h")))
    ffi.set_source(
        "_core_asan",
        '#include "asicrc_native.h"',
        sources=[os.path.join(SRC, n) for n in sorted(os.listdir(SRC)) if n.endswith(".c")]
        + [os.path.join(TOOLS, "fuzz_cov_stubs.c")],
        include_dirs=[SRC],
        extra_compile_args=["-O1", "-g", "-std=c11", "-fsanitize-coverage=trace-cmp", *SAN],
        # not linked against gcc's libasan/libubsan: the sanitizer runtime is preloaded at run time
        # (atheris' asan_with_fuzzer.so, which also carries libFuzzer and the UBSan handlers)
        extra_link_args=[],
    )
    print(ffi.compile(tmpdir=outdir))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/fuzz")
