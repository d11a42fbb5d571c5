"""Memory capacity (Dambre 2012, held-out r² per delay), input-lag controls, the shuffle control and the
multiple-comparison bookkeeping of the verdict."""

from __future__ import annotations

import numpy as np
import pytest

from asicrc.reservoir.analysis import SeedResult, summarize
from asicrc.reservoir.controls import commanded_lags, input_lags, quadratic_features, time_shuffled
from asicrc.reservoir.memory import linear_memory_capacity
from asicrc.reservoir.metrics import holm, min_wilcoxon_p
from asicrc.reservoir.split import ChronoSplit


def _u(n: int = 1000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 0.5, n)


def test_input_lags_are_aligned_and_quadratic_has_the_narma_product() -> None:
    u = _u(50)
    L = input_lags(u, 10)
    for t in range(10, 50):
        assert L[t].tolist() == [u[t - j] for j in range(10)]  # column j is u(t - j): u(t) .. u(t - 9)
    assert np.all(L[0, 1:] == 0)
    Q = quadratic_features(L)
    assert Q.shape == (50, 10 + 55)
    # NARMA-10's product 1.5·u(t)·u(t−9) must be one of the columns
    assert any(np.allclose(Q[:, c], u * np.r_[np.zeros(9), u[:-9]]) for c in range(Q.shape[1]))


def test_memory_capacity_of_a_delay_line_and_of_single_delays() -> None:
    u = _u()
    split = ChronoSplit.by_fraction(len(u), washout=200)
    mc = linear_memory_capacity(input_lags(u, 10), u, split)
    assert mc.total == pytest.approx(10.0, abs=0.01)  # a delay line of L taps has MC = L exactly
    assert np.all(mc.per_lag[:10] > 0.999) and np.all(mc.per_lag[10:] == 0)
    one = linear_memory_capacity(np.r_[np.zeros(3), u[:-3]][:, None], u, split)  # the state is u(t − 3)
    assert one.per_lag[3] > 0.999 and 1.0 <= one.total < 1.1  # + the residual noise-floor bias


def test_memory_capacity_of_noise_is_near_zero_and_held_out() -> None:
    """A state independent of u: held-out r² is ~1/T_test per delay, cut at 4/T_test; what is left over 41 delays
    is the stated residual bias (< 0.25 here), far below what in-sample r² would give (≈ 41·N/T_train)."""
    u = _u()
    split = ChronoSplit.by_fraction(len(u), washout=200)
    totals = [linear_memory_capacity(np.random.default_rng(s).normal(size=(len(u), 20)), u, split).total
              for s in range(5)]
    assert max(totals) < 0.25
    with pytest.raises(ValueError, match="washout >= 40"):
        linear_memory_capacity(np.zeros((len(u), 1)), u, ChronoSplit.by_fraction(len(u), washout=30))


def test_time_shuffle_keeps_marginals_and_destroys_alignment() -> None:
    u = _u()
    X = input_lags(u, 3)
    S = time_shuffled(X, seed=1)
    assert np.array_equal(np.sort(S, axis=0), np.sort(X, axis=0))  # same values per feature
    assert abs(np.corrcoef(S[:, 0], u)[0, 1]) < 0.1  # no longer aligned with the input
    # rows move together (a state vector stays a state vector)
    assert {tuple(r) for r in S.tolist()} == {tuple(r) for r in X.tolist()}
    assert np.array_equal(S, time_shuffled(X, seed=1))


def test_holm_adjustment() -> None:
    assert holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]).tolist() == [0.5]
    assert holm([0.3, 0.9, 0.01, 0.02]).tolist() == pytest.approx([0.6, 0.9, 0.04, 0.06])
    assert min_wilcoxon_p(5) == pytest.approx(1 / 32)


def _fake(seed: int, device: float, lags10: float, plus10: float | None = None,
          commanded: float | None = None, plus_commanded: float | None = None) -> SeedResult:
    m = {"mean": 1.0, "lags10": lags10, "lags20": 0.4, "quad10": 0.5, "quad20": 0.17, "quad30": 0.09,
         "device": device, "device_shuffled": 1.0, "constant_drive": 1.0,
         "device+lags10": lags10 - 0.05 if plus10 is None else plus10, "esn_ref": 0.3}
    if commanded is not None and plus_commanded is not None:
        m |= {"commanded20": commanded, "device+commanded20": plus_commanded}
    return SeedResult(seed=seed, metrics={k: {"nrmse": v, "nmse": v * v, "nrmse_range": v / 6}
                                          for k, v in m.items()},
                      memory={}, test_target=np.zeros(1), test_pred={})


def test_summary_reports_holm_adjusted_family_and_seed_limit() -> None:
    res = summarize([_fake(s, 0.02 + 0.005 * s, 0.6 + 0.01 * s) for s in range(7)])
    tests = res["tests"]
    fam = tests["multiple_comparisons"]["family"]
    assert fam == ["device_vs_best_input_only", "device_plus_lags10_vs_lags10"]  # the claims, not sanity checks
    raw = [tests[k]["p_wilcoxon"] for k in fam]
    assert [tests[k]["p_wilcoxon_holm"] for k in fam] == pytest.approx(holm(raw).tolist())
    assert tests["multiple_comparisons"]["min_attainable_p_wilcoxon"] == pytest.approx(1 / 128)
    assert tests["device_vs_best_input_only"]["control"] == "quad30"  # NG-RC features are the bar
    d = res["decision"]
    assert d["beats_best_input_only"] is True and d["adds_over_lags10"] is True and d["level_reachable"] is True
    assert d["adds_over_commanded20"] is None and d["adds_information"] is True
    assert d["p_holm"]["device_plus_lags10_vs_lags10"] == pytest.approx(2 / 128)  # 2 claims x 2^-7
    assert "BEATS" in res["verdict"] and "beats_best_input_only=True, adds_over_lags10=True" in res["verdict"]


def test_decision_needs_enough_seeds_and_a_consistent_gain() -> None:
    # the same consistent gain on 5 seeds: 2 claims x 2^-5 = 0.0625 can never reach 0.05
    five = summarize([_fake(s, 0.05 + 0.01 * s, 0.6 + 0.01 * s) for s in range(5)])["decision"]
    assert five["level_reachable"] is False and five["adds_over_lags10"] is False
    assert five["min_attainable_p_holm"] == pytest.approx(2 / 32)
    assert "UNREACHABLE with 5 seeds" in summarize([_fake(s, 0.2, 0.6) for s in range(5)])["verdict"]
    # an inert device: device+lags10 scatters around lags10 -> no claim; a device no better than quad30 -> no claim
    jitter = [0.01, -0.012, 0.004, -0.003, 0.008, -0.009, 0.002]
    inert = summarize([_fake(s, 0.6, 0.6, plus10=0.6 + jitter[s]) for s in range(7)])
    assert inert["decision"]["adds_over_lags10"] is False and inert["decision"]["beats_best_input_only"] is False
    assert "add NO significant information" in inert["verdict"] and "does NOT beat" in inert["verdict"]
    # one seed against the claim is enough to lose the level at 7 seeds
    mixed = summarize([_fake(s, 0.6, 0.6, plus10=0.55 if s else 0.7) for s in range(7)])["decision"]
    assert mixed["adds_over_lags10"] is False


def test_actuation_decision_credits_the_device_only_beyond_the_commanded_knob() -> None:
    """A device that only echoes the host's slew-limited command adds over lags10 but not over commanded20: the
    decision must not credit it (adds_information False); the family grows to three claims."""
    echo = summarize([_fake(s, 0.5, 0.6, plus10=0.45 + 0.001 * s, commanded=0.45, plus_commanded=0.45 + 0.001 * s)
                      for s in range(7)])
    d = echo["decision"]
    assert len(d["family"]) == 3 and d["level_reachable"]  # 3 x 2^-7 = 0.023
    assert d["adds_over_lags10"] is True and d["adds_over_commanded20"] is False and d["adds_information"] is False
    assert "adds_over_commanded20=False" in echo["verdict"]
    physics = summarize([_fake(s, 0.5, 0.6, plus10=0.3, commanded=0.45, plus_commanded=0.3 - 0.001 * s)
                         for s in range(7)])["decision"]
    assert physics["adds_over_commanded20"] is True and physics["adds_information"] is True


def test_commanded_lags_read_the_command_series_in_order() -> None:
    c = np.arange(12.0)
    L = commanded_lags(c, 3)
    assert L.shape == (12, 3) and L[5].tolist() == [5.0, 4.0, 3.0]
    sub = np.arange(12.0).reshape(6, 2)  # two sub-windows per step: lag 0 is the step's last command
    Ls = commanded_lags(sub, 3)
    assert Ls.shape == (6, 3) and Ls[2].tolist() == [5.0, 4.0, 3.0]
    with pytest.raises(ValueError, match="non-empty"):
        commanded_lags(np.zeros(0), 3)


def test_no_model_or_control_reads_the_test_targets() -> None:
    """Every model of analyze_seed (controls, ablation, ESN reference) must be fitted on the training block only:
    replacing the test-block targets changes the scores but no α and no prediction."""
    from asicrc.reservoir.analysis import AnalysisConfig, analyze_seed
    from asicrc.reservoir.esn import EsnConfig
    from asicrc.reservoir.narma import generate_narma10
    from asicrc.reservoir.recording import RunRecord

    s = generate_narma10(900, seed=11)
    feats = np.c_[input_lags(s.u, 3), np.random.default_rng(0).normal(size=(900, 2))]
    cfg = AnalysisConfig(washout=100, mc_kmax=20, esn_ref=EsnConfig(units=20))
    split = ChronoSplit.by_fraction(900, cfg.washout, cfg.train_fraction)

    def run(target: np.ndarray) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        rec = RunRecord(u=s.u, target=target, features=feats, feature_names=["a", "b", "c", "d", "e"])
        const = RunRecord(u=s.u, target=target, features=np.tile([[1.0, 2.0]], (900, 1)), feature_names=["p", "q"])
        res = analyze_seed(rec, const, 11, cfg)
        return {m: v["alpha"] for m, v in res.metrics.items()}, res.test_pred

    alphas, preds = run(s.target)
    poisoned = s.target.copy()
    poisoned[split.test] = np.random.default_rng(1).uniform(-5, 5, split.n_test)
    alphas2, preds2 = run(poisoned)
    assert set(alphas) >= {"lags10", "lags20", "quad10", "quad20", "quad30", "device", "device_shuffled",
                           "constant_drive", "device+lags10", "esn_ref"}
    assert alphas2 == pytest.approx(alphas, nan_ok=True)
    for m in preds:
        np.testing.assert_array_equal(preds[m], preds2[m])


def test_step_schedule_shifts_after_a_stall_instead_of_squeezing_windows() -> None:
    """A host stall stretches one window; the next window must still get its full length (the schedule shifts),
    not be squeezed to catch up, and the recorded boundaries must show the true lengths."""
    import asyncio
    from types import SimpleNamespace

    from asicrc.reservoir.device_backend import _step_loop
    from asicrc.reservoir.encoding import EncoderConfig, InputEncoder

    class StallingClock:
        def __init__(self, stall_at: dict[int, float]) -> None:
            self.t = 0
            self.sleeps = 0
            self.stall_at = stall_at

        def now_ns(self) -> int:
            return self.t

        async def sleep(self, s: float) -> None:
            self.t += round((max(s, 0.0) + self.stall_at.get(self.sleeps, 0.0)) * 1e9)
            self.sleeps += 1

    clock = StallingClock({5: 0.8, 9: 0.3})  # sleep 0 is the settle window; sleep k+1 ends window k

    async def apply(_: object) -> None:
        return None

    rig = SimpleNamespace(clock=clock, apply=apply)
    rec = SimpleNamespace(drain=lambda: [])
    enc = InputEncoder(EncoderConfig(encoding="difficulty", mode="monologue", d_base=1.0))
    timing = asyncio.run(_step_loop(rig, enc, np.full(12, 0.25), 1, 1.0, rec, None))
    lengths = np.diff(timing.bounds_ns) / 1e9
    assert lengths[4] == pytest.approx(1.8)  # the stalled window, recorded as it was
    assert lengths[5] == pytest.approx(1.0)  # not 0.2: the schedule shifted
    assert lengths[8] == pytest.approx(1.3) and lengths[9] == pytest.approx(0.7)  # a small stall is caught up
    assert min(lengths) >= 0.5 and timing.reanchored == 1
    assert timing.max_lateness_s == pytest.approx(0.8)


def test_host_slew_memory_is_not_credited_to_a_device_that_reports_its_knob(tmp_path: object) -> None:
    """End to end through analyze_seed/summarize on 7 seeds: the host's slew limiter makes the commanded knob a
    long low-pass of u; a device whose only feature is that knob (a frequency readback) adds over lags10, but
    not over commanded20, so the decision does not credit it. The commanded series survives save/load."""
    from pathlib import Path

    from asicrc.reservoir.analysis import AnalysisConfig, analyze_seed
    from asicrc.reservoir.esn import EsnConfig
    from asicrc.reservoir.narma import generate_narma10
    from asicrc.reservoir.recording import RunRecord, load_run, save_run

    cfg = AnalysisConfig(washout=100, mc_kmax=20, esn_ref=EsnConfig(units=20))
    results = []
    for seed in range(7):
        s = generate_narma10(900, seed=seed)
        knob = np.zeros(900)
        for t in range(900):  # slew-limited tracking of u: the host's own memory of past inputs
            prev = knob[t - 1] if t else 0.25
            knob[t] = prev + np.clip(s.u[t] - prev, -0.02, 0.02)
        rec = RunRecord(u=s.u, target=s.target, features=knob[:, None].copy(), feature_names=["freq"],
                        commanded=knob)
        if seed == 0:
            save_run(Path(str(tmp_path)), "r", rec)
            np.testing.assert_array_equal(load_run(Path(str(tmp_path)), "r").commanded, knob)
        results.append(analyze_seed(rec, None, seed, cfg))
    d = summarize(results)["decision"]
    assert "device_plus_commanded20_vs_commanded20" in d["family"]
    assert d["adds_over_commanded20"] is False and d["adds_information"] is False
    with pytest.raises(ValueError, match="commanded series"):
        RunRecord(u=np.zeros(3), target=np.zeros(3), features=np.zeros((3, 1)), feature_names=["a"],
                  commanded=np.zeros(4))
