"""Top-down plot of where the dog went against where it was told to go (matplotlib, Agg backend)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, Tuple, Union


def _xy(sample: Union[Mapping[str, Any], Sequence[float], Any]) -> Tuple[float, float]:
    if isinstance(sample, Mapping):
        return float(sample["x"]), float(sample["y"])
    if hasattr(sample, "x") and hasattr(sample, "y"):
        return float(sample.x), float(sample.y)
    return float(sample[0]), float(sample[1])


def plot_trajectory(odom_samples: Iterable, commanded_path: Iterable, out_png: Union[str, Path],
                    title: str = "Commanded vs achieved path") -> Path:
    """Write a top-down PNG of the achieved odometry track and the commanded waypoints; return its path.

    Samples and waypoints may be mappings with x and y, objects with .x and .y, or (x, y, ...) tuples.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    achieved = [_xy(s) for s in odom_samples]
    commanded = [_xy(p) for p in commanded_path]
    if not achieved and not commanded:
        raise ValueError("nothing to plot: no odometry samples and no commanded path")
    for x, y in achieved + commanded:
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"non-finite point ({x}, {y}) in the trajectory")
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 6))
    try:
        if commanded:
            ax.plot(*zip(*commanded), "o--", color="tab:orange", label="commanded", zorder=2)
        if achieved:
            ax.plot(*zip(*achieved), "-", color="tab:blue", lw=1.5, label="achieved (odom)", zorder=3)
            ax.plot(*achieved[0], "s", color="tab:green", label="start", zorder=4)
            ax.plot(*achieved[-1], "X", color="tab:red", ms=9, label="end", zorder=4)
        ax.set_xlabel("x (m, odom)")
        ax.set_ylabel("y (m, odom)")
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best")
        ax.set_title(title)
        fig.tight_layout()
        fig.savefig(out, dpi=100)
    finally:
        plt.close(fig)
    return out
