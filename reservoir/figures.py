"""Writing a finished matplotlib figure: atomically (an interrupt never leaves half a PNG), then freeing it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from asicrc.drivers.atomicfile import atomic_path


def save_figure(fig: Any, path: Path | str, dpi: int = 100) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
