"""Heatmaps of a time-scale sweep (asicrc.reservoir.sweep): rows model/encoding, columns step time.

sweep_ablation.png  NRMSE(device+lags10) − NRMSE(lags10): below 0 the device adds something over its input's last
                    10 values; "✓" marks a Holm-significant decision (for knob encodings, "✓c" also beats the host's
                    own 20 commanded values); grey cells are not applicable (reason in sweep.json) or not run
sweep_memory.png    linear memory capacity of the device features, each cell annotated with step / thermal tau
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt

from .figures import save_figure

SWEEP_FILES = ("sweep.json", "sweep_ablation.png", "sweep_memory.png")


def _grid(sweep: dict[str, Any], key: str) -> tuple[list[str], list[float], npt.NDArray[np.float64]]:
    cells = sweep["cells"]
    rows = list(dict.fromkeys(f"{c['model']}/{c['encoding']}" for c in cells))
    cols = sorted({float(c["step_s"]) for c in cells})
    grid = np.full((len(rows), len(cols)), np.nan)
    for c in cells:
        v = c.get(key)
        if c.get("applicable") and c.get("run") and v is not None:
            grid[rows.index(f"{c['model']}/{c['encoding']}"), cols.index(float(c["step_s"]))] = float(v)
    return rows, cols, grid


def _cell(sweep: dict[str, Any], row: str, step: float) -> dict[str, Any]:
    model, encoding = row.split("/")
    return next(c for c in sweep["cells"]
                if c["model"] == model and c["encoding"] == encoding and float(c["step_s"]) == step)


def _heatmap(sweep: dict[str, Any], key: str, title: str, cbar: str, cmap: str, path: Path,
             centre: float | None, annotate: Any) -> None:
    rows, cols, grid = _grid(sweep, key)
    fig, ax = plt.subplots(figsize=(2.0 + 1.3 * len(cols), 1.2 + 0.38 * len(rows)))
    finite = grid[np.isfinite(grid)]
    if centre is not None:
        span = float(np.max(np.abs(finite - centre))) if finite.size else 1.0
        vmin, vmax = centre - max(span, 1e-6), centre + max(span, 1e-6)
    else:
        vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    cm = plt.get_cmap(cmap).with_extremes(bad="#dddddd")
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cm, vmin=vmin, vmax=vmax, aspect="auto")
    for i, row in enumerate(rows):
        for j, step in enumerate(cols):
            text = annotate(_cell(sweep, row, step), grid[i, j])
            v = grid[i, j]
            # white on the darkest third of the colour scale, so every number stays readable
            dark = np.isfinite(v) and abs((v - vmin) / (vmax - vmin) - 0.5) > 0.33 if centre is not None else (
                np.isfinite(v) and (v - vmin) / max(vmax - vmin, 1e-12) < 0.33)
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black")
    ax.set_xticks(range(len(cols)), [f"{s:g} s" for s in cols])
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("step time")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label=cbar)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def _ablation_text(cell: dict[str, Any], value: float) -> str:
    if not cell.get("applicable"):
        return "n/a"
    if not cell.get("run"):
        return "not run"
    mark = ""
    if cell.get("adds_over_lags10"):
        mark = " ✓c" if cell.get("adds_over_commanded20") else " ✓"
    return f"{value:+.3f}{mark}"


def _memory_text(cell: dict[str, Any], value: float) -> str:
    if not cell.get("applicable"):
        return "n/a"
    if not cell.get("run"):
        return "not run"
    mc = "–" if not np.isfinite(value) else f"{value:.1f}"
    return f"{mc}\nT/τ={cell['step_over_tau']:.2g}"


def plot_sweep(sweep: dict[str, Any], out: Path) -> None:
    _heatmap(sweep, "ablation_mean_diff",
             "NRMSE(device+lags10) − NRMSE(lags10)\n< 0: the device adds; ✓ Holm-significant; ✓c also over "
             "commanded20", "NRMSE difference", "RdBu", out / "sweep_ablation.png", centre=0.0,
             annotate=_ablation_text)
    _heatmap(sweep, "memory_capacity_device", "linear memory capacity of the device features\n(T/τ: step over the "
             "dominant thermal time constant)", "memory capacity (Σ_k r²)", "viridis", out / "sweep_memory.png",
             centre=None, annotate=_memory_text)
