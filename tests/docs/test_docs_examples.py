"""Docs as tests: every shell block in README.md and docs/*.md that starts with `asicrc` runs as written, or is
marked `<!-- needs hardware: why -->` on the line before its fence; docs name only files that ship here.

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
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_FENCES = {"", "sh", "bash", "shell", "console"}
HARDWARE = re.compile(r"<!--\s*needs hardware:\s*(\S.*?)\s*-->")
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
