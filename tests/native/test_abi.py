"""The native ABI has one source, native/src/asicrc_native.h: the cffi cdef is generated from it, the numpy record
dtypes are derived from the compiled module, and this file checks both against the header's own text and against
what the C compiler lays out. A cdef that disagrees with the header is refused by cffi (negative control)."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cffi import FFI

from asicrc.native import codecs
from asicrc.native._core import ffi, lib
from asicrc.native.build_native import HEADER, SRC, header_cdef

HEADER_TEXT = Path(HEADER).read_text(encoding="utf-8")
RECORDS = {"asicrc_reply": codecs.REPLY_DTYPE, "asicrc_host_frame": codecs.HOST_FRAME_DTYPE}


def header_functions() -> set[str]:
    return set(re.findall(r"^\s*[\w ]+?\b(asicrc_\w+)\s*\(", HEADER_TEXT, re.MULTILINE))


def header_struct_fields(name: str) -> list[str]:
    """Field names of `typedef struct { ... } name;` read from the header text with a regex, not with cffi."""
    bodies = {m.group(2): m.group(1) for m in re.finditer(r"typedef struct \{(.*?)\}\s*(\w+);", HEADER_TEXT, re.DOTALL)}
    text = re.sub(r"/\*.*?\*/", "", bodies[name], flags=re.DOTALL)
    return re.findall(r"(\w+)\s*(?:\[[^\]]*\])?\s*;", text)


def test_every_header_function_and_constant_is_in_the_compiled_module() -> None:
    functions = header_functions()
    assert len(functions) >= 30  # the regex found the prototypes (a broken pattern would find none)
    exported = {n for n in dir(lib) if n.startswith("asicrc_")}
    assert exported == functions
    for name, value in re.findall(r"^#define (ASICRC_\w+) (\d+)$", HEADER_TEXT, re.MULTILINE):
        assert getattr(lib, name) == int(value), name


def test_cdef_is_the_header_without_comments_and_guards() -> None:
    cdef = header_cdef()
    assert "/*" not in cdef and "#include" not in cdef and "#ifndef" not in cdef and "#endif" not in cdef
    assert "#define ASICRC_NATIVE_H" not in cdef and "#define ASICRC_MAX_FRAME 152" in cdef
    # every prototype survives, with its parameters (out_len included)
    assert "size_t asicrc_bm1366_cmd(uint8_t hdr, const uint8_t *payload, size_t plen, uint8_t *out, size_t out_len);" \
        in " ".join(cdef.split())


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_numpy_dtype_matches_header_and_cffi(name: str) -> None:
    dtype = RECORDS[name]
    assert list(dtype.names or ()) == header_struct_fields(name)
    assert dtype.itemsize == ffi.sizeof(name)
    for field in dtype.names or ():
        sub, offset = dtype.fields[field][:2]
        assert offset == ffi.offsetof(name, field), field
        assert sub.itemsize == ffi.sizeof(ffi.typeof(name).fields[[f for f, _ in ffi.typeof(name).fields]
                                                                   .index(field)][1].type), field


def test_layout_matches_what_the_c_compiler_lays_out(tmp_path: Path) -> None:
    """sizeof/offsetof printed by a C program compiled against the header equal the numpy dtypes."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "asicrc_native.h"', "int main(void) {"]
    for name, dtype in RECORDS.items():
        lines.append(f'    printf("{name} %zu\\n", sizeof({name}));')
        for field in dtype.names or ():
            lines.append(f'    printf("{name}.{field} %zu\\n", offsetof({name}, {field}));')
    lines += ["    return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines), encoding="utf-8")
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c11", "-I", SRC, str(src), "-o", str(exe)], check=True)
    got = dict(line.split() for line in subprocess.run([str(exe)], check=True, capture_output=True,
                                                        text=True).stdout.splitlines())
    for name, dtype in RECORDS.items():
        assert int(got[name]) == dtype.itemsize
        for field in dtype.names or ():
            assert int(got[f"{name}.{field}"]) == dtype.fields[field][1], f"{name}.{field}"


def test_a_cdef_that_disagrees_with_the_header_is_refused(tmp_path: Path) -> None:
    """Negative control for the layout check the generated cdef relies on: a module whose cdef declares one field
    of asicrc_reply with the wrong width must be refused by cffi, naming the struct; the same module built from
    the header's own declaration loads and agrees with the compiler."""
    cdef = header_cdef()
    reply = re.search(r"typedef struct \{[^}]*\}\s*asicrc_reply;", cdef)
    assert reply
    declarations = "#define ASICRC_MAX_FRAME 152\n" + reply.group(0)
    wrong = declarations.replace("uint32_t version_bits;", "uint16_t version_bits;", 1)
    assert wrong != declarations

    def build(name: str, text: str) -> int:
        module = FFI()
        module.cdef(text)
        module.set_source(name, '#include "asicrc_native.h"', include_dirs=[SRC])
        module.compile(tmpdir=str(tmp_path))
        sys.path.insert(0, str(tmp_path))
        try:
            built = importlib.import_module(name)
        finally:
            sys.path.remove(str(tmp_path))
        return int(built.ffi.sizeof("asicrc_reply"))

    assert build("_abi_header", declarations) == 32
    with pytest.raises(Exception, match="asicrc_reply"):
        build("_abi_planted", wrong)


def test_record_dtypes_read_real_decoder_output() -> None:
    # the derived dtype is what the decoder fills: a known nonce reply decodes to its fields
    frame = codecs.bm1366_nonce_reply(0x12345678, job_id=0x28, small_core=3, version_bits=0x00A2E000)
    rec = codecs.BM1366Decoder().feed(frame)
    assert rec.dtype == codecs.REPLY_DTYPE and rec.shape == (1,)
    assert int(rec["nonce"][0]) == 0x12345678 and int(rec["job_id"][0]) == 0x28
    assert int(rec["small_core"][0]) == 3 and int(rec["version_bits"][0]) == 0x00A2E000
    assert np.all(rec["crc_ok"] == 1)
