"""Build an ASan+UBSan copy of the native core as a separate cffi module (``_core_asan``) for fuzzing.

Usage: python tools/fuzz_build_asan.py OUTDIR. Only the codec and SHA-256 sources are compiled (the decoder
does not depend on anything else), with the same .cdef declarations as the real build.
"""

from __future__ import annotations

import os
import sys

from cffi import FFI

TOOLS = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(TOOLS, "..", "native", "src")
UNITS = ("sha256", "frames")
SAN = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def main(outdir: str) -> None:
    ffi = FFI()
    ffi.cdef("\n".join(open(os.path.join(SRC, f"{u}.cdef"), encoding="utf-8").read() for u in UNITS))
    ffi.set_source(
        "_core_asan",
        '#include "asicrc_native.h"',
        sources=[os.path.join(SRC, f"{u}.c") for u in UNITS] + [os.path.join(TOOLS, "fuzz_cov_stubs.c")],
        include_dirs=[SRC],
        extra_compile_args=["-O1", "-g", "-std=c11", "-fsanitize-coverage=trace-cmp", *SAN],
        # not linked against gcc's libasan/libubsan: the sanitizer runtime is preloaded at run time
        # (atheris' asan_with_fuzzer.so, which also carries libFuzzer and the UBSan handlers)
        extra_link_args=[],
    )
    print(ffi.compile(tmpdir=outdir))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/fuzz")
