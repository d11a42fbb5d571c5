"""Simulated Antminer S9: 3 chains x 63 BM1387, bmminer Stratum client (version rolling) and the 4028 RPC API.

Reply shapes follow bmminer (protocols.md 2.6): STATS[0] is the version block, STATS[1] the driver block with
chains in slots 6, 7, 8 (`chain_rate6`, `temp6` = PCB, `temp2_6` = chip, `chain_acn6`, `chain_acs6`, ...), fans
in slots 5 and 6 of fan1..fan8, `GHS 5s` as a string and `GHS av` as a number; the stats reply keeps old
bmminer's missing comma between its two objects (`}{`).
"""

from __future__ import annotations

from typing import Any

from .miner_base import Server, SimMiner, SimStratumClient
from .params import S9
from .rpc_server import RpcServer, status

CHAIN_SLOTS = (6, 7, 8)
FAN_SLOTS = (5, 6)
BMMINER_VERSION = {"BMMiner": "2.0.0", "Miner": "16.8.1.3", "CompileTime": "Fri Nov 17 17:37:49 CST 2017",
                   "Type": "Antminer S9"}


class SimS9(SimMiner):
    spec = S9
    firmware_version = "16.8.1.3"
    hw_ticket_diff = 64.0

    def make_servers(self) -> dict[str, Server]:
        handlers = {"summary": self.rpc_summary, "stats": self.rpc_stats, "devs": self.rpc_devs,
                    "pools": self.rpc_pools, "version": self.rpc_version}
        return {"rpc": RpcServer(handlers, "bmminer 2.0.0", self.faults, bmminer_quirk=True)}

    def make_client(self, host: str, port: int) -> SimStratumClient:
        # bmminer: configure (BIP310, 1fffe000) -> subscribe -> authorize
        return SimStratumClient(host, port, self.user, self.password, user_agent="bmminer/2.0.0",
                                version_rolling=0x1FFFE000, clock=self.clock, auto_reconnect=True)

    # ---- 4028 replies ------------------------------------------------------------------------------
    def rpc_version(self, _param: str | None) -> dict[str, Any]:
        return {"STATUS": status(22, "BMMiner versions", "bmminer 2.0.0"),
                "VERSION": [{**BMMINER_VERSION, "API": "3.1"}]}

    def rpc_summary(self, _param: str | None) -> dict[str, Any]:
        snap, c = self.snapshot, self.firmware.counters
        total_mh = snap.hashrate_av_hs / 1e6 * snap.uptime_s
        return {"STATUS": status(11, "Summary", "bmminer 2.0.0"), "SUMMARY": [{
            "Elapsed": int(snap.uptime_s), "GHS 5s": f"{snap.hashrate_5s_hs / 1e9:.2f}",
            "GHS av": round(snap.hashrate_av_hs / 1e9, 2), "Found Blocks": 0, "Getworks": 0,
            "Accepted": c.accepted, "Rejected": c.rejected, "Hardware Errors": snap.hw_errors,
            "Utility": round(c.accepted / max(snap.uptime_s, 1.0) * 60.0, 2), "Discarded": 0, "Stale": 0,
            "Get Failures": 0, "Local Work": 0, "Remote Failures": 0, "Network Blocks": 0,
            "Total MH": round(total_mh, 4), "Work Utility": 0.0, "Difficulty Accepted": c.difficulty_accepted,
            "Difficulty Rejected": 0.0, "Difficulty Stale": 0.0, "Best Share": int(c.best_difficulty),
            "Device Hardware%": round(100.0 * snap.error_fraction, 4), "Device Rejected%": 0.0,
            "Pool Rejected%": round(100.0 * c.rejected / max(c.submitted, 1), 4), "Pool Stale%": 0.0,
            "Last getwork": int(self.clock.now()),
        }]}

    def rpc_stats(self, _param: str | None) -> dict[str, Any]:
        snap = self.snapshot
        d: dict[str, Any] = {"STATS": 0, "ID": "BC50", "Elapsed": int(snap.uptime_s), "Calls": 0, "Wait": 0.0,
                             "Max": 0.0, "Min": 99999999.0, "GHS 5s": f"{snap.hashrate_5s_hs / 1e9:.2f}",
                             "GHS av": round(snap.hashrate_av_hs / 1e9, 2), "miner_count": 3,
                             "frequency": f"{snap.frequency_hz / 1e6:.0f}", "fan_num": len(FAN_SLOTS)}
        for i in range(1, 9):
            d[f"fan{i}"] = 0
        for slot, rpm in zip(FAN_SLOTS, snap.fan_rpm, strict=True):
            d[f"fan{slot}"] = rpm
        d["temp_num"] = 3
        for i in range(1, 17):
            d[f"temp{i}"] = 0
        for i in range(1, 17):
            d[f"temp2_{i}"] = 0
        for k, slot in enumerate(CHAIN_SLOTS):
            d[f"temp{slot}"] = int(snap.chain_board_c[k])
            d[f"temp2_{slot}"] = int(snap.chain_chip_c[k])
        d["temp_max"] = int(max(snap.chain_board_c))
        d["Device Hardware%"] = round(100.0 * snap.error_fraction, 4)
        d["no_matching_work"] = snap.hw_errors
        freq = self.physics.freq_hz.reshape(3, -1) * self.physics.alive.reshape(3, -1)
        for i in range(1, 17):
            k = CHAIN_SLOTS.index(i) if i in CHAIN_SLOTS else -1
            d[f"chain_acn{i}"] = snap.chain_chips_ok[k].count("o") if k >= 0 else 0
            d[f"chain_acs{i}"] = " ".join(snap.chain_chips_ok[k][j:j + 8] for j in range(0, 63, 8)) if k >= 0 else ""
            d[f"chain_hw{i}"] = snap.chain_hw_errors[k] if k >= 0 else 0
            d[f"chain_rate{i}"] = f"{snap.chain_hashrate_hs[k] / 1e9:.2f}" if k >= 0 else ""
        for k, slot in enumerate(CHAIN_SLOTS):
            live = freq[k][freq[k] > 0]
            d[f"freq_avg{slot}"] = round(float(live.mean()) / 1e6, 2) if live.size else 0.0
            d[f"chain_rateideal{slot}"] = round(snap.chain_expected_hs[k] / 1e9, 2)
        d["total_rateideal"] = round(snap.expected_hashrate_hs / 1e9, 2)
        d["total_freqavg"] = round(snap.frequency_hz / 1e6, 2)
        d["total_acn"] = sum(s.count("o") for s in snap.chain_chips_ok)
        d["total_rate"] = round(sum(snap.chain_hashrate_hs) / 1e9, 2)
        d["miner_version"] = BMMINER_VERSION["Miner"]
        d["miner_id"] = self.serial
        return {"STATUS": status(70, "BMMiner stats", "bmminer 2.0.0"), "STATS": [dict(BMMINER_VERSION), d]}

    def rpc_devs(self, _param: str | None) -> dict[str, Any]:
        snap, c = self.snapshot, self.firmware.counters
        devs = []
        for k, slot in enumerate(CHAIN_SLOTS):
            devs.append({"ASC": k, "Name": "BC5", "ID": slot, "Enabled": "Y",
                         "Status": "Alive" if "o" in snap.chain_chips_ok[k] else "Dead",
                         "Temperature": snap.chain_board_c[k], "MHS av": round(snap.chain_hashrate_hs[k] / 1e6, 2),
                         "MHS 5s": round(snap.chain_hashrate_hs[k] / 1e6, 2), "Accepted": c.accepted // 3,
                         "Rejected": c.rejected // 3, "Hardware Errors": snap.chain_hw_errors[k],
                         "Utility": 0.0, "Last Share Pool": 0, "Device Elapsed": int(snap.uptime_s)})
        return {"STATUS": status(9, f"{len(devs)} ASC(s)", "bmminer 2.0.0"), "DEVS": devs}

    def rpc_pools(self, _param: str | None) -> dict[str, Any]:
        c = self.firmware.counters
        pools = []
        if self.stratum is not None:
            pools.append({"POOL": 0, "URL": self.pool_url, "Status": "Alive" if self.stratum_active else "Dead",
                          "Priority": 0, "Quota": 1, "Long Poll": "N", "Getworks": 0, "Accepted": c.accepted,
                          "Rejected": c.rejected, "Discarded": 0, "Stale": 0, "Get Failures": 0,
                          "Remote Failures": 0, "User": self.user, "Last Share Time": int(c.last_share_t_s),
                          "Diff": f"{c.pool_difficulty:g}", "Diff1 Shares": 0, "Proxy Type": "", "Proxy": "",
                          "Difficulty Accepted": c.difficulty_accepted, "Difficulty Rejected": 0.0,
                          "Difficulty Stale": 0.0, "Last Share Difficulty": c.pool_difficulty,
                          "Has Stratum": True, "Stratum Active": self.stratum_active,
                          "Stratum URL": self.stratum[0], "Has GBT": False, "Best Share": int(c.best_difficulty),
                          "Pool Rejected%": 0.0, "Pool Stale%": 0.0})
        return {"STATUS": status(7, f"{len(pools)} Pool(s)", "bmminer 2.0.0"), "POOLS": pools}
