"""`asicrc vbm-ab` on the simulator prints a verdict with a confidence interval."""

from __future__ import annotations

import math

import pytest

from asicrc.daemon.cli import main
from asicrc.reservoir.vbm.ab import AbConfig, run_ab, summarize


@pytest.mark.slow
async def test_ab_on_simulated_miner_reports_verdict_with_ci() -> None:
    report = await run_ab(AbConfig(blocks=2, block_s=20.0, warmup_s=2.0, speed=10.0, shares_per_s=2.0))
    off, on = report["arms"]["off"], report["arms"]["on"]
    assert off["accepted"] > 10 and on["accepted"] + sum(on["rejected"].values()) > 10
    assert on["idle_gaps"] >= on["accepted"] - 1  # ON: (nearly) every accepted share got its own job
    lo, hi = report["ratio_on_off"]["ci"]
    assert 0 <= lo <= hi and math.isfinite(hi)
    assert report["verdict"].startswith(("no difference outside noise", "VBM raises", "VBM lowers"))
    assert "95 % CI" in report["verdict"]
    # OFF arm: the share-based estimate tracks the hashes the simulated miner actually did (coarse: one block)
    assert off["scanned_hashrate_hs"] / 3 < off["hashrate_hs"] < off["scanned_hashrate_hs"] * 3
    text = summarize(report)
    assert "verdict:" in text and "off:" in text



async def test_ab_on_virtual_time_replays_and_on_the_wall_clock_runs_too() -> None:
    cfg = AbConfig(blocks=2, block_s=10.0, warmup_s=1.0, shares_per_s=2.0, seed=4)
    first, second = await run_ab(cfg), await run_ab(cfg)
    assert first["config"]["clock"] == "virtual" and first["arms"] == second["arms"]  # the same seed, the same run
    assert "virtual time" in summarize(first)
    wall = await run_ab(AbConfig(blocks=2, block_s=4.0, warmup_s=1.0, speed=10.0, clock="wall", seed=4))
    assert wall["arms"]["off"]["accepted"] > 0 and "wall clock at 10x" in summarize(wall)
    with pytest.raises(ValueError, match="clock must be one of virtual, wall"):
        AbConfig(clock="fast").validate()

@pytest.mark.slow
async def test_ab_through_real_upstream_sessions_forwards_to_the_pools() -> None:
    report = await run_ab(AbConfig(blocks=2, block_s=10.0, warmup_s=1.0, speed=10.0, shares_per_s=2.0,
                                   upstream_pools=2, clean_jobs=False))
    assert report["vbm"]["relayed_sessions"] == 2 and report["vbm"]["jobs_sent"] > 0
    up = report["upstream"]
    # every share the proxy accepted at the pools' difficulty went to the pool that issued its job
    assert up["stats"]["forwarded"] > 5 and up["stats"].get("upstream_rejected", 0) == 0
    assert all(s.get("upstream_accepted", 0) > 0 for s in up["sessions"])
    assert "real upstream session(s)" in summarize(report)


def test_bad_arguments_are_clear_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vbm-ab", "--blocks", "3"]) == 1
    assert "blocks must be an even number" in capsys.readouterr().err
    assert main(["vbm-ab", "--devices", "0"]) == 1
    assert "devices must be in 1..8" in capsys.readouterr().err
    assert main(["vbm-ab", "--upstream-pools", "9"]) == 1
    assert "upstream_pools must be in 0..8" in capsys.readouterr().err


@pytest.mark.parametrize(("flag", "value"), [("--block-s", "-1"), ("--speed", "0"), ("--shares-per-s", "nan")])
def test_bad_numbers_name_the_flag(flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vbm-ab", flag, value]) == 1
    err = capsys.readouterr().err
    assert f"error: {flag} must be a number > 0" in err and err.count("\n") == 1, err


def test_help_shows_every_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["vbm-ab", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for default in ("(default: lv06)", "(default: 1)", "(default: 10)", "(default: 30.0)", "(default: 20.0)",
                    "(default: 2.0)", "(default: 8)", "(default: 2)", "(default: 0)"):
        assert default in text, default
