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
