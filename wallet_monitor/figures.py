"""The report's figures: score distribution, alerts per hour, recall per scenario."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def write_figures(
    detections: pd.DataFrame, threshold: float, metrics: dict | None, out_dir: Path
) -> None:
    """Write score_distribution.png, alerts_per_hour.png and (with metrics) scenario_recall.png."""
    # matplotlib is heavy: loaded only when figures are drawn.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    # Scores are calibrated to the training traffic, so the full range is about flat; the
    # right panel zooms on the top 10%, where the threshold decides.
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, lo in zip(axes, (0.0, 0.9), strict=True):
        ax.hist(detections["fraud_score"], bins=50, range=(lo, 1), color="#4c72b0")
        ax.axvline(threshold, color="#c44e52", linestyle="--", label=f"threshold {threshold:.3f}")
        ax.set(xlabel="fraud_score", ylabel="transactions")
    axes[0].set_title("Score distribution")
    axes[1].set_title("Top 10% of the score range")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(out_dir / "score_distribution.png", dpi=100)
    plt.close(fig)

    flagged = detections.loc[detections["is_anomaly"], "timestamp"]
    per_hour = pd.to_datetime(flagged, utc=True).dt.floor("h").value_counts().sort_index()
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(per_hour.index, per_hour.to_numpy(), width=1 / 24, color="#dd8452")
    ax.set(xlabel="hour (UTC)", ylabel="alerts", title="Alerts per hour")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(out_dir / "alerts_per_hour.png", dpi=100)
    plt.close(fig)

    if metrics and metrics["scenarios"]:
        names = list(metrics["scenarios"])
        x = np.arange(len(names))
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.bar(x - 0.2, [metrics["scenarios"][k]["recall"] for k in names], 0.4, label="flags")
        ax.bar(
            x + 0.2,
            [metrics["scenarios"][k]["recall_top"] for k in names],
            0.4,
            label=f"top {metrics['top_share']:.0%}",
        )
        ax.set_xticks(x, names, rotation=15)
        ax.set(ylim=(0, 1.05), ylabel="recall", title="Recall per fraud scenario")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / "scenario_recall.png", dpi=100)
        plt.close(fig)


