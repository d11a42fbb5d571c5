"""FAR / FRR / EER of the PUF on simulated devices: held-out devices, realistic between-session change, controls.

Protocol (nothing about the evaluation devices is used to choose anything):

1. Devices are split into *calibration* and *evaluation* devices (different serials, so different silicon).
2. Every device is enrolled with `enrol_sessions` sessions at `ambient_c`, then measured again in
   `verify_sessions` fresh sessions per condition (`CONDITIONS`): the same day at the same ambient ("same") and
   at `alt_ambient_c` ("alt"); `age_days` later at a field ambient ("aged": BTI ageing, sensor drift, fan wear);
   after a heatsink remount with new thermal paste ("remount"); after a fan replacement ("fan_swap"); and all of
   these at once, as a device back from service half a year later ("field"). What each change does and its
   magnitudes (sources or stated assumptions): `variation.py`, docs/puf.md.
3. Feature scales (pooled within-device SD) and the decision threshold (EER point) come from the calibration
   devices only (their sessions in every condition: what a deployment would collect from a reference fleet
   before going live); the threshold is set on leave-one-device-out distances, so it is not fitted to in-sample
   scales.
4. On the evaluation devices: genuine distances (a session vs its own device's template) and impostor distances
   (vs every other evaluation device's template), per condition; EER (threshold-free) and FAR/FRR at the
   calibrated threshold, all three with a two-way device-bootstrap CI (probe and template devices resampled:
   distances sharing a device are dependent, so pairs are not independent trials).
5. Per feature group and per multi-group signature (`signature.SIGNATURES`: "silicon" = nonce + power, "no_fan").
   The **headline** is a signature that a fan swap cannot take away by construction (no fan feature), chosen
   among those on the calibration devices' fan-swap and field sessions, and reported in the "field" condition.
6. Controls beside every result: each feature group alone (the ``timing`` group is the paper's "timing
   signature" claim), and a shuffled-identity control (genuine sessions compared with another device's template:
   it must come out at chance, EER ~ 0.5, or the pipeline leaks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from asicrc.drivers.seeds import stable_int

from .challenge import default_challenge
from .match import device_bootstrap, distance, eer, error_rates, pooled_within_sd
from .signature import GROUPS, SIGNATURES, Signature, extract_signature
from .simsource import run_challenge
from .variation import DEFAULT_VARIATION, SessionState

F64 = npt.NDArray[np.float64]
CONDITIONS = ("same", "alt", "aged", "remount", "fan_swap", "field")
CONDITION_TEXT = {
    "same": "same day, same ambient",
    "alt": "same day, other ambient",
    "aged": "months later: ageing, sensor drift, fan wear, field ambient",
    "remount": "heatsink remounted, new thermal paste",
    "fan_swap": "fan replaced",
    "field": "months later, remounted, fan replaced, field ambient",
}
# signatures without any fan feature: what a fan replacement cannot take away by construction
FAN_FREE = ("silicon", "no_fan")
HEADLINE_CONDITION = "field"


@dataclass(frozen=True)
class EvalConfig:
    model: str = "lv06"
    devices: int = 20  # evaluation devices (held out)
    calibration_devices: int = 8
    enrol_sessions: int = 2
    verify_sessions: int = 1  # per condition
    ambient_c: float = 25.0
    alt_ambient_c: float = 32.0
    seed: int = 1
    step_s: float = 60.0
    bootstrap: int = 500
    age_days: float = 180.0  # time between enrolment and the "aged"/"field" sessions
    field_ambient_c: tuple[float, float] = (18.0, 32.0)  # "aged"/"field" ambients are drawn uniformly from this
    # sessions of the calibration devices that set the feature scales and the threshold: every condition (a
    # reference fleet observed through service events) or e.g. ("same", "alt") (same-day sessions only)
    calibration_conditions: tuple[str, ...] = CONDITIONS
    conditions: tuple[str, ...] = CONDITIONS  # verification conditions measured (a subset for quick runs)

    def state(self, condition: str) -> SessionState:
        """What has happened to a device by a session of this condition."""
        aged = condition in ("aged", "field")
        return SessionState(age_days=self.age_days if aged else 0.0,
                            remounts=int(condition in ("remount", "field")),
                            fans_replaced=int(condition in ("fan_swap", "field")))

    def ambient(self, condition: str, serial: str, k: int) -> float:
        if condition == "alt":
            return self.alt_ambient_c
        if condition in ("aged", "field"):
            lo, hi = self.field_ambient_c
            u = (stable_int(f"{self.seed}/{serial}/{condition}/{k}/ambient") % 1_000_000) / 1_000_000
            return lo + (hi - lo) * u
        return self.ambient_c

    def validate(self) -> None:
        if self.devices < 2 or self.calibration_devices < 3:
            raise ValueError("need >= 2 evaluation and >= 3 calibration devices (leave-one-out calibration)")
        if self.enrol_sessions < 1 or self.verify_sessions < 1:
            raise ValueError("need >= 1 enrolment and >= 1 verification session")
        if self.enrol_sessions + self.verify_sessions < 2:
            raise ValueError("scales need >= 2 sessions per device")
        if not self.step_s >= 4:
            raise ValueError("step_s must be >= 4 s")
        lo, hi = self.field_ambient_c
        if not -40 <= lo <= hi <= 80:
            raise ValueError(f"field ambient range must satisfy -40 <= lo <= hi <= 80 degC, got {lo}..{hi}")
        SessionState(age_days=self.age_days).validate()
        for what, conds in (("conditions", self.conditions), ("calibration conditions",
                                                             self.calibration_conditions)):
            if not conds or any(c not in CONDITIONS for c in conds):
                raise ValueError(f"{what} must be a non-empty subset of {', '.join(CONDITIONS)}, "
                                 f"got {', '.join(conds) or '(none)'}")
        if any(c not in self.conditions for c in self.calibration_conditions):
            raise ValueError("calibration conditions must be among the measured conditions")


@dataclass
class DeviceSessions:
    serial: str
    enrol: list[Signature]
    verify: dict[str, list[Signature]]  # condition -> sessions

    def template(self) -> F64:
        return np.asarray(np.mean([s.values for s in self.enrol], axis=0), dtype=np.float64)

    def sessions(self, conditions: tuple[str, ...] = CONDITIONS) -> list[Signature]:
        return [s for c in conditions for s in self.verify.get(c, [])]

    def all_values(self, conditions: tuple[str, ...] = CONDITIONS) -> F64:
        return np.array([s.values for s in self.enrol + self.sessions(conditions)], dtype=np.float64)


def serial_for(model: str, seed: int, index: int) -> str:
    return f"{model.upper()}-S{seed}-{index:04d}"


def simulate(cfg: EvalConfig, progress: Callable[[str], None] | None = None) -> list[DeviceSessions]:
    """Measure every session of every device (evaluation devices first, then calibration devices)."""
    cfg.validate()
    challenge = default_challenge(cfg.model, step_s=cfg.step_s)
    out: list[DeviceSessions] = []
    total = cfg.devices + cfg.calibration_devices
    for i in range(total):
        serial = serial_for(cfg.model, cfg.seed, i)

        def session(kind: str, k: int, ambient: float, state: SessionState, serial: str = serial) -> Signature:
            seed = stable_int(f"{cfg.seed}/{serial}/{kind}/{k}") & 0x7FFFFFFF
            return extract_signature(run_challenge(serial, challenge, seed, ambient, state))

        out.append(DeviceSessions(
            serial,
            [session("enrol", k, cfg.ambient_c, SessionState()) for k in range(cfg.enrol_sessions)],
            {c: [session(c, k, cfg.ambient(c, serial, k), cfg.state(c)) for k in range(cfg.verify_sessions)]
             for c in cfg.conditions},
        ))
        if progress:
            progress(f"device {i + 1}/{total} measured")
    return out


def _distances(devs: list[DeviceSessions], cond: str, scale: F64, mask: npt.NDArray[np.bool_],
               shuffle: bool = False) -> tuple[dict[str, list[float]], dict[tuple[str, str], list[float]]]:
    """Genuine distances per device and impostor distances per ordered (probe device, template device) pair."""
    templates = [d.template() for d in devs]
    genuine: dict[str, list[float]] = {}
    impostor: dict[tuple[str, str], list[float]] = {}
    n = len(devs)
    for a, dev in enumerate(devs):
        own = (a + 1) % n if shuffle else a  # control: "genuine" compared with the next device's template
        sessions = dev.verify[cond]
        genuine[dev.serial] = [distance(s.values, templates[own], scale, mask) for s in sessions]
        for b in range(n):
            if b != a and b != own:
                impostor[(dev.serial, devs[b].serial)] = [distance(s.values, templates[b], scale, mask)
                                                          for s in sessions]
    return genuine, impostor


def _calibration_distances(calib: list[DeviceSessions], mask: npt.NDArray[np.bool_],
                           scale_conditions: tuple[str, ...], conditions: tuple[str, ...]
                           ) -> tuple[list[float], list[float]]:
    """Genuine/impostor distances of the calibration devices, each scored with scales fitted on the *other*
    calibration devices (in-sample scales would make genuine distances look smaller than on new devices)."""
    templates = [d.template() for d in calib]
    genuine: list[float] = []
    impostor: list[float] = []
    for a, dev in enumerate(calib):
        scale = pooled_within_sd([d.all_values(scale_conditions) for b, d in enumerate(calib) if b != a])
        for s in dev.sessions(conditions):
            genuine.append(distance(s.values, templates[a], scale, mask))
            impostor.extend(distance(s.values, templates[b], scale, mask) for b in range(len(calib)) if b != a)
    return genuine, impostor


def _flat(d: Mapping[Any, list[float]]) -> list[float]:
    return [x for v in d.values() for x in v]


def evaluate(cfg: EvalConfig, sessions: list[DeviceSessions] | None = None,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the protocol; returns a JSON-serialisable report (distances included, for plots and re-analysis)."""
    cfg.validate()
    devs = sessions if sessions is not None else simulate(cfg, progress)
    held_out, calib = devs[:cfg.devices], devs[cfg.devices:]
    if len(held_out) < 2 or len(calib) < 3:
        raise ValueError("not enough devices in the sessions given (>= 2 evaluation, >= 3 calibration)")
    cal_conds = cfg.calibration_conditions
    scale = pooled_within_sd([d.all_values(cal_conds) for d in calib])
    rng = np.random.default_rng(cfg.seed)
    groups: dict[str, Any] = {}
    for group in ("all", *GROUPS, *SIGNATURES):
        mask = devs[0].enrol[0].mask(group)
        if not mask.any():
            continue
        cal_eer, threshold = eer(*_calibration_distances(calib, mask, cal_conds, cal_conds))
        entry: dict[str, Any] = {"features": int(mask.sum()), "threshold": threshold, "calibration_eer": cal_eer,
                                 "members": list(SIGNATURES.get(group, (group,)))}
        if group in FAN_FREE and {"fan_swap", "field"} <= set(cfg.conditions):  # chooses the headline: calibration devices only, after a fan swap
            entry["calibration_eer_fan_swap_field"] = eer(*_calibration_distances(
                calib, mask, cal_conds, ("fan_swap", "field")))[0]
        for cond in cfg.conditions:
            gen, imp = _distances(held_out, cond, scale, mask)
            e, _ = eer(_flat(gen), _flat(imp))
            boot = device_bootstrap(gen, imp, rng, threshold, cfg.bootstrap)
            rates = error_rates(_flat(gen), _flat(imp), threshold)
            ctrl_g, ctrl_i = _distances(held_out, cond, scale, mask, shuffle=True)
            entry[cond] = {
                "eer": e, "eer_ci": list(boot.eer_ci),
                # FAR/FRR intervals from the device bootstrap: pairs sharing a device are dependent, so a
                # binomial (Wilson) interval over pairs would be too narrow; it is kept only for reference
                "far": rates.far, "far_ci": list(boot.far_ci), "frr": rates.frr, "frr_ci": list(boot.frr_ci),
                "far_ci_wilson_pairs": list(rates.far_ci), "frr_ci_wilson_pairs": list(rates.frr_ci),
                "n_genuine": rates.n_genuine, "n_impostor": rates.n_impostor,
                "control_shuffled_eer": eer(_flat(ctrl_g), _flat(ctrl_i))[0],
            }
            if group in ("all", *FAN_FREE):
                entry[cond]["genuine"] = _flat(gen)
                entry[cond]["impostor"] = _flat(imp)
        groups[group] = entry
    return {"config": asdict(cfg), "challenge": default_challenge(cfg.model, cfg.step_s).to_dict(),
            "conditions": {c: {"text": CONDITION_TEXT[c], **asdict(cfg.state(c))} for c in cfg.conditions},
            "variation": DEFAULT_VARIATION.to_dict(),
            "evaluation_devices": [d.serial for d in held_out], "calibration_devices": [d.serial for d in calib],
            "groups": groups,
            "headline": headline(groups) if {"fan_swap", "field"} <= set(cfg.conditions) else None}


def headline(groups: Mapping[str, Any]) -> dict[str, Any]:
    """The fan-free signature with the lowest calibration-device EER after a fan swap, in the "field" condition.
    Chosen on calibration devices only: picking it by its held-out EER would flatter it."""
    present = [g for g in FAN_FREE if g in groups]
    if not present:
        raise ValueError("no fan-free signature in the report")
    name = min(present, key=lambda g: (groups[g]["calibration_eer_fan_swap_field"], FAN_FREE.index(g)))
    c = groups[name][HEADLINE_CONDITION]
    return {"signature": name, "members": groups[name]["members"], "condition": HEADLINE_CONDITION,
            "chosen_by": "lowest calibration-device EER on fan-swap and field sessions among "
                         + ", ".join(present),
            "eer": c["eer"], "eer_ci": c["eer_ci"], "far": c["far"], "far_ci": c["far_ci"], "frr": c["frr"],
            "frr_ci": c["frr_ci"], "all_features_eer": groups["all"][HEADLINE_CONDITION]["eer"],
            "all_features_eer_ci": groups["all"][HEADLINE_CONDITION]["eer_ci"]}


def summarize(report: dict[str, Any]) -> str:
    cfg = report["config"]
    lines = [f"PUF evaluation: model {cfg['model']}, {len(report['evaluation_devices'])} held-out devices "
             f"(+{len(report['calibration_devices'])} calibration), {cfg['enrol_sessions']} enrolment + "
             f"{cfg['verify_sessions']} verification session(s) per condition; same = {cfg['ambient_c']} C, "
             f"alt = {cfg['alt_ambient_c']} C, aged/field after {cfg['age_days']:g} days at "
             f"{cfg['field_ambient_c'][0]:g}-{cfg['field_ambient_c'][1]:g} C; scales and threshold from the "
             f"calibration devices' {'/'.join(cfg['calibration_conditions'])} sessions; seed {cfg['seed']}",
             f"{'group':<9} {'feat':>5} {'cond':<8} {'EER [95% CI]':<24} {'FAR@thr [CI]':<24} "
             f"{'FRR@thr [CI]':<24} {'shuffled-id EER':>15}"]
    for name, g in report["groups"].items():
        for cond in report["conditions"]:
            c = g[cond]
            lines.append(
                f"{name:<9} {g['features']:>5} {cond:<8} "
                f"{c['eer']:.3f} [{c['eer_ci'][0]:.3f}, {c['eer_ci'][1]:.3f}]{'':<4} "
                f"{c['far']:.3f} [{c['far_ci'][0]:.3f}, {c['far_ci'][1]:.3f}]{'':<4} "
                f"{c['frr']:.3f} [{c['frr_ci'][0]:.3f}, {c['frr_ci'][1]:.3f}]{'':<4} "
                f"{c['control_shuffled_eer']:>15.3f}")
    h = report["headline"]
    if h is None:
        return "\n".join(lines)
    lines.append(f"headline (survives a fan swap): signature {h['signature']} ({'+'.join(h['members'])}), "
                 f"{h['condition']} ({CONDITION_TEXT[h['condition']]}): EER {h['eer']:.3f} "
                 f"[{h['eer_ci'][0]:.3f}, {h['eer_ci'][1]:.3f}]; all features incl. fan {h['all_features_eer']:.3f} "
                 f"[{h['all_features_eer_ci'][0]:.3f}, {h['all_features_eer_ci'][1]:.3f}]; chosen by {h['chosen_by']}")
    return "\n".join(lines)
