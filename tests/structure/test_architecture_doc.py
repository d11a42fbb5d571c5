"""docs/architecture.md's module map is generated from the code (tools/gen_architecture.py): the committed file is
what the code generates, and a module added to a copy of the tree (the planted change) makes the check fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import gen_architecture  # noqa: E402


def test_every_module_is_in_the_map() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    assert doc == gen_architecture.render(ROOT), "docs/architecture.md is stale: run python tools/gen_architecture.py"
    modules = [p for folder in gen_architecture.LAYERS for p in (ROOT / folder).rglob("*.py")
               if "__pycache__" not in p.parts and (p.parent / "__init__.py").exists()]
    assert len(modules) > 100
    for path in modules:
        label = "`__init__`" if path.name == "__init__.py" else f"`{path.stem}`"
        package = "`asicrc." + ".".join(path.parent.relative_to(ROOT).parts) + "`"
        section = doc.split(f"### {package}", 1)[1].split("\n### ", 1)[0]
        assert f"| {label} |" in section, f"{path.relative_to(ROOT)} is missing from docs/architecture.md"


def _copy(tmp_path: Path) -> Path:
    for folder in (*gen_architecture.LAYERS, "docs"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__", "*.so", "src"))
    return tmp_path


def _check(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = gen_architecture.main(["--check", "--root", str(root)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_a_new_module_makes_the_check_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(tmp_path)
    assert _check(root, capsys)[0] == 0  # the null: an unchanged copy passes
    (root / "drivers" / "stratum" / "planted.py").write_text('"""A planted module nobody documented."""\n')
    rc, out, err = _check(root, capsys)
    assert rc == 1 and "| `planted` | A planted module nobody documented. |" in out and "stale" in err
    assert gen_architecture.main(["--root", str(root)]) == 0
    assert _check(root, capsys)[0] == 0  # regenerating fixes it


def test_a_removed_module_makes_the_check_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(tmp_path)
    (root / "drivers" / "seeds.py").unlink()
    assert _check(root, capsys)[0] == 1


def test_command_line(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_architecture.py"), "--check"], capture_output=True,
                        text=True)
    assert ok.returncode == 0 and "up to date" in ok.stdout


def test_scripts_check_runs_it() -> None:
    assert "tools/gen_architecture.py --check" in (ROOT / "scripts" / "check").read_text()
