"""Layer contracts of the asicrc package, checked from the sources (every import statement: module level,
function level and ``if TYPE_CHECKING:`` alike; relative imports resolved).

1. Layers: ``asicrc.native`` -> ``asicrc.drivers`` -> ``asicrc.reservoir`` -> ``asicrc.daemon``. A module may
   import its own layer and the layers before it, never a later one.
2. The simulator's public API: outside ``asicrc.drivers`` (the experiments in reservoir, the daemon, the benches)
   the simulator is reached only through ``asicrc.drivers.sim`` itself and the names in its ``__all__``, never
   through its submodules (``asicrc.drivers.sim.physics`` ...); its command module (``cli_sim``, which the
   ``asicrc`` dispatcher loads) excepted.
3. No import cycles inside one package (modules of one folder importing each other round, at module or function
   level; ``if TYPE_CHECKING:`` imports never run and do not count). Imports of a package's own ``__init__``
   from inside it are not edges (that is how a submodule reaches a sibling).

Why an AST checker and not import-linter: it needs no importable package (the editable install maps
``asicrc.*`` through an import hook such tools do not follow), and rule 2 (the package but not its
submodules, names checked against ``__all__``) is one line here.

Usage:
    python tools/check_layers.py [ROOT]     exit 1 and one line per violation, 0 when the contracts hold
"""

from __future__ import annotations

import ast
import functools
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Installed package -> repository folder (setup.py's ROOTS), in layer order.
LAYERS = {"native": 0, "drivers": 1, "reservoir": 2, "daemon": 3}
PACKAGE = "asicrc"
SIM = "asicrc.drivers.sim"
SCRIPT_FOLDERS = ("bench", "tools")  # not installed; held to rule 2 (they are experiments too)


@dataclass(frozen=True, slots=True)
class Import:
    source: str  # importing module, dotted
    target: str  # imported module, dotted (for `from pkg import name`: pkg.name when that is a module)
    names: tuple[str, ...]  # names taken by `from X import a, b` (empty for `import X`)
    path: str  # repository path of the importing file
    line: int
    typing_only: bool = False  # inside `if TYPE_CHECKING:` (never runs)


@dataclass(frozen=True, slots=True)
class Violation:
    path: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.message}"


def package_modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every installed module (folders with __init__.py, as setup.py walks)."""
    found: dict[str, Path] = {}
    for folder in LAYERS:
        for dirpath, dirs, files in os.walk(root / folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")) and d != "src")
            if "__init__.py" not in files:
                continue
            rel = Path(dirpath).relative_to(root)
            base = ".".join([PACKAGE, *rel.parts])
            for name in sorted(files):
                if name.endswith(".py"):
                    found[base if name == "__init__.py" else f"{base}.{name[:-3]}"] = Path(dirpath, name)
    return found


def script_files(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in SCRIPT_FOLDERS:
        for path in sorted((root / folder).glob("*.py")) if (root / folder).is_dir() else ():
            found[f"{folder}.{path.stem}"] = path
    return found


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


# (line, module or "" for `import X`, names, level, typing_only) per import statement
RawImport = tuple[int, str | None, tuple[str, ...], int, bool]


@functools.lru_cache(maxsize=4096)
def _raw_imports(text: str, filename: str) -> tuple[RawImport, ...]:
    """The import statements of a source text (cached by content: the tests check many near-identical trees)."""
    tree = ast.parse(text, filename=filename)
    out: list[RawImport] = []
    for node, t_only in _import_statements(tree.body, False):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, None, (alias.name,), 0, t_only) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.append((node.lineno, node.module or "", tuple(a.name for a in node.names), node.level, t_only))
    return tuple(out)


def imports_of(module: str, path: Path, root: Path, modules: dict[str, Path]) -> list[Import]:
    rel_path = str(path.relative_to(root))
    package_parts = module.split(".") if _is_package(path) else module.split(".")[:-1]
    out: list[Import] = []
    for line, from_module, names, level, t_only in _raw_imports(path.read_text(), rel_path):
        if from_module is None:  # `import a.b`
            out.append(Import(module, names[0], (), rel_path, line, t_only))
            continue
        if level:
            if level - 1 > len(package_parts):
                raise SyntaxError(f"{rel_path}:{line}: relative import beyond the top package")
            base = package_parts[:len(package_parts) - (level - 1)]
            target = ".".join([*base, *([from_module] if from_module else [])])
        else:
            target = from_module
        submodules = [n for n in names if f"{target}.{n}" in modules]
        for n in submodules:  # `from pkg import mod`: an import of pkg.mod
            out.append(Import(module, f"{target}.{n}", (), rel_path, line, t_only))
        rest = tuple(n for n in names if n not in submodules)
        if rest or not submodules:
            out.append(Import(module, target, rest, rel_path, line, t_only))
    return out


def _import_statements(body: list[ast.stmt], typing_only: bool) -> Iterator[tuple[ast.stmt, bool]]:
    """Every import statement at any depth (functions, classes, if/try/with/match blocks), with whether it sits
    under `if TYPE_CHECKING:`. Imports are statements, so expressions are never walked (that keeps this fast)."""
    for stmt in body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            yield stmt, typing_only
            continue
        if isinstance(stmt, ast.If):
            test = stmt.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
            yield from _import_statements(stmt.body, typing_only or name == "TYPE_CHECKING")
            yield from _import_statements(stmt.orelse, typing_only)
            continue
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list):
                yield from _import_statements([n for n in inner if isinstance(n, ast.stmt)], typing_only)
        for handler in getattr(stmt, "handlers", ()):  # try/except
            yield from _import_statements(handler.body, typing_only)
        for case in getattr(stmt, "cases", ()):  # match
            yield from _import_statements(case.body, typing_only)


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == PACKAGE:
        return LAYERS.get(parts[1])
    return None


def _public_names(root: Path) -> set[str]:
    """The names in asicrc.drivers.sim.__all__ (rule 2)."""
    tree = ast.parse((root / "drivers" / "sim" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            value = ast.literal_eval(node.value)
            return {str(v) for v in value}
    return set()


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def check(root: Path) -> list[Violation]:
    root = root.resolve()
    modules = package_modules(root)
    public = _public_names(root)
    violations: list[Violation] = []
    all_imports: list[Import] = []
    for module, path in {**modules, **script_files(root)}.items():
        all_imports.extend(imports_of(module, path, root, modules))
    for imp in all_imports:
        src_layer, dst_layer = _layer(imp.source), _layer(imp.target)
        if src_layer is not None and dst_layer is not None and dst_layer > src_layer:
            violations.append(Violation(imp.path, imp.line, "layers",
                                        f"{imp.source} imports {imp.target}: "
                                        f"{imp.source.split('.')[1]} may not import {imp.target.split('.')[1]} "
                                        "(native -> drivers -> reservoir -> daemon)"))
        outside_drivers = not imp.source.startswith("asicrc.drivers.") and imp.source != "asicrc.drivers"
        is_command = imp.target.rsplit(".", 1)[-1].startswith("cli_")  # `asicrc sim`: the package's command
        if outside_drivers and imp.target.startswith(SIM + ".") and not is_command:
            violations.append(Violation(imp.path, imp.line, "sim-api",
                                        f"{imp.source} imports simulator internals {imp.target}: use "
                                        f"{SIM} (its __all__) instead"))
        elif outside_drivers and imp.target == SIM:
            for name in imp.names:
                if name != "*" and name not in public:
                    violations.append(Violation(imp.path, imp.line, "sim-api",
                                                f"{imp.source} imports {name!r} from {SIM}, which is not in its "
                                                "__all__ (the simulator's public API)"))
    # rule 3: cycles inside one package folder
    edges: dict[str, set[str]] = {}
    where: dict[tuple[str, str], Import] = {}
    for imp in all_imports:
        if imp.typing_only or imp.source not in modules or imp.target not in modules:
            continue
        src_pkg = imp.source if _is_package(modules[imp.source]) else imp.source.rsplit(".", 1)[0]
        dst_pkg = imp.target if _is_package(modules[imp.target]) else imp.target.rsplit(".", 1)[0]
        if src_pkg != dst_pkg or imp.target == src_pkg or imp.source == imp.target:
            continue  # another package, or a submodule reaching its own package's __init__
        edges.setdefault(imp.source, set()).add(imp.target)
        where.setdefault((imp.source, imp.target), imp)
    for comp in _cycles(edges):
        first = min((where[(a, b)] for a in comp for b in comp if (a, b) in where), key=lambda i: (i.path, i.line))
        violations.append(Violation(first.path, first.line, "cycle",
                                    f"import cycle inside one package: {' <-> '.join(comp)}"))
    return sorted(violations, key=lambda v: (v.path, v.line, v.rule))


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    violations = check(root)
    for v in violations:
        print(v)
    if violations:
        print(f"layer contracts: {len(violations)} violation(s)", file=sys.stderr)
        return 1
    print(f"layer contracts hold ({len(package_modules(root))} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
