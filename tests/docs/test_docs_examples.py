"""Docs as tests: every command in a shell block of README.md and docs/*.md is accounted for, by kind, or its block
is marked `<!-- needs hardware: why -->` / `<!-- needs a host: why -->` on the line before its fence; docs name only
files that ship here. An unmarked block with a command of no known kind fails (program output belongs in ```text).

Kinds (classify()): `asicrc ...` runs as below; `bench/*.py` lines are checked, not run (a bench run takes minutes):
the script exists and its `--help` lists every flag the line gives; `pytest` lines: every path exists and
`pytest --collect-only` finds tests under it; `./scripts/*` and `tools/*.sh`: exist, are executable and parse
(`bash -n`); `lake build` and host-install steps (sudo, systemctl, apt-get, mosquitto_passwd, journalctl) must be
marked, as neither a Lean toolchain nor root on a systemd host is here.

Each `asicrc` line of a block runs in bash, in a fresh directory, against the simulator, with one change: the
size flags in SMALL get small values (a 1e6-hash TPF run becomes 2e4 hashes), so the whole file stays fast.
`asicrc status`/`query` lines talk to a real daemon (no devices) on a real mosquitto, found through
$ASICRC_CONFIG exactly as a user's shell would.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_FENCES = {"", "sh", "bash", "shell", "console"}
HARDWARE = re.compile(r"<!--\s*needs (?:hardware|a host):\s*(\S.*?)\s*-->")
SMALL = {"--hashes": "2e4", "--toy-hashes": "2e4", "--telemetry-seconds": "300", "--seeds": "1",
         "--steps": "301", "--devices": "3", "--calibration-devices": "2", "--blocks": "2", "--block-s": "5"}
# size options whose defaults are large, added (small) when a command does not give them
SMALL_DEFAULTS = {("asicrc", "tpf"): ("--telemetry-seconds", "--toy-hashes", "--seeds", "--test-hashes")}
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    info: str
    lines: tuple[str, ...]
    hardware: str  # reason from the marker, "" if unmarked

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def commands(self) -> list[str]:
        out = []
        for raw in self.lines:
            text = raw.strip()
            text = text[2:] if text.startswith("$ ") else text
            if invokes_asicrc(text):
                out.append(text)
        return out


def invokes_asicrc(line: str) -> bool:
    """`asicrc ...`, or asicrc by a path (`/opt/asicrc/venv/bin/asicrc ...`): an example of this project's CLI."""
    first = line.split(maxsplit=1)[0] if line.split() else ""
    return first == "asicrc" or first.endswith("/asicrc")


def blocks() -> list[Block]:
    found = []
    for path in DOCS:
        lines = path.read_text().splitlines()
        i = 0
        while i < len(lines):
            m = re.match(r"^\s*```(\S*)\s*$", lines[i])
            if not m:
                i += 1
                continue
            start, body = i, []
            i += 1
            while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
                body.append(lines[i])
                i += 1
            i += 1
            marker = HARDWARE.search(lines[start - 1]) if start > 0 else None
            found.append(Block(path, start + 1, m.group(1), tuple(body), marker.group(1) if marker else ""))
    return found


def asicrc_blocks() -> list[Block]:
    out = []
    for b in blocks():
        first = next((ln.strip() for ln in b.lines if ln.strip() and not ln.strip().startswith("#")), "")
        first = first[2:] if first.startswith("$ ") else first
        if b.info in SHELL_FENCES and invokes_asicrc(first):
            out.append(b)
    return out


def shrink(command: str) -> str:
    words = shlex.split(command, comments=True)
    for i, w in enumerate(words[:-1]):
        if w in SMALL:
            words[i + 1] = SMALL[w]
    for flag in SMALL_DEFAULTS.get((words[0], words[1]) if len(words) > 1 else ("", ""), ()):
        if flag not in words:
            words += [flag, SMALL.get(flag, "2e4")]
    return shlex.join(words)


RUN = [b for b in asicrc_blocks() if not b.hardware]


def test_blocks_are_found_and_each_is_run_or_marked() -> None:
    every = asicrc_blocks()
    assert len(every) >= 6, [b.name for b in every]  # the parser sees the docs' blocks (a broken one sees none)
    marked = [b for b in every if b.hardware]
    assert marked and RUN and len(marked) + len(RUN) == len(every)
    for b in every:
        assert b.commands(), f"{b.name}: starts with asicrc but has no command line"


def test_docs_name_only_files_that_ship() -> None:
    machine = re.compile(r"\.\./shared|/work/|/home/|/root/")  # a /tmp scratch file in an example is fine
    # repository paths named in the docs, e.g. `docs/install.md`, bench/bench_fleet.py, tests/stratum/
    repo_path = re.compile(r"(?<![\w./-])((?:docs|bench|tests|daemon|drivers|reservoir|native|systemd|scripts|lean"
                           r"|tools)/[\w./-]*[\w/])")
    problems = []
    for path in DOCS:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if machine.search(line):
                problems.append(f"{path.relative_to(ROOT)}:{n}: machine path: {line.strip()[:100]}")
            for m in repo_path.finditer(line):
                name = m.group(1).rstrip(".")
                if re.search(r"/[A-Z]", name):
                    continue  # prose such as systemd/MQTT/Prometheus, not a path
                # a file or folder, or a module (daemon/mqtt) or a module attribute (daemon/wiring.make_reservoir)
                if not any((ROOT / c).exists() for c in (name, f"{name}.py", f"{name.split('.')[0]}.py")):
                    problems.append(f"{path.relative_to(ROOT)}:{n}: {name} does not exist")
    assert not problems, "\n".join(problems)


def test_shrink_changes_only_sizes() -> None:
    assert shrink("asicrc narma --steps 1000 --out x   # note") == "asicrc narma --steps 301 --out x"
    assert shrink("asicrc tpf --rounds 5 --hashes 1e6") == ("asicrc tpf --rounds 5 --hashes 2e4 --telemetry-seconds "
                                                            "300 --toy-hashes 2e4 --seeds 1 --test-hashes 2e4")
    assert shrink("asicrc query start_narma '{\"steps\": 2000}'") == "asicrc query start_narma '{\"steps\": 2000}'"


@pytest.fixture(scope="module")
def daemon_env(tmp_path_factory: pytest.TempPathFactory):
    """A running daemon without devices on a real broker; its config is $ASICRC_CONFIG for the examples."""
    sys.path.insert(0, str(ROOT / "tests" / "daemon"))
    from conftest import Broker, find_tool
    from daemon_harness import DaemonProc

    work = tmp_path_factory.mktemp("docs-daemon")
    broker = Broker(find_tool("mosquitto"), work)
    broker.start()
    d = DaemonProc(work, broker, extra='allow_commands = ["start_narma", "stop_experiment"]',
                   devices="[stratum]\nenabled = false\n[tpf]\nenabled = false\n")
    try:
        d.notify.wait_for("READY=1", 30)
        yield {"ASICRC_CONFIG": str(d.config_path)}
    finally:
        d.stop()
        broker.stop()


@pytest.mark.slow
@pytest.mark.parametrize("block", RUN, ids=[b.name for b in RUN])
def test_block_runs_as_written(block: Block, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", MPLBACKEND="Agg")
    if any(c.startswith(("asicrc status", "asicrc query")) for c in block.commands()):
        env.update(request.getfixturevalue("daemon_env"))
    for command in block.commands():
        small = shrink(command)
        proc = subprocess.run(["bash", "-c", small], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=240)
        assert proc.returncode == 0, f"{block.name}: `{small}` exited {proc.returncode}:\n{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr, proc.stderr[-2000:]


# --- every other shell line, by kind ------------------------------------------------------------------------------

HOST_TOOLS = ("sudo", "systemctl", "apt-get", "mosquitto_passwd", "journalctl")
HOST = re.compile(r"(?:^|[|&;(`]|\$\()\s*(?:" + "|".join(map(re.escape, HOST_TOOLS)) + r")\b")
PYTHONS = {".venv/bin/python", "python", "python3"}
PYTESTS = {".venv/bin/pytest", "pytest"}
# kinds a block may hold only under a marker: nothing here can run them
NEEDS_MARKER = {"host", "lean", "unknown"}


def shell_commands(lines: tuple[str, ...], console: bool = False) -> list[str]:
    """The commands of a shell block: comments and blank lines dropped, `$ ` prompts stripped, a line ending in
    `|`, `\\` or `&&` joined with the next (the docs wrap long pipelines). In a ```console block only `$ ` lines
    are commands; the rest is their output."""
    out: list[str] = []
    pending = ""
    for raw in lines:
        text = raw.strip()
        if console and not pending and not text.startswith("$ "):
            continue
        text = text[2:] if text.startswith("$ ") else text
        if not text or text.startswith("#"):
            continue
        text = f"{pending} {text}".strip() if pending else text
        if text.endswith("\\"):
            pending = text[:-1].rstrip()
        elif text.endswith(("|", "&&")):
            pending = text
        else:
            out.append(text)
            pending = ""
    if pending:
        out.append(pending)
    return out


def program_words(command: str) -> list[str]:
    """The words of a command from its program on: `VAR=1` assignments and a `nice -n N` prefix dropped."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:  # an unbalanced quote: not a command as written
        return []
    while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
        words = words[1:]
    if words[:1] == ["nice"]:
        words = words[3:] if words[1:2] == ["-n"] else words[1:]
    return words


def classify(command: str) -> str:
    if HOST.search(command):
        return "host"
    words = program_words(command)
    if not words:
        return "unknown"
    if "lake build" in command:
        return "lean"
    if invokes_asicrc(words[0]):
        return "asicrc"
    if words[0] in PYTHONS and len(words) > 1 and re.fullmatch(r"bench/bench_\w+\.py", words[1]):
        return "bench"
    if words[0] in PYTESTS or (words[0] in PYTHONS and words[1:3] == ["-m", "pytest"]):
        return "pytest"
    if re.fullmatch(r"(\./)?scripts/\w+|tools/[\w-]+\.sh", words[0]):
        return "script"
    return "unknown"


@dataclass(frozen=True)
class Line:
    block: Block
    command: str
    kind: str


def shell_lines() -> list[Line]:
    return [Line(b, c, classify(c)) for b in blocks() if b.info in SHELL_FENCES
            for c in shell_commands(b.lines, console=b.info == "console")]


LINES = shell_lines()


def of_kind(kind: str) -> list[Line]:
    return [ln for ln in LINES if ln.kind == kind]


def bench_flags(command: str) -> tuple[str, list[str]]:
    words = program_words(command)
    return words[1], [w.split("=", 1)[0] for w in words[2:] if w.startswith("--")]


def pytest_paths(command: str) -> list[str]:
    words = program_words(command)
    words = words[3:] if words[0] in PYTHONS else words[1:]
    return [w.rstrip("/") for w in words if not w.startswith("-")]


class Background:
    """The subprocess checks (each bench script's --help, one pytest --collect-only over every path the docs name),
    started together at this module's first test so they overlap the slow `asicrc` runs instead of adding to them."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        scripts = sorted({bench_flags(ln.command)[0] for ln in of_kind("bench")} & {
            str(p.relative_to(ROOT)) for p in (ROOT / "bench").glob("bench_*.py")})
        self.helps = {s: subprocess.Popen([sys.executable, s, "--help"], cwd=ROOT, env=env, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for s in scripts}
        paths = sorted({p for ln in of_kind("pytest") for p in pytest_paths(ln.command) if (ROOT / p).exists()})
        self.collect = subprocess.Popen([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p",
                                         "no:cacheprovider", *paths], cwd=ROOT, env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def help_text(self, script: str) -> str:
        out, _ = self.helps[script].communicate(timeout=120)
        assert self.helps[script].returncode == 0, f"{script} --help exited {self.helps[script].returncode}:\n{out}"
        return out

    def collected(self) -> list[str]:
        out, _ = self.collect.communicate(timeout=300)
        assert self.collect.returncode == 0, f"pytest --collect-only failed:\n{out[-3000:]}"
        return [ln for ln in out.splitlines() if "::" in ln]


@pytest.fixture(scope="module", autouse=True)
def background() -> Iterator[Background]:
    bg = Background()
    yield bg
    for proc in [*bg.helps.values(), bg.collect]:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_classifier_sorts_known_commands_and_flags_the_rest() -> None:
    assert classify("asicrc narma --steps 10") == "asicrc"
    assert classify("ASICRC_NO_SHANI=1 .venv/bin/python bench/bench_tpf.py --n 5") == "bench"
    assert classify("nice -n 10 .venv/bin/python bench/bench_hostile.py --json /tmp/x") == "bench"
    assert classify(".venv/bin/pytest -q tests/sim") == "pytest"
    assert classify("./scripts/test") == "script" and classify("tools/fuzz_decoder.sh [RUNS]") == "script"
    assert classify("cd lean && lake build") == "lean"
    assert classify("sudo systemctl daemon-reload") == "host"
    assert classify('kill -HUP "$(systemctl show -p MainPID --value asicrc)"') == "host"
    assert classify("/opt/asicrc/venv/bin/asicrc run --print-allowlist | sudo tee /x") == "host"
    # negative controls: program output, a diagram and an unknown tool are not commands of a known kind
    for text in ["fleet CPU: 2.75 s = 0.092 of one core", "real or simulated device", "make install",
                 ".venv/bin/python tools/gen_architecture.py"]:
        assert classify(text) == "unknown", text
    assert shell_commands(("$ printf 'a' |", "    sudo tee /x   # why", "# note", "")) == ["printf 'a' | sudo tee /x   # why"]
    assert shell_commands(("$ asicrc probe h:1", "h:1  rpc4028  model: S9"), console=True) == ["asicrc probe h:1"]
    assert bench_flags("nice -n 10 .venv/bin/python bench/bench_x.py --a 1 --b=2 -q") == ("bench/bench_x.py",
                                                                                           ["--a", "--b"])
    assert pytest_paths(".venv/bin/pytest -q tests/tpf/  # ~20 s") == ["tests/tpf"]


def test_every_shell_line_has_a_kind_or_its_block_is_marked() -> None:
    kinds = {k: len(of_kind(k)) for k in ("asicrc", "bench", "pytest", "script", "lean", "host")}
    assert all(kinds.values()), kinds  # the docs hold each kind (a broken parser sees none)
    problems = [f"{ln.block.name}: {ln.kind} line needs a `<!-- needs hardware|a host: why -->` marker: {ln.command}"
                for ln in LINES if ln.kind in NEEDS_MARKER and not ln.block.hardware]
    assert not problems, "\n".join(problems) + "\n(program output goes in a ```text block)"
    unrun = [f"{ln.block.name}: {ln.command}" for ln in of_kind("asicrc") if not ln.block.hardware and ln.block not in RUN]
    assert not unrun, f"asicrc lines in a block that does not start with asicrc (so it is not run): {unrun}"


@pytest.mark.parametrize("line", of_kind("bench"), ids=[f"{ln.block.name}:{ln.command[:40]}" for ln in of_kind("bench")])
def test_bench_line_names_a_script_whose_parser_accepts_every_flag(line: Line, background: Background) -> None:
    """Checked, not run: a bench run is minutes long. Its --help must list each flag the line passes."""
    script, flags = bench_flags(line.command)
    assert (ROOT / script).is_file(), f"{line.block.name}: {script} does not exist"
    usage = background.help_text(script)
    missing = [f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", usage)]
    assert not missing, f"{line.block.name}: {script} does not accept {missing}"


def test_bench_flag_check_rejects_an_unknown_flag(background: Background) -> None:
    script = bench_flags(of_kind("bench")[0].command)[0]
    usage = background.help_text(script)
    assert "--help" in usage and not re.search(r"(?<![\w-])--no-such-flag(?![\w-])", usage)


def test_pytest_lines_name_paths_that_collect_tests(background: Background) -> None:
    lines = of_kind("pytest")
    paths = {p: ln for ln in lines for p in pytest_paths(ln.command)}
    assert paths and all(pytest_paths(ln.command) for ln in lines)
    missing = [f"{ln.block.name}: {p}" for p, ln in paths.items() if not (ROOT / p).exists()]
    assert not missing, f"paths that do not exist: {missing}"
    collected = background.collected()
    empty = [f"{ln.block.name}: {p}" for p, ln in paths.items()
             if not any(c == p or c.startswith(f"{p}/") or c.startswith(f"{p}::") for c in collected)]
    assert not empty, f"no tests collected under {empty}"


def test_script_lines_name_executable_scripts_that_parse() -> None:
    for ln in of_kind("script"):
        path = ROOT / program_words(ln.command)[0]
        assert path.is_file() and os.access(path, os.X_OK), f"{ln.block.name}: {path.name} missing or not executable"
        proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{ln.block.name}: {path.name}: {proc.stderr}"
    # what runs them: CI runs ./scripts/test; ./scripts/run execs `asicrc run` on the embedded default fleet,
    # which tests/daemon/test_daemon_default_fleet_shares.py starts and scrapes
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text()
    assert re.search(r'^exec asicrc run "\$@"$', (ROOT / "scripts" / "run").read_text(), re.M)
    assert '[ASICRC, "run"' in (ROOT / "tests" / "daemon" / "test_daemon_default_fleet_shares.py").read_text()


def test_lean_and_host_lines_are_marked_with_a_reason() -> None:
    for ln in of_kind("lean") + of_kind("host"):
        assert len(ln.block.hardware) > 10, f"{ln.block.name}: marker without a reason"
    assert all((ROOT / "lean" / f).is_file() for f in ("lakefile.lean", "lean-toolchain"))
