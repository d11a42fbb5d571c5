"""The wheel a packager builds: tagged cp311-abi3 (its extension uses only the stable ABI), with the licence file
and SPDX licence expression, py.typed in every asicrc.* package, the C sources, and nothing installed at top
level but ``asicrc``."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("daemon", "drivers", "reservoir", "native")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # no build isolation: the build requirements are the venv's (scripts/_env.sh installs setuptools>=77)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-build-isolation", "--no-deps", "-q",
                    "-w", str(out)], check=True, capture_output=True, timeout=600)
    (built,) = out.glob("*.whl")
    return built


@pytest.mark.slow
def test_wheel_is_tagged_abi3(wheel: Path) -> None:
    assert wheel.name.startswith("asicrc-0.1.0-cp311-abi3-"), wheel.name
    with zipfile.ZipFile(wheel) as z:
        meta = z.read("asicrc-0.1.0.dist-info/WHEEL").decode()
        extensions = [n for n in z.namelist() if n.endswith(".so")]
    assert "Root-Is-Purelib: false" in meta
    tags = [line.split(": ", 1)[1] for line in meta.splitlines() if line.startswith("Tag: ")]
    assert tags and all(t.startswith("cp311-abi3-") for t in tags), tags
    assert extensions == ["asicrc/native/_core.abi3.so"]


@pytest.mark.slow
def test_wheel_contents(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read("asicrc-0.1.0.dist-info/METADATA").decode()
    assert {n.split("/")[0] for n in names} == {"asicrc", "asicrc-0.1.0.dist-info"}  # no top-level daemon/drivers
    for package in PACKAGES:
        assert f"asicrc/{package}/py.typed" in names, package
    assert "asicrc-0.1.0.dist-info/licenses/LICENSE" in names
    assert "License-Expression: MIT" in metadata.splitlines()
    assert {"asicrc/native/src/asicrc_native.h", "asicrc/native/src/sha256.c"} <= names
    assert "asicrc/daemon/default.toml" in names


def test_license_and_build_floor_match_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    # a license string (SPDX expression) needs setuptools >= 77 (PEP 639); older ones reject or misread it
    requires = project["build-system"]["requires"]
    assert "setuptools>=77" in requires, requires
    for package in PACKAGES:
        assert (ROOT / package / "py.typed").is_file(), package
    assert (ROOT / "CHANGELOG.md").is_file()
