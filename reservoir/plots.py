"""PNG figures for a NARMA report: prediction vs target, NRMSE bars with 95% CIs, memory-capacity curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt
import numpy as np

from .analysis import SeedResult
from .figures import save_figure


def plot_prediction(res: SeedResult, best_control: str, path: Path, steps: int = 200) -> None:
    n = min(steps, len(res.test_target))
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(res.test_target[:n], color="black", lw=1.5, label="target y(t+1)")
    for name, style in (("device", "-"), (best_control, "--"), ("esn_ref", ":")):
        if name in res.test_pred:
            ax.plot(res.test_pred[name][:n], style, lw=1, label=f"{name} ({res.metrics[name]['nrmse']:.3f})")
    ax.set_xlabel("test step")
    ax.set_ylabel("NARMA-10")
    ax.set_title(f"seed {res.seed}: prediction vs target (first {n} test steps, NRMSE in legend)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def plot_nrmse_bars(summary: dict[str, Any], path: Path) -> None:
    models = list(summary["models"])
    means = [summary["models"][m]["nrmse"]["mean"] for m in models]
    cis = [np.nan_to_num(summary["models"][m]["nrmse"]["ci95"]) for m in models]
    colors = ["tab:red" if m.startswith("device") else "tab:gray" for m in models]
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.bar(range(len(models)), means, yerr=cis, capsize=4, color=colors)
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xticks(range(len(models)), models, rotation=30, ha="right")
    ax.set_ylabel("test NRMSE (RMSE / std), mean ± 95% CI")
    ax.set_title("NARMA-10: device vs controls on the same input")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def plot_memory(summary: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, block in summary["memory_capacity"].items():
        curve = block["per_lag_mean"]
        ax.plot(range(len(curve)), curve, marker=".", label=f"{name} (MC {block['mean']:.1f})")
    ax.set_xlabel("lag k")
    ax.set_ylabel("capacity C_k (held-out r²)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("linear memory capacity")
    if summary["memory_capacity"]:
        ax.legend(fontsize=8)
    else:  # too few test steps for any lag: say so on the plot rather than draw an empty legend
        ax.text(0.5, 0.5, "not computed: test block too short", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def plot_ipc(summary: dict[str, Any], path: Path) -> None:
    """Left: total capacity against state dimension (Dambre's bound is the diagonal). Right: capacity by degree."""
    ipc = {m: v for m, v in summary.get("ipc", {}).items() if m != "not_estimable"}
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5))
    if not ipc:
        for a in (ax, bx):
            a.text(0.5, 0.5, "not computed (no washout rows before the first target)", ha="center", va="center",
                   transform=a.transAxes)
        fig.tight_layout()
        save_figure(fig, path, dpi=100)
        return
    models = list(ipc)
    dims = np.array([max(ipc[m]["dimension"]["mean"], 0.5) for m in models])
    totals = np.array([max(ipc[m]["total"]["mean"], 0.05) for m in models])
    for m, d, t in zip(models, dims, totals, strict=True):
        ax.scatter(d, t, color="tab:red" if m.startswith("device") else "tab:gray", zorder=3)
        ax.annotate(m, (d, t), fontsize=7, xytext=(3, 3), textcoords="offset points")
    lim = (0.4, float(max(dims.max(), totals.max())) * 1.5)
    ax.plot(lim, lim, color="black", lw=0.8, ls="--", label="total = dimension (Dambre 2012 bound)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("state dimension (rank of the centred features)")
    ax.set_ylabel("total capacity (degrees 1-3, after the noise cut)")
    ax.legend(fontsize=8, loc="upper left")
    degrees = list(ipc[models[0]]["by_degree"])
    bottom = np.zeros(len(models))
    real_totals = np.array([ipc[m]["total"]["mean"] for m in models])
    for d in degrees:  # a model with (almost) no capacity gets no bar rather than the shares of its noise
        vals = np.array([ipc[m]["by_degree"][d]["mean"] for m in models])
        shares = np.where(real_totals >= 0.5, vals / np.maximum(real_totals, 1e-12), 0.0)
        bx.bar(range(len(models)), shares, bottom=bottom, label=f"degree {d}")
        bottom += shares
    bx.set_xticks(range(len(models)), models, rotation=35, ha="right", fontsize=8)
    bx.set_ylabel("share of total capacity")
    bx.set_ylim(0, 1.05)
    bx.legend(fontsize=8)
    fig.suptitle("information processing capacity (Legendre targets of the input, mean over seeds)")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
