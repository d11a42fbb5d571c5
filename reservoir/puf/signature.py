"""Response signature: a named feature vector computed from one session's raw observations.

Feature groups (each evaluated on its own as well as together, so a report says *which* physical effect carries
the identity):

* ``nonce``   per chip and step: log-odds of hardware errors, log(hw + 0.5) - log(valid + 0.5) (where each chip's
  voltage margin sits against the frequency steps: v_th process variation); for multi-chip devices also each
  chip's share of the valid nonces;
* ``thermal`` per chain: temperature rise of each step over step 0 and the rise in the step's first 10 s
  (step-response amplitude and speed), and board-minus-die temperature (sensor offset, die resistance);
  differences, so a different ambient temperature shifts them little;
* ``power``   log power ratio of each step to step 0 (switched capacitance, leakage);
* ``fan``     mean RPM per fan at the challenge's fixed fan percent;
* ``absolute`` die temperature and power at step 0 (ambient-sensitive on purpose: shows what ambient does);
* ``timing``  per step, scale-free statistics of Stratum share inter-arrival times (coefficient of variation,
  lag-1 autocorrelation): the paper's "timing signature". A Poisson process has none, so this group is expected
  to be at chance; it is reported as the test of that claim, not tuned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .simsource import Response

GROUPS = ("nonce", "thermal", "power", "fan", "absolute", "timing")
# Signatures made of several groups. "silicon": what the chips themselves are (per-chip voltage margins from the
# hardware-error profile, switched capacitance and leakage from the power ratios), nothing of the fan, heatsink
# or sensors; "no_fan": everything but the fan, the signature a fan replacement cannot take away by construction.
SIGNATURES: dict[str, tuple[str, ...]] = {
    "silicon": ("nonce", "power"),
    "no_fan": tuple(g for g in GROUPS if g != "fan"),
}
SELECTABLE = ("all", *GROUPS, *SIGNATURES)
EARLY_S = 10


@dataclass(frozen=True)
class Signature:
    values: npt.NDArray[np.float64]
    names: tuple[str, ...]
    groups: tuple[str, ...]
    challenge_digest: str
    model: str

    def mask(self, group: str) -> npt.NDArray[np.bool_]:
        if group == "all":
            return np.ones(len(self.groups), dtype=bool)
        members = SIGNATURES.get(group, (group,))
        if any(m not in GROUPS for m in members):
            raise ValueError(f"unknown feature group {group!r} (choose from {', '.join(SELECTABLE)})")
        return np.array([g in members for g in self.groups], dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        return {"values": [float(v) for v in self.values], "names": list(self.names), "groups": list(self.groups),
                "challenge_digest": self.challenge_digest, "model": self.model}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Signature:
        try:
            values = np.asarray(d["values"], dtype=np.float64)
            names, groups = tuple(map(str, d["names"])), tuple(map(str, d["groups"]))
            if not (values.ndim == 1 and len(values) == len(names) == len(groups)):
                raise ValueError("values, names and groups must have the same length")
            return cls(values, names, groups, str(d["challenge_digest"]), str(d["model"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed signature: {exc}") from None


def _tail(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """The last quarter (at least 3 samples) of a step: its near-steady part."""
    idx = np.flatnonzero(mask)
    keep = idx[-max(3, len(idx) // 4):]
    out = np.zeros_like(mask)
    out[keep] = True
    return out


def _interarrival_stats(times: npt.NDArray[np.float64]) -> tuple[float, float]:
    gaps = np.diff(np.sort(times))
    if len(gaps) < 3 or gaps.mean() <= 0:
        return 0.0, 0.0
    cv = float(gaps.std() / gaps.mean())
    g = gaps - gaps.mean()
    denom = float((g * g).sum())
    lag1 = float((g[:-1] * g[1:]).sum() / denom) if denom > 0 else 0.0
    return cv, lag1


def extract_signature(r: Response) -> Signature:
    values: list[float] = []
    names: list[str] = []
    groups: list[str] = []

    def add(group: str, name: str, value: float) -> None:
        values.append(float(value))
        names.append(name)
        groups.append(group)

    n_steps, n_chips = r.chip_nonces.shape
    hw_logit = np.log(r.chip_hw_errors + 0.5) - np.log(r.chip_nonces + 0.5)
    for j in range(n_steps):
        for i in range(n_chips):
            add("nonce", f"hw_logodds[step{j},chip{i}]", hw_logit[j, i])
    if n_chips > 1:
        share = np.log(r.chip_nonces + 0.5)
        share = share - share.mean(axis=1, keepdims=True)
        for j in range(n_steps):
            for i in range(n_chips):
                add("nonce", f"nonce_share[step{j},chip{i}]", share[j, i])

    steps = r.step_of_sample
    tails = [_tail(steps == j) for j in range(n_steps)]
    chip_tail = np.array([r.chip_temp_c[t].mean(axis=0) for t in tails])  # (steps, chains)
    board_tail = np.array([r.board_temp_c[t].mean(axis=0) for t in tails])
    power_tail = np.array([r.power_w[t].mean() for t in tails])
    for j in range(1, n_steps):
        first = np.flatnonzero(steps == j)[:EARLY_S]
        early = r.chip_temp_c[first].mean(axis=0)
        for c in range(chip_tail.shape[1]):
            add("thermal", f"rise[step{j},chain{c}]", chip_tail[j, c] - chip_tail[0, c])
            add("thermal", f"early_rise[step{j},chain{c}]", early[c] - chip_tail[j - 1, c])
        add("power", f"log_power_ratio[step{j}]", np.log(power_tail[j] / power_tail[0]))
    for j in range(n_steps):
        for c in range(chip_tail.shape[1]):
            add("thermal", f"board_minus_die[step{j},chain{c}]", board_tail[j, c] - chip_tail[j, c])
    for f in range(r.fan_rpm.shape[1]):
        add("fan", f"rpm[fan{f}]", r.fan_rpm[:, f].mean())
    for c in range(chip_tail.shape[1]):
        add("absolute", f"die_c[step0,chain{c}]", chip_tail[0, c])
    add("absolute", "power_w[step0]", power_tail[0])
    for j in range(n_steps):
        cv, lag1 = _interarrival_stats(r.share_times_s[r.share_step == j])
        add("timing", f"interarrival_cv[step{j}]", cv)
        add("timing", f"interarrival_lag1[step{j}]", lag1)
    return Signature(np.asarray(values, dtype=np.float64), tuple(names), tuple(groups), r.challenge_digest, r.model)
