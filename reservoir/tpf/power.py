"""How large a leak this run could have seen: analytic DeLong power of the gate's significance test.

A null result ("no classifier beats chance") only rules out leaks the run had the power to see. The gate calls a
leak detected when, after Holm over classifiers within each seed, the worst seed, and Holm again over every
(classifier, k), some p < alpha. If one classifier at one k reaches held-out AUC A in every seed, its final p is at
most C·(C·K)·max over seeds of its raw one-sided DeLong p (C classifiers, K values of k), so it is detected whenever
every seed's z = (Â − 0.5)/SE exceeds z_c = Φ⁻¹(1 − alpha/(C²K)). With Â ≈ Normal(A, σ²(A)) and σ from Hanley &
McNeil (1982) at that seed's test positives m and negatives n,

    power(A) = Π_seeds Φ((A − 0.5)/σ_seed(A) − z_c),

a lower bound on the real detection probability (several classifiers or several k seeing the leak only lower
the adjusted p). `min_detectable_auc` is the smallest A with power ≥ 80 %. It is an AUC of the classifier's
*scores*: a leak whose best possible AUC is A is detected only if the pipeline's classifiers reach A, which the
planted-leak runs (`--plant-leak`) measure (docs/tpf.md). For the planted one-bit leak the best possible AUC is
0.5 + δ/(4(1 − rate)) (`data.planted_oracle_auc`), so `min_detectable_delta_oracle` is the smallest δ a perfect
classifier could see; the pipeline needs more.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from scipy import stats

TARGET_POWER = 0.8


def auc_se(auc: float, positives: int, negatives: int) -> float:
    """Standard error of an empirical AUC (Hanley & McNeil 1982); at AUC 0.5 it is √((m+n+1)/(12mn))."""
    if positives < 1 or negatives < 1:
        raise ValueError(f"AUC standard error needs positives and negatives, got {positives} and {negatives}")
    a = min(max(auc, 0.0), 1.0)
    q1 = a / (2.0 - a)
    q2 = 2.0 * a * a / (1.0 + a)
    var = (a * (1 - a) + (positives - 1) * (q1 - a * a) + (negatives - 1) * (q2 - a * a)) / (positives * negatives)
    return math.sqrt(max(var, 0.0))


def critical_z(alpha: float, tests: int) -> float:
    """One-sided z a raw DeLong p must exceed so that the Holm-adjusted p stays below alpha (Bonferroni bound)."""
    if not 0 < alpha < 1 or tests < 1:
        raise ValueError(f"need 0 < alpha < 1 and tests >= 1, got {alpha!r}, {tests!r}")
    return float(stats.norm.isf(alpha / tests))


def detection_power(auc: float, sizes: Sequence[tuple[int, int]], z_crit: float) -> float:
    """P(every seed's DeLong z exceeds z_crit) for a scorer with true AUC `auc`; sizes = (positives, negatives)
    of each seed's test split."""
    if not sizes:
        raise ValueError("detection power needs at least one seed's test sizes")
    power = 1.0
    for m, n in sizes:
        se = auc_se(auc, m, n)
        power *= 1.0 if se == 0 else float(stats.norm.cdf((auc - 0.5) / se - z_crit))
    return power


def min_detectable_auc(sizes: Sequence[tuple[int, int]], z_crit: float, target: float = TARGET_POWER) -> float:
    """Smallest AUC with `detection_power` >= target (bisection; power rises with AUC)."""
    if not 0 < target < 1:
        raise ValueError(f"target power must be in (0, 1), got {target!r}")
    lo, hi = 0.5, 1.0
    if detection_power(hi - 1e-9, sizes, z_crit) < target:
        return 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if detection_power(mid, sizes, z_crit) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def _sizes(runs: Sequence[Mapping[str, Any]], k: int) -> list[tuple[int, int]]:
    out = []
    for r in runs:
        if r["k"] != k:
            continue
        first = next(iter(r["classifiers"].values()))
        m = int(first["test_positives"])
        out.append((m, int(first["n_test"]) - m))
    return out


def abort_pays_below(k: int, fixed: int, n: int) -> float:
    """Aborting a set of nonces after k rounds reduces net work per valid share only if that set's share rate is
    below this fraction of the average rate: (n − k)/(fixed + n), 59/128 = 0.46 for k = 5. Aborting a fraction f
    of nonces whose share rate is ρ times average gives work ∝ (fixed + n − f(n − k)) / (1 − fρ), which is below
    fixed + n iff ρ < (n − k)/(fixed + n). So a one-bit leak P(share) × (1 ± δ) pays only for δ > (fixed + k)/(fixed
    + n) (0.54 for k = 5), however well it is detected."""
    if not 0 <= k <= n or fixed < 0:
        raise ValueError(f"need 0 <= k <= n and fixed >= 0, got k={k}, n={n}, fixed={fixed}")
    return (n - k) / (fixed + n)


def power_section(runs: Sequence[Mapping[str, Any]], ks: Sequence[int], classifiers: Sequence[str], alpha: float,
                  rate: float, fixed: int, n: int) -> dict[str, Any]:
    """The `power` block of a hash report: min detectable AUC per k and overall (the largest over k)."""
    tests = len(classifiers) ** 2 * len(ks)
    z_c = critical_z(alpha, tests)
    per_k: dict[str, dict[str, Any]] = {}
    detectable: list[float] = []
    for k in ks:
        sizes = _sizes(runs, k)
        a = min_detectable_auc(sizes, z_c)
        detectable.append(a)
        per_k[str(k)] = {"min_detectable_auc": a, "test_sizes": [list(s) for s in sizes],
                         "abort_pays_below_share_ratio": abort_pays_below(k, fixed, n),
                         "one_bit_leak_pays_above_delta": 1.0 - abort_pays_below(k, fixed, n)}
    worst = max(detectable)
    return {
        "min_detectable_auc": worst,
        "target_power": TARGET_POWER,
        "min_detectable_delta_oracle": min(1.0, 4.0 * (1.0 - rate) * (worst - 0.5)),
        "method": "analytic DeLong/Hanley-McNeil power of the gate's test, Bonferroni bound on the Holm chain "
                  f"(raw one-sided p < alpha/{tests} in every seed)",
        "alpha": alpha,
        "z_crit": z_c,
        "tests": tests,
        "seeds": len(_sizes(runs, ks[0])) if ks else 0,
        "per_k": per_k,
    }


def validate_against_runs(runs: Sequence[Mapping[str, Any]], ks: Sequence[int], classifiers: Sequence[str],
                          alpha: float, evidence: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """For a planted run: the analytic power at each classifier's observed mean AUC beside whether the run's gate
    test detected it (`evidence`: the section's per-filter gate evidence, keyed "<classifier>@k=<k>"), and the
    analytic SE beside the DeLong SEs the runs measured."""
    z_c = critical_z(alpha, len(classifiers) ** 2 * len(ks))
    out: dict[str, Any] = {}
    for k in ks:
        sizes = _sizes(runs, k)
        for c in classifiers:
            rs = [r["classifiers"][c] for r in runs if r["k"] == k]
            mean_auc = sum(float(r["auc"]) for r in rs) / len(rs)
            gate = dict(evidence or {}).get(f"{c}@k={k}", {}).get("gate") or {}
            gate_p = gate.get("p_value")
            out[f"{c}@k={k}"] = {
                "mean_auc": mean_auc,
                "predicted_power_at_mean_auc": detection_power(mean_auc, sizes, z_c),
                "gate_p_value": None if gate_p is None else float(gate_p),
                "detected": None if gate_p is None else float(gate_p) < alpha,
                "raw_p_per_seed": [float(r["auc_p_greater"]) for r in rs],
                "analytic_se": [auc_se(float(r["auc"]), m, n) for r, (m, n) in zip(rs, sizes, strict=True)],
                "delong_se": [float(r["auc_se"]) for r in rs],
            }
    return out


def decision(section: Mapping[str, Any], gate_enabled: bool, gate_reason: str, alpha: float) -> dict[str, Any]:
    """The `decision` block: was a leak detected (the gate's significance test alone) and is the gate open (the
    leak is significant *and* aborting reduces net work per valid share within the false-abort budget)."""
    ps = [float(e["gate"]["p_value"]) for e in dict(section.get("classifiers", {})).values()
          if e.get("gate") and e["gate"].get("p_value") is not None]
    p = min(ps) if ps else 1.0
    return {"leak_detected": p < alpha, "gate_open": bool(gate_enabled), "p_value": p, "alpha": alpha,
            "reason": gate_reason}
