"""Layer contracts (tools/check_layers.py, run by scripts/check): the real tree holds them, and every kind of
violation planted in a copy of the tree is reported, exactly once, with its file and line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import check_layers  # noqa: E402

FOLDERS = ("daemon", "drivers", "reservoir", "native", "bench", "tools")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__", "*.so", "src"))
    return tmp_path


def plant(root: Path, rel: str, code: str, *, at_end: bool = True) -> int:
    """Add `code` to a file; returns the line number of its first line."""
    path = root / rel
    text = path.read_text()
    if at_end:
        path.write_text(text + "\n" + code)
        return text.count("\n") + 2
    path.write_text(code + text)  # before the docstring is fine for the checker (it parses, never runs)
    return 1


def rules(violations: list[check_layers.Violation]) -> list[tuple[str, str, int]]:
    return [(v.rule, v.path, v.line) for v in violations]


def test_the_repository_holds_its_contracts() -> None:
    assert [str(v) for v in check_layers.check(ROOT)] == []


def test_copy_is_clean_before_planting(tree: Path) -> None:
    assert check_layers.check(tree) == []  # the null: the copy itself triggers nothing


def test_function_level_import_against_the_layers(tree: Path) -> None:
    line = plant(tree, "native/codecs.py", "def _planted() -> None:\n    from asicrc.drivers.stratum.work import Notify\n")
    assert rules(check_layers.check(tree)) == [("layers", "native/codecs.py", line + 1)]


def test_type_checking_import_against_the_layers(tree: Path) -> None:
    line = plant(tree, "drivers/events.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                 "    from asicrc.daemon.config import Config\n")
    assert rules(check_layers.check(tree)) == [("layers", "drivers/events.py", line + 2)]


def test_relative_import_climbing_into_a_later_layer(tree: Path) -> None:
    line = plant(tree, "reservoir/puf/match.py", "def _planted() -> None:\n    from ...daemon import config\n")
    found = check_layers.check(tree)
    assert rules(found) == [("layers", "reservoir/puf/match.py", line + 1)]
    assert "asicrc.reservoir.puf.match imports asicrc.daemon.config" in found[0].message


@pytest.mark.parametrize("code", [
    "from asicrc.drivers.sim.physics import Physics\n",
    "import asicrc.drivers.sim.params\n",
    "from asicrc.drivers.sim import miner_base\n",  # a submodule through the package
    "from asicrc.drivers.sim import NonceScanner\n",  # a name the package does not export
])
def test_experiments_reach_the_simulator_only_through_its_public_api(tree: Path, code: str) -> None:
    line = plant(tree, "reservoir/tpf/simstream.py", code)
    assert rules(check_layers.check(tree)) == [("sim-api", "reservoir/tpf/simstream.py", line)]


def test_the_public_api_and_drivers_internals_are_allowed(tree: Path) -> None:
    plant(tree, "reservoir/tpf/simstream.py", "from asicrc.drivers.sim import Physics, SimParams, sim_params\n")
    plant(tree, "drivers/rig.py", "from asicrc.drivers.sim.physics import Physics\n")  # inside drivers
    assert check_layers.check(tree) == []


def test_the_backends_cycle_would_be_reported(tree: Path) -> None:
    # the cycle this rule was written for: device_backend importing backends while backends imports it
    plant(tree, "reservoir/device_backend.py", "from .backends import BackendOptions\n")
    found = check_layers.check(tree)
    assert [(v.rule, v.message) for v in found] == [
        ("cycle", "import cycle inside one package: asicrc.reservoir.backends <-> asicrc.reservoir.device_backend")]
    assert found[0].path in {"reservoir/backends.py", "reservoir/device_backend.py"}


def test_a_typing_only_cycle_is_not_a_cycle(tree: Path) -> None:
    plant(tree, "reservoir/backend_api.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
          "    from .backends import EsnBackend\n")
    assert check_layers.check(tree) == []


def test_command_line_exit_status(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_layers.main(["check_layers.py", str(tree)]) == 0 and "layer contracts hold" in capsys.readouterr().out
    plant(tree, "native/hashing.py", "import asicrc.reservoir.narma\n")
    bad = subprocess.run([sys.executable, str(ROOT / "tools" / "check_layers.py"), str(tree)], capture_output=True,
                         text=True)
    assert bad.returncode == 1 and "native/hashing.py" in bad.stdout and "[layers]" in bad.stdout


def test_scripts_check_runs_the_contracts() -> None:
    assert "tools/check_layers.py" in (ROOT / "scripts" / "check").read_text()
