"""Reservoir state per step (and per virtual-node sub-window) from event columns.

Windows are given by their boundaries in ns (T·V + 1 increasing values; V sub-windows per step). For each
sub-window, from hash events (kind share or nonce):
  count; rate (count / true window length); log_dt_mean / log_dt_var of inter-arrival times (s) ending in the
  window; cv_dt; log2 achieved-difficulty
  mean and max; reject_fraction; nonce_hi_byte_mean, nonce_popcount_mean, version_popcount_mean;
  chip_bin_<i> counts when nonce events name their chip (chips folded into `chip_bins` bins);
and from telemetry events, for each of TELEMETRY_KEYS seen: level (last value at window end, carried forward) and
delta (level minus the previous window's level).
Rows of sub-windows of one step are concatenated: shape (T, V·F), names "<feature>@v<j>".
Standardisation is not done here: the readout standardises with training-block statistics only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .eventcols import Columns, validate_columns

F64 = npt.NDArray[np.float64]
HASH_KINDS = ("share", "nonce")
TELEMETRY_KEYS = ("temp_chip_c", "temp_board_c", "power_w", "fan_rpm", "frequency_hz", "core_voltage_v",
                  "hashrate_hs")


@dataclass(frozen=True, slots=True)
class FeatureMatrix:
    values: F64  # (T, V·F)
    names: list[str]


def _popcount32(a: npt.NDArray[np.uint64]) -> F64:
    bits = np.unpackbits(a.astype(">u4").view(np.uint8)).reshape(len(a), 32)
    return np.asarray(bits.sum(1), dtype=np.float64)


def _window_sums(idx: npt.NDArray[np.intp], values: F64, nwin: int) -> F64:
    return np.asarray(np.bincount(idx, weights=values, minlength=nwin + 2)[1 : nwin + 1], dtype=np.float64)


def _hash_features(cols: Columns, bounds: npt.NDArray[np.int64], chip_bins: int) -> dict[str, F64]:
    nwin = len(bounds) - 1
    mask = np.isin(cols["kind"], HASH_KINDS)
    t = cols["t_ns"][mask]
    idx = np.searchsorted(bounds, t, side="right")  # 0: before first window, nwin+1: after last
    one = np.ones(len(t))
    count = _window_sums(idx, one, nwin)
    win_s = np.diff(bounds) / 1e9
    # rate = count per second of the window's true length: a host stall stretches or squeezes a window (recorded in
    # bounds_ns), which changes its count without the device doing anything different. The window length itself
    # is deliberately not a feature: host lateness can depend on the load the input causes (input leaking
    # through the host, not through the device).
    out: dict[str, F64] = {"count": count, "rate": count / win_s}
    # inter-arrival times, each assigned to the window in which the later event falls
    dt = np.diff(t) / 1e9
    dti = idx[1:]
    ldt = np.log(np.maximum(dt, 1e-9))
    n_dt = _window_sums(dti, np.ones(len(dt)), nwin)
    s1, s2 = _window_sums(dti, ldt, nwin), _window_sums(dti, ldt * ldt, nwin)
    d1, d2 = _window_sums(dti, dt, nwin), _window_sums(dti, dt * dt, nwin)
    with np.errstate(invalid="ignore", divide="ignore"):
        # an empty window says "the gap is at least the window": use that instead of a hole
        out["log_dt_mean"] = np.where(n_dt > 0, s1 / n_dt, np.log(win_s))
        out["log_dt_var"] = np.where(n_dt > 1, s2 / n_dt - (s1 / n_dt) ** 2, 0.0).clip(0)
        mean_dt = d1 / n_dt
        sd_dt = np.sqrt(np.clip(d2 / n_dt - mean_dt**2, 0, None))
        # simultaneous events (equal timestamps) give mean_dt 0: no spread to report rather than NaN
        out["cv_dt"] = np.where((n_dt > 1) & (mean_dt > 0), sd_dt / mean_dt, 0.0)

    def mean_of(values: F64) -> F64:
        ok = np.isfinite(values)
        c = _window_sums(idx[ok], np.ones(int(ok.sum())), nwin)
        s = _window_sums(idx[ok], values[ok], nwin)
        return np.divide(s, c, out=np.zeros(nwin), where=c > 0)

    if "achieved_diff" in cols:
        ad = np.log2(np.maximum(cols["achieved_diff"][mask], 1e-12))
        out["log2_diff_mean"] = mean_of(ad)
        mx = np.zeros(nwin + 2)
        ok = np.isfinite(ad)
        np.maximum.at(mx, idx[ok], ad[ok])
        out["log2_diff_max"] = mx[1 : nwin + 1]
    if "verdict" in cols:
        rej = (cols["verdict"][mask] != "accepted").astype(float)
        rej[cols["verdict"][mask] == ""] = np.nan
        out["reject_fraction"] = mean_of(rej)
    if "nonce" in cols:
        nonce = cols["nonce"][mask]
        ok = np.isfinite(nonce)
        nn = np.where(ok, nonce, 0).astype(np.uint64)
        out["nonce_hi_byte_mean"] = mean_of(np.where(ok, (nn >> np.uint64(24)).astype(float) / 255, np.nan))
        out["nonce_popcount_mean"] = mean_of(np.where(ok, _popcount32(nn) / 32, np.nan))
    if "version_bits" in cols:
        vb = cols["version_bits"][mask]
        ok = np.isfinite(vb)
        out["version_popcount_mean"] = mean_of(
            np.where(ok, _popcount32(np.where(ok, vb, 0).astype(np.uint64)) / 32, np.nan))
    if chip_bins > 0 and "chip" in cols:
        chip = cols["chip"][mask]
        ok = np.isfinite(chip)
        if ok.any():
            top = max(float(np.nanmax(chip)) + 1, 1.0)
            b = np.floor(chip[ok] / top * chip_bins).astype(int)
            for j in range(chip_bins):
                out[f"chip_bin_{j}"] = _window_sums(idx[ok][b == j], np.ones(int((b == j).sum())), nwin)
    return out


def _telemetry_features(cols: Columns, bounds: npt.NDArray[np.int64]) -> dict[str, F64]:
    tel = cols["kind"] == "telemetry"
    out: dict[str, F64] = {}
    for key in TELEMETRY_KEYS:
        if key not in cols or cols[key].dtype.kind != "f":
            continue
        ok = tel & np.isfinite(cols[key])
        if not ok.any():
            continue
        t, v = cols["t_ns"][ok], cols[key][ok]
        last = np.searchsorted(t, bounds[1:], side="left") - 1  # last reading strictly before each window end
        level = np.where(last >= 0, v[np.maximum(last, 0)], v[0])  # before the first reading: first reading
        out[f"{key}_level"] = level
        out[f"{key}_delta"] = np.diff(level, prepend=level[0])
    return out


def extract_features(cols: Columns, bounds: npt.ArrayLike, virtual_nodes: int = 1,
                     chip_bins: int = 8) -> FeatureMatrix:
    validate_columns(cols)
    b = np.asarray(bounds, dtype=np.int64)
    if virtual_nodes < 1:
        raise ValueError(f"virtual_nodes must be >= 1, got {virtual_nodes}")
    if b.ndim != 1 or len(b) < 2 or (len(b) - 1) % virtual_nodes:
        raise ValueError(f"need T*{virtual_nodes}+1 window boundaries, got {len(b)}")
    if np.any(np.diff(b) <= 0):
        raise ValueError("window boundaries must be strictly increasing")
    per_window = _hash_features(cols, b, chip_bins) | _telemetry_features(cols, b)
    names = list(per_window)
    W = np.stack([per_window[n] for n in names], axis=1)  # (T·V, F)
    T = (len(b) - 1) // virtual_nodes
    values = W.reshape(T, virtual_nodes * len(names))
    full_names = [f"{n}@v{j}" for j in range(virtual_nodes) for n in names]
    return FeatureMatrix(values=np.ascontiguousarray(values), names=full_names)
