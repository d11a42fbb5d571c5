"""Report plots: ROC curves and the savings vs false-abort curve (held-out), with controls drawn beside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from asicrc.reservoir.figures import save_figure


def plot_run(run: dict[str, Any], out_dir: Path, prefix: str, title: str) -> list[str]:
    """Two PNGs for one experiment run (one seed, one k); returns their file names."""
    k = run.get("k", 0)
    results = run["classifiers"]
    names = []

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, res in results.items():
        ax.plot(res["roc"]["fpr"], res["roc"]["tpr"], label=f"{name} AUC {res['auc']:.3f}")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="chance")
    ax.set_xlabel("false positive rate (test)")
    ax.set_ylabel("true positive rate (test)")
    ax.set_title(f"{title}: ROC")
    ax.legend(fontsize=8)
    fig.tight_layout()
    roc = f"{prefix}_roc.png"
    save_figure(fig, out_dir / roc, dpi=100)
    names.append(roc)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, res in results.items():
        c = res["curve"]
        ax.plot(c["false_abort"], c["savings"], marker=".", label=name)
    bound = next(iter(results.values())).get("savings_bound_abort_all")
    if bound is not None:
        ax.plot([1.0], [bound], "rx", ms=10, label=f"abort-all ({bound:.2%}: the paper's number)")
        ax.plot([0, 1], [0, bound], "k--", lw=0.8, label="random filter (no information)")
    ax.set_xlabel("false-abort rate: valid shares lost (test)")
    ax.set_ylabel("savings 1 - expected/n (test)")
    ax.set_title(f"{title}: savings vs false aborts (k={k})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    sav = f"{prefix}_savings_vs_false_abort.png"
    save_figure(fig, out_dir / sav, dpi=100)
    names.append(sav)
    return names
