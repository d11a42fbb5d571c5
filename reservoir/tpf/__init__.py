"""Thermodynamic probability filter (TPF), done honestly.

What can really be saved, and what the data say about the rest:

* exact early reject (`asicrc.reservoir.tpf.early_reject`): the second compression of SHA-256d stops after
  round 61 when digest word 7 already exceeds the target; measured in rounds and time against full sha256d;
* early-round predictor experiment (`asicrc.reservoir.tpf.experiment`): features = working state after k rounds
  of the second compression, label = "final hash meets target", disjoint held-out evaluation, significance tests,
  energy account via the cost model (`asicrc.reservoir.tpf.cost`);
* power check on a deliberately weak toy hash (same pipeline, leak planted by reducing the rounds);
* telemetry variant (`asicrc.reservoir.tpf.telemetry`): does a share arrive in the next window?
  (event stream from the simulator's physics: `asicrc.reservoir.tpf.simstream.generate_events`);
* no-leak protocol (`asicrc.reservoir.tpf.protocol`): refuses label leaks, overlapping splits, test-tuned thresholds.

Live gate API for the daemon (status, metrics, MQTT) -- `asicrc.reservoir.tpf.gate`::

    from asicrc.reservoir.tpf import TpfGate
    gate = TpfGate(alpha=0.01, max_false_abort=0.0)   # starts disabled, reason "no held-out result yet"
    gate.update(result)        # result: experiment report dict (see experiment.run_hash_experiment) or GateEvidence
    gate.state() -> {"enabled": bool, "reason": str, "alpha": float, "max_false_abort": float,
                     "p_value": float | None, "advantage": float | None,
                     "ci": [lo, hi] | None, "advantage_corner": float | None, "savings": float | None, "false_abort_rate": float | None,
                     "keep_rate": float | None, "threshold": float | None, "classifier": str | None,
                     "source": str | None, "updated_unix": float | None}
    gate.keep(scores) -> np.ndarray[bool]   # all True (touch nothing) unless enabled
    gate.enabled -> bool

`gate.keep` needs scores from the model that produced the evidence (the gate holds the threshold, not the
model); while the gate is off it returns all True, so wiring it into a work path is a no-op until evidence passes.
CLI: `asicrc tpf --rounds 5 --hashes 1e6 --out DIR` (module `asicrc.reservoir.tpf.cli_tpf`); docs: docs/tpf.md.

`state()` is JSON-serialisable; numbers are plain floats; `advantage` is the held-out relative reduction of
net work per valid share (positive = filter helps), `ci` its 95% bootstrap interval and `advantage_corner` the
advantage at the keep-rate upper / recall lower exact bounds (theorem 5: > 0 means it pays inside both bounds).
"""

from __future__ import annotations

from .gate import GateEvidence, TpfGate

__all__ = ["GateEvidence", "TpfGate"]
