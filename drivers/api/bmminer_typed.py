"""The S9 poll's joined `stats+summary` reply decoded straight into the exported fields (msgspec, in C).

A bmminer `stats` reply carries ~150 fields per driver block; the daemon exports ~20 of them. Building the whole
reply as Python objects (json) and then walking it field by field (cgminer.parse_stats) was most of an S9 poll's
CPU in a fleet of thousands. Here a typed schema names only the fields the parsers read, so the decoder skips the
rest without allocating it, and the telemetry is built from the typed values.

It is a fast path, not a second parser: `decode_stats_summary` returns exactly what
`cgminer.parse_stats`/`parse_summary` return for the same bytes (tests/drivers/test_bmminer_typed.py checks that
on real and mutated replies), and None for anything outside the plain shape (a bool or nested value where a number
belongs, a STATUS E/F, a missing section, old bmminer's `}{`, invalid UTF-8, a non-finite number, an extra
top-level part...). The caller then takes the generic path, which returns the same telemetry or raises the precise
MalformedReply/ApiStatusError naming the field.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from .cgminer import HASHRATE_FIELDS, MAX_CHAIN_SLOT, MAX_FANS, stats_telemetry

Num = float | str | None | UnsetType  # bmminer writes numbers, numeric strings ("4466.53") and "" for empty slots
Text = str | None | UnsetType

SLOTS = range(1, MAX_CHAIN_SLOT + 1)
FANS = range(1, MAX_FANS + 1)
_PER_CHAIN = ("chain_acn", "chain_rate", "temp", "temp2_", "chain_hw")
# attribute names per chain slot (index = slot), built once
_NAMES = {prefix: ("", *(f"{prefix}{i}" for i in SLOTS)) for prefix in (*_PER_CHAIN, "chain_acs")}
_ACN = _NAMES["chain_acn"][1:]
_FAN_NAMES = tuple(f"fan{i}" for i in FANS)
_HASHRATE = tuple((f"h{k}", scale) for k, (_, scale) in enumerate(HASHRATE_FIELDS))


def _block_fields() -> list[tuple[str, Any, Any]]:
    fields: list[tuple[str, Any, Any]] = []
    for prefix in _PER_CHAIN:
        fields += [(f"{prefix}{i}", Num, msgspec.field(default=UNSET, name=f"{prefix}{i}")) for i in SLOTS]
    fields += [(f"chain_acs{i}", Text, msgspec.field(default=UNSET, name=f"chain_acs{i}")) for i in SLOTS]
    fields += [(f"fan{i}", Num, msgspec.field(default=UNSET, name=f"fan{i}")) for i in FANS]
    fields += [(f"h{k}", Num, msgspec.field(default=UNSET, name=key)) for k, (key, _) in enumerate(HASHRATE_FIELDS)]
    fields += [("frequency", Num, UNSET), ("miner_version", Text, UNSET), ("Type", Text, UNSET),
               ("BMMiner", Text, UNSET)]
    return fields


# One struct for every STATS block (the version block and the driver block share the list)
StatsBlock = msgspec.defstruct("StatsBlock", _block_fields(), kw_only=True)
SummaryEntry = msgspec.defstruct(
    "SummaryEntry",
    [(f"h{k}", Num, msgspec.field(default=UNSET, name=key)) for k, (key, _) in enumerate(HASHRATE_FIELDS)]
    + [(name, Num, msgspec.field(default=UNSET, name=key)) for key, name in
       (("Hardware Errors", "hw_errors"), ("Accepted", "shares_accepted"), ("Rejected", "shares_rejected"),
        ("Elapsed", "uptime_s"))],
    kw_only=True)


def _positions(struct: Any, names: tuple[str, ...]) -> tuple[int, ...]:
    """Where each named field sits in msgspec.structs.astuple(instance): the fields are read by position, built
    once here, rather than by getattr on a name per reply."""
    index = {name: i for i, name in enumerate(struct.__struct_fields__)}
    return tuple(index[name] for name in names)


_STATS_HASHRATE = _positions(StatsBlock, tuple(name for name, _ in _HASHRATE))
_SUMMARY_HASHRATE = _positions(SummaryEntry, tuple(name for name, _ in _HASHRATE))
_SCALES = tuple(scale for _, scale in _HASHRATE)
_ACN_AT = _positions(StatsBlock, _ACN)
_PER_SLOT_AT = {prefix: (-1, *_positions(StatsBlock, _NAMES[prefix][1:])) for prefix in _NAMES}  # index = slot
_FANS_AT = _positions(StatsBlock, _FAN_NAMES)
_SUMMARY_COUNTS = ("hw_errors", "shares_accepted", "shares_rejected", "uptime_s")
_SUMMARY_COUNTS_AT = _positions(SummaryEntry, _SUMMARY_COUNTS)


class Status(msgspec.Struct):
    STATUS: Text = UNSET


class StatsPart(msgspec.Struct):
    STATUS: list[Status]
    STATS: list[StatsBlock]  # type: ignore[valid-type]


class SummaryPart(msgspec.Struct):
    STATUS: list[Status]
    SUMMARY: list[SummaryEntry]  # type: ignore[valid-type]


class Joined(msgspec.Struct, forbid_unknown_fields=True):
    # every other top-level part would need its own STATUS check: such a reply takes the generic path
    stats: list[StatsPart]
    summary: list[SummaryPart]
    id: Any = None


_decoder = msgspec.json.Decoder(Joined)


class _Generic(Exception):
    """The reply is outside the fast path's plain shape: decode it generically."""


def _num(value: Any) -> float | None:
    """cgminer.fields.opt_number on a typed value: UNSET/None/blank -> None, numeric text -> float."""
    if type(value) is float:  # the common case first
        if value - value == 0.0:  # finite (inf - inf and nan - nan are nan)
            return value
        raise _Generic
    if value is UNSET or value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise _Generic from None
    if not math.isfinite(value):
        raise _Generic
    return float(value)


def _text(value: Any) -> str:
    return "" if value is UNSET or value is None else str(value)


def _hashrate(values: tuple[Any, ...], positions: tuple[int, ...]) -> float | None:
    for i, scale in zip(positions, _SCALES, strict=True):
        value = _num(values[i])
        if value is not None:
            return value * scale
    return None


def _ok(statuses: list[Status]) -> bool:
    return bool(statuses) and statuses[0].STATUS not in ("E", "F")


def _driver_block(blocks: list[Any]) -> tuple[Any, tuple[Any, ...]]:
    for block in blocks:
        values = msgspec.structs.astuple(block)
        if block.frequency is not UNSET or any(values[i] is not UNSET for i in _ACN_AT):
            return block, values
    raise _Generic


def _stats(blocks: list[Any]) -> dict[str, Any]:
    block, values = _driver_block(blocks)
    acn = [_num(values[i]) for i in _ACN_AT]
    slots = [i for i, n in zip(SLOTS, acn, strict=True) if (n or 0) > 0]

    def per_chain(prefix: str) -> list[float]:
        at = _PER_SLOT_AT[prefix]
        numbers = [_num(values[at[i]]) for i in slots]
        return [v for v in numbers if v is not None]

    rates = [r * 1e9 for r in per_chain("chain_rate")]
    fallback = None if rates else _hashrate(values, _STATS_HASHRATE)
    chips = [int(n) for n in acn if n is not None and n > 0]
    acs = [_text(values[_PER_SLOT_AT["chain_acs"][i]]) for i in slots]
    fans = [_num(values[i]) for i in _FANS_AT]
    out = stats_telemetry(slots, rates, fallback, per_chain("temp"), per_chain("temp2_"), chips, acs,
                          per_chain("chain_hw"), fans, _num(block.frequency))
    if not slots and "hashrate_hs" not in out:
        raise _Generic
    version = blocks[0] if blocks[0] is not block else None
    out["miner_type"] = _text(version.Type) if version is not None else ""
    out["firmware"] = _text(block.miner_version) or (_text(version.BMMiner) if version is not None else "")
    return out


def _summary(entries: list[Any]) -> dict[str, Any]:
    if not entries:
        raise _Generic
    values = msgspec.structs.astuple(entries[0])
    rate = _hashrate(values, _SUMMARY_HASHRATE)
    if rate is None:
        raise _Generic
    out: dict[str, Any] = {"hashrate_hs": rate}
    for name, i in zip(_SUMMARY_COUNTS, _SUMMARY_COUNTS_AT, strict=True):
        value = _num(values[i])
        if value is not None:
            out[name] = int(value)
    return out


def decode_stats_summary(raw: bytes) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(parse_stats, parse_summary) of a joined `stats+summary` reply as received (NUL and all), or None when the
    reply is not the plain bmminer shape and must be decoded generically."""
    body = raw.split(b"\0", 1)[0]
    try:
        reply = _decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if not reply.stats or not reply.summary:
        return None
    stats_part, summary_part = reply.stats[0], reply.summary[0]
    if not (_ok(stats_part.STATUS) and _ok(summary_part.STATUS)):
        return None
    try:
        return _stats(stats_part.STATS), _summary(summary_part.SUMMARY)
    except _Generic:
        return None
