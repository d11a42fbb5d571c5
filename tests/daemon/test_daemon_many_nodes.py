"""Several daemons on one broker (the multi-daemon topology of docs/install.md): `asicrc status --all` lists
20 live nodes in under 3 s, and a stopped one as offline."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

from daemon_harness import ASICRC, DaemonProc, module_broker  # noqa: F401

from asicrc.daemon.client import survey
from asicrc.daemon.config import MqttConfig

# no devices, no pools, no reservoir, no TPF: each daemon is only its MQTT side (tests/daemon/test_daemon_node_identity)
BARE = "[stratum]\nenabled = false\n[reservoir]\nenabled = false\n[tpf]\nenabled = false\n"
NODES = 20


def test_status_all_lists_twenty_daemons_quickly(module_broker, tmp_path: Path) -> None:  # noqa: F811
    codes: dict[str, int] = {}
    daemons = [DaemonProc(tmp_path, module_broker, node=f"fleet{i:02d}", devices=BARE, prom_port=0) for i in range(NODES)]
    try:
        for d in daemons:
            d.notify.wait_for("READY=1", 150)  # 20 interpreters starting at once on 2 cores
        codes[daemons[-1].node] = daemons[-1].stop()  # a clean stop leaves a retained "offline"
        assert codes[daemons[-1].node] == 0
        # the survey `status --all` runs, timed without the CLI's interpreter start-up (about 0.5 s of imports,
        # which says nothing about how the survey scales with daemons and swings with the machine's load)
        t0 = time.monotonic()
        surveyed = asyncio.run(survey(MqttConfig(host="127.0.0.1", port=module_broker.port), 10.0))
        took = time.monotonic() - t0
        out = subprocess.run([ASICRC, "status", "--all", "--json", "--port", str(module_broker.port)],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        nodes = json.loads(out.stdout)
        assert {n: e["status"] for n, e in surveyed.items()} == {n: e["status"] for n, e in nodes.items()}
        assert {n: e["status"] for n, e in nodes.items() if n.startswith("fleet")} == {
            **{f"fleet{i:02d}": "online" for i in range(NODES - 1)}, f"fleet{NODES - 1:02d}": "offline"}
        assert all(nodes[d.node]["info"]["pid"] == d.proc.pid for d in daemons[:-1])
        assert took < 3.0, f"status --all took {took:.2f} s"
        table = subprocess.run([ASICRC, "status", "--all", "--port", str(module_broker.port)],
                               capture_output=True, text=True, timeout=30)
        assert table.returncode == 0 and sum(line.startswith("fleet") for line in table.stdout.splitlines()) == NODES
    finally:
        for d in daemons:  # every daemon stopped before any assertion can end the loop
            if d.node not in codes:
                codes[d.node] = d.stop()
    assert all(rc == 0 for rc in codes.values()), codes
