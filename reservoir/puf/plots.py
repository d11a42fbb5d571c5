"""Plots of a PUF evaluation report: genuine vs impostor distances, and EER per feature group with CIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never a display
import matplotlib.pyplot as plt
import numpy as np

from asicrc.reservoir.figures import save_figure

from .evaluate import CONDITIONS

TITLES = {"same": "same ambient", "alt": "other ambient", "aged": "aged", "remount": "remounted",
          "fan_swap": "fan replaced", "field": "aged + remounted + new fan"}


def plot_distances(report: dict[str, Any], path: Path, group: str = "all") -> Path:
    """Histograms (log distance) of genuine and impostor distances of one signature, per condition."""
    cfg = report["config"]
    entry = report["groups"][group]
    conds = [c for c in CONDITIONS if c in report["conditions"]]
    cols = min(3, len(conds))
    rows = -(-len(conds) // cols)
    fig, grid = plt.subplots(rows, cols, figsize=(13, 3.6 * rows), sharey=False, squeeze=False)
    axes = grid.ravel()
    for ax, cond in zip(axes, conds, strict=False):
        g = np.asarray(entry[cond]["genuine"], dtype=float)
        i = np.asarray(entry[cond]["impostor"], dtype=float)
        lo = max(1e-3, float(min(g.min(), i.min())) * 0.8)
        hi = float(max(g.max(), i.max())) * 1.25
        bins = np.geomspace(lo, hi, 40)
        # fraction of comparisons per bin (not a density: the log bins have very different widths)
        ax.hist(i, bins=bins, alpha=0.6, weights=np.full(i.size, 1.0 / i.size), label=f"impostor (n={i.size})",
                color="tab:red")
        ax.hist(g, bins=bins, alpha=0.7, weights=np.full(g.size, 1.0 / g.size), label=f"genuine (n={g.size})",
                color="tab:blue")
        ax.axvline(entry["threshold"], color="k", ls="--", lw=1, label="threshold (calibration devices)")
        ax.set_xscale("log")
        c = entry[cond]
        ax.set_title(f"{TITLES[cond]}: EER {c['eer']:.3f} [{c['eer_ci'][0]:.3f}, {c['eer_ci'][1]:.3f}]", fontsize=9)
        ax.set_xlabel("RMS z-distance to template")
        ax.legend(fontsize=7)
    for ax in axes[len(conds):]:
        ax.set_visible(False)
    for r in range(rows):
        grid[r, 0].set_ylabel("fraction of comparisons")
    fig.suptitle(f"PUF {cfg['model']}, signature {group}: {len(report['evaluation_devices'])} held-out devices, "
                 f"seed {cfg['seed']}")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    return path


def plot_group_eer(report: dict[str, Any], path: Path) -> Path:
    """EER with 95 % CI per feature group and condition, with the shuffled-identity control."""
    groups = list(report["groups"])
    x = np.arange(len(groups))
    fig, ax = plt.subplots(figsize=(12, 4.5))
    conds = [c for c in CONDITIONS if c in report["conditions"]]
    width = 0.8 / len(conds)
    for k, cond in enumerate(conds):
        e = np.array([report["groups"][g][cond]["eer"] for g in groups])
        ci = np.array([report["groups"][g][cond]["eer_ci"] for g in groups])
        err = np.vstack([e - ci[:, 0], ci[:, 1] - e]).clip(min=0)
        ax.errorbar(x + (k - (len(conds) - 1) / 2) * width, e, yerr=err, fmt="o", ms=4, capsize=2,
                    label=TITLES[cond])
    ctrl = [report["groups"][g]["same"]["control_shuffled_eer"] for g in groups]
    ax.plot(x, ctrl, "x", color="gray", label="control: shuffled identities")
    ax.axhline(0.5, color="gray", lw=0.8, ls=":")
    ax.set_xticks(x, groups)
    ax.set_ylabel("equal error rate")
    ax.set_ylim(-0.02, 0.8)
    ax.legend(fontsize=7, ncol=4)
    ax.set_title("EER per feature group and signature, per condition (chance = 0.5)")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    return path
