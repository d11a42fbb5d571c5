"""cffi API-mode (out-of-line) build of the asicrc native core.

Built by `pip install .` through setup.py's ``cffi_modules``; produces the
extension module ``asicrc.native._core``. The CDEF below must list exactly the
declarations of ``src/asicrc_native.h`` that Python uses.
"""

from __future__ import annotations

import os
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "src")

CDEF = """
void asicrc_sha256_compress(uint32_t state[8], const uint8_t block[64]);
void asicrc_sha256_compress_rounds(uint32_t state[8], const uint8_t block[64], int rounds);
void asicrc_sha256(const uint8_t *data, size_t len, uint8_t out[32]);
void asicrc_sha256d(const uint8_t *data, size_t len, uint8_t out[32]);
void asicrc_sha256d_header(const uint8_t header[80], uint8_t out[32]);
void asicrc_midstate(const uint8_t header64[64], uint32_t out_state[8]);
double asicrc_hash_difficulty(const uint8_t hash[32]);
void asicrc_difficulty_batch(const uint8_t header[80], const uint32_t *nonces, const uint32_t *versions, size_t n,
                             double *out_diff, uint8_t *out_hashes);
size_t asicrc_meets_target_batch(const uint8_t header[80], const uint32_t *nonces, const uint32_t *versions, size_t n,
                                 const uint8_t target[32], int early, uint8_t *out_ok, uint64_t *out_rounds);
void asicrc_second_states_batch(const uint8_t header[80], const uint32_t *nonces, size_t n, int k, uint32_t *out);
size_t asicrc_search_nonces(const uint8_t header[80], uint32_t start, uint64_t count, const uint8_t target[32],
                            uint32_t *out, size_t max_out, uint64_t *hashes_done);
"""

# setuptools refuses absolute source paths, so name them relative to the build's working directory.
SOURCES = sorted(os.path.relpath(os.path.join(SRC, name)) for name in os.listdir(SRC) if name.endswith(".c"))

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "asicrc.native._core",
    '#include "asicrc_native.h"',
    sources=SOURCES,
    include_dirs=[os.path.relpath(SRC)],
    extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra", "-fno-strict-aliasing"],
)

if __name__ == "__main__":  # pragma: no cover - manual in-place build
    ffibuilder.compile(tmpdir=os.path.join(HERE, "..", "build", "cffi"), verbose=True)
    sys.exit(0)
