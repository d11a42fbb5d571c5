"""The live TPF gate: touches work only when a held-out advantage is significant, otherwise stays off and says why.

The daemon feeds it experiment reports (`update`) and exposes `state()` in status, metrics and MQTT. The gate never
decides on training numbers: the evidence it accepts are held-out (test split) figures from the experiment.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class GateEvidence:
    """Held-out evidence for one filter (one classifier at one threshold)."""

    classifier: str
    p_value: float  # one-sided, multiplicity-adjusted: held-out AUC > 0.5
    advantage: float  # relative reduction of net work per valid share on the test split (>0 = helps)
    ci: tuple[float, float]  # 95% bootstrap interval of `advantage`
    savings: float  # 1 - expected rounds / full rounds on the test split
    false_abort_rate: float  # valid shares lost on the test split
    keep_rate: float
    threshold: float  # chosen on training data only
    source: str = "hash"
    # net-work advantage at the keep-rate upper / recall lower exact bounds (theorem 5); None = not reported
    advantage_corner: float | None = None


def _finite(x: Any) -> float | None:
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def _num(x: Any, missing: float) -> float:
    """report.json stores non-finite numbers as null; map them back to the conservative value."""
    return missing if x is None else float(x)


def evidence_from_report(report: Mapping[str, Any]) -> list[GateEvidence]:
    """Extract per-classifier gate evidence from an experiment report (see experiment.run_hash_experiment)."""
    out: list[GateEvidence] = []
    source = str(report.get("source", "hash"))
    for name, res in dict(report.get("classifiers", {})).items():
        g = res.get("gate")
        if not g:
            continue
        out.append(
            GateEvidence(
                classifier=str(name),
                p_value=_num(g["p_value"], 1.0),
                advantage=_num(g["advantage"], -math.inf),
                ci=(_num(g["ci"][0], -math.inf), _num(g["ci"][1], -math.inf)),
                savings=_num(g["savings"], 0.0),
                false_abort_rate=_num(g["false_abort_rate"], 1.0),
                keep_rate=_num(g["keep_rate"], 1.0),
                threshold=_num(g["threshold"], math.inf),
                source=source,
                advantage_corner=_num(g["advantage_corner"], -math.inf) if "advantage_corner" in g else None,
            )
        )
    return out


def worst_seed_section(runs: Sequence[Mapping[str, Any]], source: str) -> dict[str, Any]:
    """Per classifier, the least favourable seed (largest p): the gate then needs every seed to agree."""
    names = list(runs[0]["classifiers"]) if runs else []
    return {"source": source, "classifiers": {
        c: max((r["classifiers"][c] for r in runs), key=lambda res: _num(res["gate"]["p_value"], 1.0))
        for c in names}}


class TpfGate:
    """Off by default. Turns on only if some filter's held-out p-value < alpha, the lower end of its advantage CI
    is > 0, its false-abort rate is within `max_false_abort` and (when reported) it still pays at the pessimistic
    corner of the keep-rate and recall bounds (theorem 5, lean/Asicrc/Gate.lean); otherwise `reason` says which
    test failed."""

    def __init__(self, alpha: float = 0.01, max_false_abort: float = 0.05) -> None:
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        if not 0 <= max_false_abort < 1:
            raise ValueError(f"max_false_abort must be in [0, 1), got {max_false_abort!r}")
        self.alpha = alpha
        self.max_false_abort = max_false_abort
        self._chosen: GateEvidence | None = None
        self._best_seen: GateEvidence | None = None
        self._enabled = False
        self._reason = "no held-out result yet"
        self._updated: float | None = None

    @property
    def enabled(self) -> bool:
        return self._enabled

    def update(self, result: Mapping[str, Any] | GateEvidence | list[GateEvidence]) -> bool:
        """Feed a report dict or evidence; returns whether the gate is now enabled."""
        if isinstance(result, GateEvidence):
            evidence = [result]
        elif isinstance(result, list):
            evidence = list(result)
        else:
            evidence = evidence_from_report(result)
        self._updated = time.time()
        if not evidence:
            self._enabled, self._chosen, self._best_seen = False, None, None
            self._reason = "report has no held-out classifier results"
            return False
        passing = [e for e in evidence if self._failure(e) is None]
        if passing:
            self._chosen = max(passing, key=lambda e: e.advantage)
            self._best_seen = self._chosen
            self._enabled = True
            c = self._chosen
            self._reason = (
                f"{c.classifier}: held-out p={c.p_value:.3g} < {self.alpha}, net-work advantage "
                f"{c.advantage:.4f} (95% CI {c.ci[0]:.4f}..{c.ci[1]:.4f}), false aborts {c.false_abort_rate:.4f}"
            )
            return True
        best = min(evidence, key=lambda e: e.p_value)
        self._enabled, self._chosen, self._best_seen = False, None, best
        self._reason = f"off: best filter {best.classifier}: {self._failure(best)}"
        return False

    def update_from_file(self, path: str | Path, source: str = "sha256") -> bool:
        """Feed the gate from an `asicrc tpf` report.json (section `source`: sha256, toy or telemetry)."""
        try:
            with open(path, encoding="utf-8") as fh:
                report = json.load(fh)
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read TPF report {str(path)!r}: {exc}") from None
        section = report.get(source) if isinstance(report, dict) else None
        if not isinstance(section, dict):
            raise ValueError(f"TPF report {str(path)!r} has no {source!r} section")
        if "runs" in section and "classifiers" not in section:
            section = worst_seed_section(section["runs"], str(section.get("source", source)))
        return self.update(section)

    def _failure(self, e: GateEvidence) -> str | None:
        if not e.p_value < self.alpha:
            return f"held-out advantage not significant (p={e.p_value:.3g} >= alpha={self.alpha})"
        if not e.ci[0] > 0:
            return (f"net work per valid share not reduced (advantage {e.advantage:.4g}, "
                    f"95% CI {e.ci[0]:.4g}..{e.ci[1]:.4g} includes <= 0)")
        if e.false_abort_rate > self.max_false_abort:
            return f"false-abort rate {e.false_abort_rate:.4f} > allowed {self.max_false_abort}"
        if e.advantage_corner is not None and not e.advantage_corner > 0:
            return (f"pays only at the point estimate: at the keep-rate upper / recall lower exact bounds the net "
                    f"work per valid share is not reduced (advantage {e.advantage_corner:.4g})")
        return None

    def keep(self, scores: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Which work items to keep. Disabled gate keeps everything (touches nothing)."""
        s = np.asarray(scores, dtype=np.float64)
        if not self._enabled or self._chosen is None:
            return np.ones(s.shape, dtype=bool)
        return s >= self._chosen.threshold

    def state(self) -> dict[str, Any]:
        e = self._chosen if self._enabled else self._best_seen
        return {
            "enabled": self._enabled,
            "reason": self._reason,
            "alpha": self.alpha,
            "max_false_abort": self.max_false_abort,
            "p_value": None if e is None else _finite(e.p_value),
            "advantage": None if e is None else _finite(e.advantage),
            "ci": None if e is None else [_finite(e.ci[0]), _finite(e.ci[1])],
            "advantage_corner": None if e is None or e.advantage_corner is None else _finite(e.advantage_corner),
            "savings": None if e is None else _finite(e.savings),
            "false_abort_rate": None if e is None else _finite(e.false_abort_rate),
            "keep_rate": None if e is None else _finite(e.keep_rate),
            "threshold": None if e is None else _finite(e.threshold),
            "classifier": None if e is None else e.classifier,
            "source": None if e is None else e.source,
            "updated_unix": self._updated,
        }
