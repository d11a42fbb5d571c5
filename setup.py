"""Package mapping: the card's top-level folders install as one namespace, asicrc.*.

pyproject.toml holds the metadata; this file only computes the package list
(walking each mapped folder) and registers the cffi extension, neither of which
pyproject can express alone. The extension uses only the stable ABI (cffi builds
it with Py_LIMITED_API), so the wheel is tagged cp311-abi3: one wheel for every
CPython >= 3.11.
"""

from __future__ import annotations

import os

from setuptools import setup

ROOTS = {
    "asicrc.daemon": "daemon",
    "asicrc.drivers": "drivers",
    "asicrc.reservoir": "reservoir",
    "asicrc.native": "native",
}


def find_mapped_packages() -> tuple[list[str], dict[str, str]]:
    packages: list[str] = []
    package_dir: dict[str, str] = {}
    for package, folder in ROOTS.items():
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")) and d != "src")
            if "__init__.py" not in files:
                continue
            rel = os.path.relpath(root, folder)
            name = package if rel == "." else package + "." + rel.replace(os.sep, ".")
            packages.append(name)
            package_dir[name] = root
    return packages, package_dir


PACKAGES, PACKAGE_DIR = find_mapped_packages()
# The C sources ship beside the extension as a data-only package (declared, so setuptools does not warn that an
# importable folder is left out of `packages`).
PACKAGES.append("asicrc.native.src")
PACKAGE_DIR["asicrc.native.src"] = os.path.join("native", "src")

setup(
    packages=PACKAGES,
    package_dir=PACKAGE_DIR,
    cffi_modules=["native/build_native.py:ffibuilder"],
    options={"bdist_wheel": {"py_limited_api": "cp311"}},
)
