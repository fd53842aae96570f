"""Figures of an evaluation run (matplotlib, Agg backend; one function per figure).

Every function takes tidy frames, pivots them itself, saves a PNG and returns its path.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from models.atomic_io import atomic_path  # noqa: E402

from .summary import size_label  # noqa: E402

__all__ = [
    "plot_schedules",
    "plot_impact_by_strategy",
    "plot_improvement",
    "plot_sensitivity",
    "plot_predicted_vs_realized",
    "plot_impact_profile",
]


def _save(fig, path) -> Path:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return Path(path)


def _legend(ax, **kw) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)


def _empty(path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.text(0.5, 0.5, "no successful schedules to show", ha="center", va="center")
    ax.set_axis_off()
    ax.set_title(title)
    return _save(fig, path)


def _first(frame: pd.DataFrame, column: str):
    return frame[column].iloc[0] if len(frame) else None


def plot_schedules(allocations: pd.DataFrame, path) -> Path:
    """Each strategy's schedule over the representative day (shares per interval)."""
    regime = _first(allocations, "regime")
    sub = allocations[allocations["regime"] == regime]
    specs = sorted(sub["size_spec"].unique())
    spec = specs[len(specs) // 2] if specs else None
    sub = sub[sub["size_spec"] == spec]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for strategy, grp in sub.groupby("strategy", sort=False):
        ax.plot(
            grp["interval"],
            grp["shares"],
            lw=1.2,
            label=strategy,
            ls="--" if strategy == "oracle" else "-",
        )
    ax.set_xlabel("interval (minutes after the open)")
    ax.set_ylabel("shares")
    ax.set_title(
        f"Schedules on {_first(sub, 'date')} ({regime}, {_first(sub, 'size_shares'):,.0f} shares)"
        if spec is not None
        else "Schedules"
    )
    ax.grid(alpha=0.3)
    _legend(ax, ncol=4, fontsize=8)
    return _save(fig, path)


def plot_impact_by_strategy(summary: pd.DataFrame, path) -> Path:
    """Mean realised and predicted impact (bps) per strategy, one panel per size."""
    sub = summary[summary["days"] > 0]
    if sub.empty:
        return _empty(path, "Impact by strategy")
    specs = list(dict.fromkeys(sub["size_spec"]))
    fig, axes = plt.subplots(
        1, max(1, len(specs)), figsize=(4.2 * max(1, len(specs)), 4.2), squeeze=False
    )
    for ax, spec in zip(axes[0], specs, strict=False):
        grp = sub[sub["size_spec"] == spec].groupby("strategy", sort=False).mean(numeric_only=True)
        pos = np.arange(len(grp))
        ax.bar(
            pos - 0.2,
            grp["mean_realized_bps"],
            0.4,
            yerr=grp["std_realized_bps"],
            label="realised",
            capsize=2,
        )
        ax.bar(pos + 0.2, grp["mean_predicted_bps"], 0.4, label="predicted", alpha=0.7)
        ax.set_xticks(pos, grp.index, rotation=45, ha="right", fontsize=8)
        ax.set_title(size_label(spec, _first(sub[sub["size_spec"] == spec], "size_unit")))
        ax.set_ylabel("impact (bps of arrival notional)")
        ax.grid(alpha=0.3, axis="y")
    _legend(axes[0][0], fontsize=8)
    return _save(fig, path)


def plot_improvement(summary: pd.DataFrame, path) -> Path:
    """Improvement over ``equal`` (bps) with bootstrap 95% intervals."""
    sub = summary[(summary["days"] > 0) & (summary["strategy"] != "equal")]
    if sub.empty:
        return _empty(path, "Improvement over equal")
    sub = sub.assign(
        key=sub["strategy"]
        + " @ "
        + [size_label(v, u) for v, u in zip(sub["size_spec"], sub["size_unit"], strict=True)]
        + " ["
        + sub["regime"].astype(str)
        + "]"
    )
    fig, ax = plt.subplots(figsize=(8, 0.35 * max(4, len(sub)) + 1))
    pos = np.arange(len(sub))
    mean = sub["improvement_bps"].to_numpy()
    err = np.vstack([mean - sub["improvement_ci_low_bps"], sub["improvement_ci_high_bps"] - mean])
    ax.errorbar(mean, pos, xerr=np.nan_to_num(err), fmt="o", capsize=3)
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_yticks(pos, sub["key"], fontsize=8)
    ax.set_xlabel("improvement over equal (bps, 95% bootstrap interval)")
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, path)


def plot_sensitivity(sensitivity: pd.DataFrame, path) -> Path:
    """Predicted and realised improvement over ``equal`` versus order size."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for (regime, strategy), grp in sensitivity.groupby(["regime", "strategy"], sort=False):
        if strategy == "equal":
            continue
        line = ax.plot(
            grp["mean_size_shares"],
            grp["realized_improvement_pct"],
            "o-",
            label=f"{strategy} realised [{regime}]",
        )[0]
        ax.plot(
            grp["mean_size_shares"],
            grp["predicted_improvement_pct"],
            "x--",
            color=line.get_color(),
            alpha=0.6,
        )
    ax.set_xlabel("order size (shares)")
    ax.set_ylabel("improvement over equal (%)  (dashed: predicted)")
    ax.grid(alpha=0.3)
    _legend(ax, fontsize=7, ncol=2)
    return _save(fig, path)


def plot_predicted_vs_realized(results: pd.DataFrame, path) -> Path:
    """Scatter of predicted versus realised impact (bps), one colour per strategy."""
    ok = results[results["success"].astype(bool)]
    fig, ax = plt.subplots(figsize=(6, 6))
    for strategy, grp in ok.groupby("strategy", sort=False):
        ax.scatter(grp["predicted_bps"], grp["realized_bps"], s=10, alpha=0.6, label=strategy)
    if len(ok):
        lo = float(np.nanmin(ok[["predicted_bps", "realized_bps"]].to_numpy()))
        hi = float(np.nanmax(ok[["predicted_bps", "realized_bps"]].to_numpy()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlabel("predicted impact (bps)")
    ax.set_ylabel("realised impact (bps)")
    ax.grid(alpha=0.3)
    _legend(ax, fontsize=7)
    return _save(fig, path)


def plot_impact_profile(profile: pd.DataFrame, path) -> Path:
    """Fitted intraday impact profile: marginal cost at reference sizes over the day.

    ``profile`` has columns ``regime, interval, size_shares, marginal_cost_usd``.
    """
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for (regime, size), grp in profile.groupby(["regime", "size_shares"], sort=False):
        ax.plot(
            grp["interval"], grp["marginal_cost_usd"], lw=1.2, label=f"{regime}: {size:,.0f} shares"
        )
    ax.set_xlabel("interval (minutes after the open)")
    ax.set_ylabel("marginal cost ($/share)")
    ax.set_yscale("log")
    ax.set_title("Fitted intraday impact profile (representative day)")
    ax.grid(alpha=0.3, which="both")
    _legend(ax, fontsize=8)
    return _save(fig, path)
