"""mypy --strict over the sources as the installed ``asicrc`` package, plus bench/ and tools/.

The editable install maps ``asicrc.daemon`` -> ``daemon/`` (and so on) through setuptools' import hook, which
mypy cannot follow: every ``asicrc.*`` import would be unresolved. So this script lays out a tree of symlinks
under ``build/typecheck/asicrc/`` mirroring the installed layout (the same package walk as setup.py), adds a
typed stub for the compiled cffi module ``asicrc.native._core`` (generated from the compiled module itself, so
it says exactly what the C core exports), and runs mypy on it with the settings of pyproject.toml.

Usage:
    python tools/typecheck.py              check; exit status is mypy's
    python tools/typecheck.py --control    negative control: plant cross-package errors in a copy of
                                           daemon/app.py inside a second tree and require mypy to report
                                           exactly them (exit 0 when it does, 1 when the checker is blind)

Error paths are printed as repository paths (daemon/app.py, not build/typecheck/asicrc/daemon/app.py).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Installed package -> repository folder (setup.py's ROOTS).
PACKAGE_FOLDERS = {"daemon": "daemon", "drivers": "drivers", "reservoir": "reservoir", "native": "native"}
SCRIPT_FOLDERS = ("bench", "tools")

# The negative control: calls that are wrong only when the callee's signature in another package is known.
PLANTED_FILE = "daemon/app.py"
PLANTED_CODE = '''

def _planted_cross_package_errors() -> None:
    from asicrc.drivers.clock import Clock
    from asicrc.native import sha256d

    Clock("fast", 1, 2, 3)  # PLANTED: too many arguments / wrong type
    sha256d(12345)  # PLANTED: int is not bytes
'''


def package_files(root: Path) -> list[Path]:
    """Source files of every installed package, relative to root (folders with __init__.py, as setup.py)."""
    found: list[Path] = []
    for folder in PACKAGE_FOLDERS.values():
        for dirpath, dirs, files in os.walk(root / folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")) and d != "src")
            if "__init__.py" not in files:
                continue
            found.extend(Path(dirpath, f).relative_to(root) for f in sorted(files) if f.endswith((".py", ".pyi")))
    return found


# The part of cffi's FFI object that asicrc uses, typed. cffi's own stubs (types-cffi) take only objects with
# ``__buffer__`` for from_buffer, which numpy arrays declare only from Python 3.12 on.
_FFI_STUB = """
class CData:
    \"\"\"A cffi cdata (pointer or array of C numbers); items read and write as Python numbers.\"\"\"
    def __getitem__(self, index: int, /) -> int: ...
    def __setitem__(self, index: int, value: int, /) -> None: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[int]: ...

class _Buffer:
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __len__(self) -> int: ...

class _CField:
    type: _CType
    offset: int

class _CType:
    kind: str
    cname: str
    item: _CType
    length: int | None
    args: tuple[_CType, ...]
    result: _CType
    fields: list[tuple[str, _CField]]
"""

_FFI_METHODS = """
    NULL: CData
    def from_buffer(self, cdecl_or_buffer: object, python_buffer: object = ..., /,
                    require_writable: bool = ...) -> CData: ...
    def buffer(self, cdata: CData, size: int = ..., /) -> _Buffer: ...
    def memmove(self, dest: CData, src: CData | bytes | bytearray, n: int, /) -> None: ...
    def sizeof(self, cdecl: str | CData, /) -> int: ...
    def offsetof(self, cdecl: str, *fields: str | int) -> int: ...
    def typeof(self, cdecl: str | object, /) -> _CType: ...
    def list_types(self) -> tuple[list[str], list[str], list[str]]: ...
"""


def core_stub() -> str:
    """A .pyi for asicrc.native._core from the compiled module: every constant and function of ``lib``, the
    structs' fields (``ffi.new("asicrc_decoder *").frames`` is an int), and the ffi methods asicrc calls."""
    from asicrc.native._core import ffi, lib

    def py_type(ctype: object, *, arg: bool) -> str:
        kind = getattr(ctype, "kind", "")
        cname = getattr(ctype, "cname", "")
        if kind == "void":
            return "None"
        if kind == "primitive":
            return "float" if cname in ("float", "double") else "int"
        if kind in ("pointer", "array"):
            # cffi accepts bytes for char-sized pointers; the C core takes no other Python objects
            item = getattr(getattr(ctype, "item", None), "cname", "")
            return "CData | bytes" if arg and item in ("uint8_t", "char", "unsigned char") else "CData"
        raise TypeError(f"asicrc.native._core: no Python type for C type {cname!r}")

    lines = [
        "# Generated by tools/typecheck.py from the compiled asicrc.native._core; not committed, do not edit.",
        "from collections.abc import Iterator",
        "from typing import Literal, overload",
        _FFI_STUB,
    ]
    typedefs = sorted(ffi.list_types()[0])
    for name in typedefs:
        lines.append(f"class _{name}_p(CData):")
        for field, cfield in ffi.typeof(name).fields:
            lines.append(f"    {field}: {py_type(cfield.type, arg=False)}")
        lines.append("")
    lines.append("class _FFI:")
    for name in typedefs:
        lines += [
            "    @overload",
            f'    def new(self, cdecl: Literal["{name} *"], init: object = ..., /) -> _{name}_p: ...',
        ]
    lines += [
        "    @overload",
        "    def new(self, cdecl: str, init: object = ..., /) -> CData: ...",
        _FFI_METHODS,
        "ffi: _FFI",
        "",
        "class _Lib:",
    ]
    for name in sorted(dir(lib)):
        obj = getattr(lib, name)
        if isinstance(obj, int):
            lines.append(f"    {name}: int")
            continue
        fn = ffi.typeof(obj)
        params = "".join(f", a{i}: {py_type(a, arg=True)}" for i, a in enumerate(fn.args))
        lines.append(f"    def {name}(self{params}{', /' if fn.args else ''}) -> {py_type(fn.result, arg=False)}: ...")
    lines += ["", "lib: _Lib", ""]
    return "\n".join(lines)


def build_tree(root: Path, dest: Path, stub: str, overrides: dict[str, str] | None = None) -> None:
    """dest/asicrc/<package>/... -> symlinks to root's files (or a written copy for paths in overrides)."""
    overrides = overrides or {}
    if dest.exists():
        shutil.rmtree(dest)
    for rel in package_files(root):
        package = next(p for p, f in PACKAGE_FOLDERS.items() if rel.parts[0] == f)
        target = dest / "asicrc" / package / Path(*rel.parts[1:])
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.as_posix() in overrides:
            target.write_text(overrides[rel.as_posix()], encoding="utf-8")
        else:
            target.symlink_to(root / rel)
    (dest / "asicrc" / "native" / "_core.pyi").write_text(stub, encoding="utf-8")


def script_files(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for folder in SCRIPT_FOLDERS for p in sorted((root / folder).glob("*.py"))]


def run_mypy(root: Path, tree: Path, cache: Path) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(root / "pyproject.toml"), "--cache-dir", str(cache)]
    # Module names from the search path (MYPYPATH=tree: asicrc.daemon.app) and, for the scripts, from the
    # working directory (bench.bench_native), never from walking up to the last __init__.py (daemon.app).
    cmd += ["--explicit-package-bases"]
    cmd += [os.path.relpath(tree / "asicrc" / package, root) for package in PACKAGE_FOLDERS]
    cmd += script_files(root)
    env = dict(os.environ, MYPYPATH=str(tree))
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    out = proc.stdout + proc.stderr
    # build/typecheck/asicrc/daemon/app.py -> daemon/app.py (the file a reader opens)
    prefix = re.escape(os.path.relpath(tree, root) + os.sep + "asicrc" + os.sep)
    out = re.sub(prefix + r"(\w+)" + re.escape(os.sep), lambda m: PACKAGE_FOLDERS[m.group(1)] + os.sep, out)
    return proc.returncode, out


def control(root: Path, stub: str) -> int:
    """Plant PLANTED_CODE into a copy of PLANTED_FILE and require one mypy error per planted line, nothing else."""
    planted_path = root / PLANTED_FILE
    source = planted_path.read_text(encoding="utf-8")
    planted = source + PLANTED_CODE
    lines = planted.splitlines()
    expected = {i + 1 for i, line in enumerate(lines) if "# PLANTED" in line}
    tree = root / "build" / "typecheck-control"
    # start from the real check's cache so only the planted module and its dependents are re-checked
    cache = root / "build" / "typecheck-control-cache"
    real_cache = root / "build" / "typecheck-cache"
    if real_cache.is_dir() and not cache.exists():
        shutil.copytree(real_cache, cache)
    build_tree(root, tree, stub, {PLANTED_FILE: planted})
    rc, out = run_mypy(root, tree, cache)
    reported = {
        int(m.group(1)) for m in re.finditer(rf"^{re.escape(PLANTED_FILE)}:(\d+): error:", out, re.MULTILINE)
    }
    other = [ln for ln in out.splitlines() if ": error:" in ln and not ln.startswith(PLANTED_FILE + ":")]
    if rc != 0 and reported == expected and not other:
        print(f"negative control: mypy caught all {len(expected)} planted cross-package errors in {PLANTED_FILE}")
        return 0
    print(out, end="")
    print(
        f"negative control FAILED: planted errors on lines {sorted(expected)} of {PLANTED_FILE}, mypy (exit {rc}) "
        f"reported {sorted(reported)} there and {len(other)} elsewhere",
        file=sys.stderr,
    )
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="repository to check (default: this one)")
    parser.add_argument("--control", action="store_true", help="run the planted-error negative control instead")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    stub = core_stub()
    if args.control:
        return control(root, stub)
    tree = root / "build" / "typecheck"
    build_tree(root, tree, stub)
    rc, out = run_mypy(root, tree, root / "build" / "typecheck-cache")
    print(out, end="")
    return rc


if __name__ == "__main__":
    sys.exit(main())
