"""Verify a fresh signature against the enrolled set (identification, or 1:1 against a claimed id).

Calibration uses the enrolment sessions only (training data):

* scale: pooled within-device standard deviation of every feature across the enrolled devices' sessions;
* threshold: the equal-error threshold between leave-one-session-out genuine distances and impostor distances
  among the enrolled devices, which needs >= 3 enrolled devices with >= 2 sessions each. With fewer there is no
  calibration: the verifier refuses (a clear error naming what is missing) unless a threshold is given.

  There used to be a Gaussian chi-square fallback (99.9 % bound on the RMS z-score, ~1.7). It assumed the scales
  were known, but they are estimated from the enrolment sessions: 2 devices x 2 sessions give 2 pooled degrees of
  freedom, each z-score is then t-distributed with 2 dof (infinite variance) and the sound 99.9 % bound is ~39,
  above typical impostor distances (~20), i.e. no threshold separates devices; sessions at one ambient and
  quantized readings (within-device SD 0, floored at 1e-3 of the between-device spread) make the scale smaller
  still. The chi-square bound therefore rejected genuine devices (distance ~5-36 vs 1.7) with false confidence.
`asicrc puf evaluate` measures how this calibration does on held-out devices and a different ambient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .match import distance, eer, pooled_within_sd
from .signature import Signature
from .store import Enrolment

F64 = npt.NDArray[np.float64]
MIN_CALIBRATION_DEVICES = 3  # an EER threshold needs genuine and impostor distances among >= 3 devices
MIN_SESSIONS = 2  # per device, for a leave-one-session-out genuine distance


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
        usable = [e for e in self.enrolments.values() if len(e.sessions) >= MIN_SESSIONS]
        if len(usable) < MIN_CALIBRATION_DEVICES:
            short = sorted(k for k, e in self.enrolments.items() if len(e.sessions) < MIN_SESSIONS)
            missing = f" ({', '.join(short)} with fewer than {MIN_SESSIONS} sessions)" if short else ""
            raise ValueError(
                f"cannot calibrate a {self.model} threshold: {len(usable)} enrolled device(s) with >= {MIN_SESSIONS} "
                f"sessions{missing}, need >= {MIN_CALIBRATION_DEVICES} (the threshold is the equal-error point "
                "between genuine and impostor distances among enrolled devices; with fewer, the noise scale from so "
                "few sessions is too uncertain for any bound to separate devices): enrol more devices "
                "(`asicrc puf enrol`, `--append` for sessions), or pass --threshold")
        genuine: list[float] = []
        impostor: list[float] = []
        for e in usable:
            m = e.matrix
            for s in range(len(m)):
                rest = np.delete(m, s, axis=0).mean(axis=0)
                genuine.append(distance(m[s], rest, self.scale, self.mask))
                impostor.extend(distance(m[s], t, self.scale, self.mask)
                                for k, t in self.templates.items() if k != e.device_id)
        return eer(genuine, impostor)[1], f"EER threshold on {len(usable)} enrolled devices"

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
