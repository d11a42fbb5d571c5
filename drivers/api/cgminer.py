"""Parsers for cgminer-family 4028 replies (bmminer on the S9, bfgminer-style on Goldshell) into telemetry.

Output keys follow asicrc.drivers.events.Event telemetry (SI units); per-chain values are lists ordered by chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import MalformedReply
from .fields import as_list, as_mapping, number, opt_number, opt_string

# Hashrate fields in preference order with their multiplier to H/s (bmminer: GH/s, cgminer/bfgminer: MH/s).
HASHRATE_FIELDS: tuple[tuple[str, float], ...] = (
    ("GHS 5s", 1e9),
    ("MHS 5s", 1e6),
    ("MHS 20s", 1e6),
    ("GHS av", 1e9),
    ("MHS av", 1e6),
)
MAX_CHAIN_SLOT = 16  # bmminer numbers chains by slot+1; S9 uses 6, 7, 8
MAX_FANS = 8


def section(reply: Mapping[str, Any], name: str, command: str) -> list[Mapping[str, Any]]:
    """The list under `name` (e.g. SUMMARY), accepting a multi-command reply {"summary":[{...}]} too."""
    reply = as_mapping(reply, f"4028 {command}")
    if name not in reply and command in reply:
        parts = as_list(reply[command], f"4028 {command}")
        if not parts:
            raise MalformedReply(f"4028 {command}: empty reply list")
        reply = as_mapping(parts[0], f"4028 {command}[0]")
    if name not in reply:
        raise MalformedReply(f"4028 {command}: missing section {name!r}")
    items = as_list(reply[name], f"4028 {command}: {name}")
    return [as_mapping(item, f"4028 {command}: {name}[{i}]") for i, item in enumerate(items)]


def hashrate_hs(entry: Mapping[str, Any], where: str) -> float | None:
    for key, scale in HASHRATE_FIELDS:
        value = opt_number(entry, key, where)
        if value is not None:
            return value * scale
    return None


def parse_summary(reply: Mapping[str, Any]) -> dict[str, Any]:
    where = "4028 summary: SUMMARY[0]"
    entries = section(reply, "SUMMARY", "summary")
    if not entries:
        raise MalformedReply("4028 summary: SUMMARY is empty")
    s = entries[0]
    out: dict[str, Any] = {}
    rate = hashrate_hs(s, where)
    if rate is None:
        raise MalformedReply(f"{where}: no hashrate field (one of {', '.join(k for k, _ in HASHRATE_FIELDS)})")
    out["hashrate_hs"] = rate
    for key, name in (("Hardware Errors", "hw_errors"), ("Accepted", "shares_accepted"),
                      ("Rejected", "shares_rejected"), ("Elapsed", "uptime_s")):
        value = opt_number(s, key, where)
        if value is not None:
            out[name] = int(value)
    return out


@dataclass(slots=True, frozen=True)
class VersionInfo:
    miner_type: str  # "Antminer S9", "Goldshell LB-Box", ...
    firmware: str  # "BMMiner 2.0.0", "CGMiner 4.11.1"
    api: str


def parse_version(reply: Mapping[str, Any]) -> VersionInfo:
    where = "4028 version: VERSION[0]"
    entries = section(reply, "VERSION", "version")
    if not entries:
        raise MalformedReply("4028 version: VERSION is empty")
    v = entries[0]
    firmware = ""
    for key in ("BMMiner", "CGMiner", "BFGMiner", "LUXminer", "BOSminer", "bosminer"):
        if key in v:
            firmware = f"{key} {opt_string(v, key, where)}".strip()
            break
    miner_type = opt_string(v, "Type", where) or opt_string(v, "Miner", where)
    return VersionInfo(miner_type=miner_type, firmware=firmware, api=opt_string(v, "API", where))


def _driver_block(stats: list[Mapping[str, Any]]) -> Mapping[str, Any]:
    """bmminer's STATS[1] (driver-btm-c5): the block that carries chain fields; STATS[0] is the version block."""
    for block in stats:
        if any(f"chain_acn{i}" in block for i in range(1, MAX_CHAIN_SLOT + 1)) or "frequency" in block:
            return block
    raise MalformedReply("4028 stats: no driver block with chain_acn<i>/frequency fields")


def stats_telemetry(slots: list[int], rates_hs: list[float], fallback_hs: float | None, board_c: list[float],
                    chip_c: list[float], chips: list[int], acs: list[str], hw: list[float],
                    fans: list[float | None], frequency_mhz: float | None) -> dict[str, Any]:
    """The telemetry of a bmminer `stats` driver block from the values read out of it (per populated slot, in slot
    order): shared by `parse_stats` and the typed fast path (bmminer_typed), which read the same fields two ways.
    `fallback_hs` is the block's total hashrate, used only when no chain reports its own."""
    out: dict[str, Any] = {"chains": slots}
    if rates_hs:
        out["hashrate_hs"] = sum(rates_hs)
        out["chain_hashrate_hs"] = rates_hs
    elif fallback_hs is not None:
        out["hashrate_hs"] = fallback_hs
    if board_c:
        out["temp_board_c"] = board_c
    if chip_c:
        out["temp_chip_c"] = chip_c
    out["chips"] = chips
    if any(acs):
        out["chips_ok"] = [s.count("o") for s in acs]
    if hw:
        out["hw_errors"] = int(sum(hw))
    if any(f is not None for f in fans):
        out["fan_rpm"] = [f for f in fans if f]  # bmminer lists every slot; empty slots read 0
    if frequency_mhz is not None:
        out["frequency_hz"] = frequency_mhz * 1e6
    return out


def parse_stats(reply: Mapping[str, Any]) -> dict[str, Any]:
    """bmminer `stats` -> telemetry with per-chain lists (chains in slot order) plus identity hints."""
    blocks = section(reply, "STATS", "stats")
    block = _driver_block(blocks)
    where = "4028 stats: driver block"
    # bmminer lists all 16 slots; unpopulated ones carry chain_acn 0 and empty strings.
    slots = [i for i in range(1, MAX_CHAIN_SLOT + 1) if (opt_number(block, f"chain_acn{i}", where) or 0) > 0]

    def per_chain(fmt: str) -> list[float]:
        values = [opt_number(block, fmt.format(i), where) for i in slots]
        return [v for v in values if v is not None]

    # read in this order (the first malformed field is the one reported), then assemble as the fast path does
    rates = [r * 1e9 for r in per_chain("chain_rate{}")]
    fallback = None if rates else hashrate_hs(block, where)
    board, chip = per_chain("temp{}"), per_chain("temp2_{}")
    chips = [int(number(block, f"chain_acn{i}", where)) for i in slots]
    acs = [opt_string(block, f"chain_acs{i}", where) for i in slots]
    hw = per_chain("chain_hw{}")
    fans = [opt_number(block, f"fan{i}", where) for i in range(1, MAX_FANS + 1)]
    freq = opt_number(block, "frequency", where)
    out = stats_telemetry(slots, rates, fallback, board, chip, chips, acs, hw, fans, freq)
    if not slots and "hashrate_hs" not in out:
        raise MalformedReply(f"{where}: no chains and no hashrate")
    version = blocks[0] if blocks and blocks[0] is not block else {}
    out["miner_type"] = opt_string(version, "Type", "4028 stats: STATS[0]")
    out["firmware"] = opt_string(block, "miner_version", where) or opt_string(version, "BMMiner", "4028 stats")
    return out


def parse_devs(reply: Mapping[str, Any]) -> dict[str, Any]:
    """cgminer/bfgminer `devs` (also Goldshell /mcb/cgminer?cgminercmd=devs) -> per-board lists."""
    devs = section(reply, "DEVS", "devs")
    if not devs:
        raise MalformedReply("4028 devs: DEVS is empty")
    rates: list[float] = []
    chip_t: list[float] = []
    board_t: list[float] = []
    hw = 0
    fans: list[float] = []
    chips: list[int] = []
    for i, d in enumerate(devs):
        where = f"4028 devs: DEVS[{i}]"
        rate = hashrate_hs(d, where)
        if rate is None:
            raise MalformedReply(f"{where}: no hashrate field (one of {', '.join(k for k, _ in HASHRATE_FIELDS)})")
        rates.append(rate)
        chip = opt_number(d, "tstemp-0", where)
        if chip is None:
            chip = opt_number(d, "Temperature", where)
        if chip is not None:
            chip_t.append(chip)
        board = opt_number(d, "tstemp-2", where)
        if board is not None:
            board_t.append(board)
        hw += int(opt_number(d, "Hardware Errors", where) or 0)
        fan = opt_number(d, "fanspeed", where)
        if fan is not None:
            fans.append(fan)
        n = opt_number(d, "chips-nr", where)
        if n is not None:
            chips.append(int(n))
    out: dict[str, Any] = {"hashrate_hs": sum(rates), "chain_hashrate_hs": rates, "hw_errors": hw}
    if chip_t:
        out["temp_chip_c"] = chip_t
    if board_t:
        out["temp_board_c"] = board_t
    if fans:
        out["fan_rpm"] = fans
    if chips:
        out["chips"] = chips
    return out


def parse_pools(reply: Mapping[str, Any]) -> list[dict[str, Any]]:
    pools = section(reply, "POOLS", "pools")
    out = []
    for i, p in enumerate(pools):
        where = f"4028 pools: POOLS[{i}]"
        out.append({
            "url": opt_string(p, "URL", where),
            "status": opt_string(p, "Status", where),
            "user": opt_string(p, "User", where),
            "accepted": int(opt_number(p, "Accepted", where) or 0),
            "rejected": int(opt_number(p, "Rejected", where) or 0),
        })
    return out
