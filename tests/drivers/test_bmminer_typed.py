"""The typed stats+summary fast path returns exactly what the generic parsers return, or None (and the generic
path then answers, with the precise error where there is one). Checked on bmminer-shaped replies and on a few
hundred mutated ones (blank, null, boolean, nested, numeric-text, non-numeric, huge values; deleted fields; an
E status; extra parts; the `}{` quirk), reporting how often each path answered."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
from drivers_fakes import S9_SUMMARY, rpc_bytes, s9_stats

from asicrc.drivers.api.bmminer_typed import decode_stats_summary
from asicrc.drivers.api.cgminer import parse_stats, parse_summary
from asicrc.drivers.api.errors import ApiError
from asicrc.drivers.api.rpc4028 import decode_reply

ODD_VALUES: list[Any] = ["", "  ", None, True, False, "abc", "12.5", " 7 ", 0, -3, 1e300, 10**30, {}, [], [1],
                         "nan", "inf", "1_000", 4.5]


def joined(stats: dict[str, Any] | None = None, summary: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"stats": [stats or s9_stats()], "summary": [summary or copy.deepcopy(S9_SUMMARY)], "id": 1}


def generic(raw: bytes) -> tuple[dict[str, Any], dict[str, Any]] | type[Exception]:
    try:
        both = decode_reply(raw, "stats+summary")
        return parse_stats(both), parse_summary(both)
    except (ApiError, ValueError, TypeError, OverflowError) as exc:
        return type(exc)


def check(raw: bytes) -> str:
    """'fast' (both paths agree), 'generic' (fast path declined, generic answered) or 'error' (both declined)."""
    fast = decode_stats_summary(raw)
    slow = generic(raw)
    if fast is not None:
        assert slow == fast, raw[:300]
        return "fast"
    return "generic" if isinstance(slow, tuple) else "error"


def test_plain_replies_take_the_fast_path_and_agree() -> None:
    for stats in (s9_stats(), s9_stats(freq=700, chip_t=(80, 81, 79), fans=(0, 0))):
        assert check(rpc_bytes(joined(stats))) == "fast"
    fast = decode_stats_summary(rpc_bytes(joined()))
    assert fast is not None
    stats, summary = fast
    assert stats["chains"] == [6, 7, 8] and stats["chips"] == [63, 63, 63] and stats["chips_ok"] == [63, 63, 63]
    assert stats["hashrate_hs"] == pytest.approx((4466.53 + 4523.10 + 4522.70) * 1e9)
    assert stats["miner_type"] == "Antminer S9" and stats["firmware"] == "16.8.1.3"
    assert summary == {"hashrate_hs": pytest.approx(13512.33e9), "hw_errors": 36, "shares_accepted": 4102,
                       "shares_rejected": 3, "uptime_s": 3600}


def test_quirks_and_refusals_fall_back() -> None:
    assert check(rpc_bytes(joined(), quirk=True)) == "generic"  # old bmminer's `}{`
    bad = joined()
    bad["stats"][0]["STATUS"][0]["STATUS"] = "E"
    assert check(rpc_bytes(bad)) == "error"
    extra = joined()
    extra["devs"] = [{"STATUS": [{"STATUS": "E", "Msg": "no"}]}]  # another part the generic check refuses
    assert check(rpc_bytes(extra)) == "error"
    assert check(b'{"stats": [], "summary": []}\0') == "error"
    assert check(b"\xff\xfe{\0") == "error"


def test_mutated_replies_agree_or_fall_back() -> None:
    rng = random.Random(16)
    outcomes = {"fast": 0, "generic": 0, "error": 0}
    base = joined()
    driver_keys = list(base["stats"][0]["STATS"][1])
    version_keys = list(base["stats"][0]["STATS"][0])
    summary_keys = list(base["summary"][0]["SUMMARY"][0])
    for _ in range(600):
        reply = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            where = rng.random()
            if where < 0.7:
                block = reply["stats"][0]["STATS"][1]
                keys = [*driver_keys, f"chain_acn{rng.randint(1, 16)}", f"temp2_{rng.randint(1, 16)}"]
            elif where < 0.8:
                block, keys = reply["stats"][0]["STATS"][0], version_keys
            else:
                block, keys = reply["summary"][0]["SUMMARY"][0], summary_keys
            key = rng.choice(keys)
            if rng.random() < 0.2:
                block.pop(key, None)
            else:
                block[key] = rng.choice(ODD_VALUES)
        outcomes[check(json.dumps(reply).encode() + b"\0")] += 1
    # power: each path answered a fair share of the mutants, so the agreement above was tested, not vacuous
    assert outcomes["fast"] > 100 and outcomes["generic"] > 20 and outcomes["error"] > 50, outcomes
