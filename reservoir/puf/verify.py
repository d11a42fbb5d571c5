"""Verify a fresh signature against the enrolled set (identification, or 1:1 against a claimed id).

Calibration uses the enrolment sessions only (training data):

* scale: pooled within-device standard deviation of every feature across the enrolled devices' sessions;
* threshold: with >= 3 enrolled devices, the equal-error threshold between leave-one-session-out genuine
  distances and impostor distances among the enrolled devices; otherwise a chi-square bound
  (the 99.9 % quantile of the RMS z-score of a genuine session, assuming Gaussian noise).
`asicrc puf evaluate` measures how this calibration does on held-out devices and a different ambient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import chi2

from .match import distance, eer, pooled_within_sd
from .signature import Signature
from .store import Enrolment

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Decision:
    accepted: bool
    device_id: str | None  # best match (identification) or the claim (verification)
    distance: float
    threshold: float
    distances: dict[str, float]  # to every enrolled device
    threshold_source: str

    def summary(self) -> str:
        verdict = "ACCEPT" if self.accepted else "REJECT"
        ranked = sorted(self.distances.items(), key=lambda kv: kv[1])[:5]
        nearest = ", ".join(f"{k}={v:.2f}" for k, v in ranked)
        return (f"{verdict} {self.device_id}: distance {self.distance:.3f} vs threshold {self.threshold:.3f} "
                f"({self.threshold_source}); nearest: {nearest}")


class Verifier:
    def __init__(self, enrolments: list[Enrolment], group: str = "all", threshold: float | None = None) -> None:
        if not enrolments:
            raise ValueError("no enrolled devices to verify against")
        digests = {e.challenge.digest for e in enrolments}
        if len(digests) != 1:
            raise ValueError("enrolments were measured under different challenges; verify one challenge at a time")
        self.enrolments = {e.device_id: e for e in enrolments}
        self.digest = digests.pop()
        self.model = enrolments[0].model
        self.mask = enrolments[0].sessions[0].mask(group)
        self.group = group
        self.scale = pooled_within_sd([e.matrix for e in enrolments])
        self.templates = {k: e.template for k, e in self.enrolments.items()}
        if threshold is not None:
            self.threshold, self.threshold_source = float(threshold), "given"
        else:
            self.threshold, self.threshold_source = self._calibrate()

    def _calibrate(self) -> tuple[float, str]:
        genuine: list[float] = []
        impostor: list[float] = []
        usable = [e for e in self.enrolments.values() if len(e.sessions) >= 2]
        for e in usable:
            m = e.matrix
            for s in range(len(m)):
                rest = np.delete(m, s, axis=0).mean(axis=0)
                genuine.append(distance(m[s], rest, self.scale, self.mask))
                impostor.extend(distance(m[s], t, self.scale, self.mask)
                                for k, t in self.templates.items() if k != e.device_id)
        if len(usable) >= 3 and impostor:
            return eer(genuine, impostor)[1], f"EER threshold on {len(usable)} enrolled devices"
        dims = int(self.mask.sum())
        n = min(len(e.sessions) for e in self.enrolments.values())
        bound = math.sqrt(float(chi2.ppf(0.999, dims)) / dims * (1.0 + 1.0 / n))
        return bound, "chi-square 99.9 % bound (fewer than 3 enrolled devices)"

    def distances(self, sig: Signature) -> dict[str, float]:
        if sig.challenge_digest != self.digest:
            raise ValueError(f"signature measured under challenge {sig.challenge_digest}, enrolments under "
                             f"{self.digest}: run the enrolled challenge")
        if sig.values.shape != self.scale.shape:
            raise ValueError(f"signature has {sig.values.size} features, enrolments {self.scale.size}")
        return {k: distance(sig.values, t, self.scale, self.mask) for k, t in self.templates.items()}

    def verify(self, sig: Signature, claim: str | None = None) -> Decision:
        dist = self.distances(sig)
        if claim is not None:
            if claim not in dist:
                raise ValueError(f"claimed device {claim!r} is not enrolled")
            who = claim
        else:
            who = min(dist, key=dist.__getitem__)
        d = dist[who]
        return Decision(d <= self.threshold, who, d, self.threshold, dist, self.threshold_source)
