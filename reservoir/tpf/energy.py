"""Energy account of a filter, on top of the cost model (`asicrc.reservoir.tpf.cost`, the Lean twin).

Per nonce, SHA-256d with a precomputed midstate costs one fixed compression (`FIXED_ROUNDS` = 64, the header's
second block) plus the second compression (`N_ROUNDS` = 64), the only one a filter can cut short. A filter that
looks at k rounds and keeps a fraction `keep` of nonces spends k + (n - k)·keep second-compression rounds
(cost.expected_rounds). Savings alone reward aborting everything (the paper's 92.19% = 1 - 5/64), so the account
also charges lost valid shares: net work per valid share = rounds per nonce / (P(valid) · recall).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction

from .cost import expected_rounds as _cost_expected_rounds
from .cost import savings as _cost_savings
from .cost import savings_bound as _cost_savings_bound

N_ROUNDS = 64
FIXED_ROUNDS = 64

COST_MODEL = "asicrc.reservoir.tpf.cost"


def expected_second_rounds(k: int, keep: float, n: int = N_ROUNDS) -> float:
    return float(_cost_expected_rounds(k, n, keep))


def savings(k: int, keep: float, n: int = N_ROUNDS) -> float:
    return float(_cost_savings(k, n, keep))


def savings_bound(k: int, n: int = N_ROUNDS) -> float:
    """1 - k/n: what aborting *everything* after k rounds 'saves' (the paper's 92.19% for k=5)."""
    return float(_cost_savings_bound(k, n))


@dataclass(frozen=True, slots=True)
class EnergyAccount:
    k: int
    keep_rate: float
    expected_rounds: float  # second compression, per nonce
    savings: float  # 1 - expected_rounds / n (the paper's number, which ignores lost shares)
    false_abort_rate: float  # valid shares aborted / valid shares
    rounds_per_nonce: float  # fixed + second compression
    net_work_per_valid_share: float  # rounds per kept valid share (inf if none kept)
    baseline_work_per_valid_share: float  # no filter: (fixed + n) / P(valid)
    advantage: float  # 1 - net / baseline (>0 means the filter really saves work per valid share)

    def as_dict(self) -> dict[str, float]:
        return {key: float(v) for key, v in asdict(self).items()}


def account(k: int, tp: int, fp: int, fn: int, tn: int, n: int = N_ROUNDS, fixed: int = FIXED_ROUNDS) -> EnergyAccount:
    """Energy account from a held-out confusion table (positive = 'meets target', predicted positive = kept)."""
    total = tp + fp + fn + tn
    if total <= 0:
        raise ValueError("energy account needs at least one evaluated nonce")
    keep = (tp + fp) / total
    positives = tp + fn
    recall = tp / positives if positives else float("nan")
    exp_r = expected_second_rounds(k, keep, n)
    per_nonce = fixed + exp_r
    p_valid = positives / total
    baseline = (fixed + n) / p_valid if p_valid > 0 else math.inf
    net = per_nonce / (p_valid * recall) if p_valid > 0 and recall > 0 else math.inf
    adv = 1.0 - net / baseline if math.isfinite(baseline) else float("nan")
    return EnergyAccount(
        k=k, keep_rate=keep, expected_rounds=exp_r, savings=savings(k, keep, n),
        false_abort_rate=(1.0 - recall) if positives else float("nan"), rounds_per_nonce=per_nonce,
        net_work_per_valid_share=net, baseline_work_per_valid_share=baseline,
        advantage=adv if math.isfinite(net) else -math.inf,
    )


def pays(k: int, keep: Fraction, recall: Fraction, n: int = N_ROUNDS, fixed: int = FIXED_ROUNDS) -> bool:
    """Lean `Asicrc.Cost.Pays` (lean/Asicrc/Gate.lean), exactly: net work per valid share with keep rate `keep`
    and recall `recall` is below the unfiltered miner's, (fixed + k + (n − k)·keep) / recall < fixed + n."""
    if not (0 <= keep <= 1 and 0 <= recall <= 1 and 0 <= k <= n):
        raise ValueError(f"need 0 <= keep, recall <= 1 and 0 <= k <= n, got {keep}, {recall}, k={k}, n={n}")
    return (fixed + k + (n - k) * keep) < (fixed + n) * recall


def corner_advantage(k: int, keep_upper: float, recall_lower: float, n: int = N_ROUNDS,
                     fixed: int = FIXED_ROUNDS) -> float:
    """Net-work advantage at the pessimistic corner of the estimates: keep rate at its upper and recall at its lower
    confidence bound. By theorem 5 (`pays_of_pays_at_corner`) a positive value means the filter pays at every keep
    rate and recall inside the bounds; -inf when the recall bound is 0."""
    if recall_lower <= 0:
        return -math.inf
    return 1.0 - (fixed + expected_second_rounds(k, keep_upper, n)) / ((fixed + n) * recall_lower)
