"""Summaries of evaluation results: per (regime, size, strategy) statistics with paired
bootstrap confidence intervals of the improvement over ``equal``, and the sensitivity table.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from .daytask import BASELINE

__all__ = ["summarize", "sensitivity_table", "bootstrap_mean_ci", "size_label"]

_GROUP = ["regime", "size_spec", "strategy"]


def bootstrap_mean_ci(
    values: np.ndarray, n_samples: int, rng: np.random.Generator, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``.

    Parameters
    ----------
    values : ndarray, shape (n,)
        Paired differences (one per day).
    n_samples : int
        Bootstrap resamples.
    rng : numpy.random.Generator
        Source of the resampling indices.
    level : float, default 0.95
        Coverage of the interval.

    Returns
    -------
    (low, high) : tuple of float
        NaN when fewer than two values are available.
    """
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return float("nan"), float("nan")
    idx = rng.integers(0, values.size, size=(n_samples, values.size))
    means = values[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _group_rng(seed: int, key: tuple) -> np.random.Generator:
    # Keyed by the group, not by its position, so adding a strategy leaves others' CIs intact.
    tag = zlib.crc32(repr(key).encode())
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(tag,)))


def summarize(
    results: pd.DataFrame, *, bootstrap_samples: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Per (regime, size, strategy) statistics of a results frame.

    Parameters
    ----------
    results : DataFrame
        Tidy results from :func:`simulator.evaluate.evaluate`.
    bootstrap_samples : int, default 2000
        Resamples of the paired bootstrap.
    seed : int, default 0
        Root seed of the bootstrap streams.

    Returns
    -------
    DataFrame
        Columns ``regime, size_spec, size_unit, strategy, days, failed, mean_size_shares,
        mean_realized_bps, std_realized_bps, mean_predicted_bps, bias_bps, rmse_bps,
        mean_shortfall_bps, improvement_bps, improvement_ci_low_bps, improvement_ci_high_bps,
        improvement_pct, improvement_ci_low_pct, improvement_ci_high_pct, win_rate,
        mean_captured_saving, mean_solve_ms``.  Improvement is ``equal`` minus the strategy,
        paired by day (positive = cheaper than ``equal``); its 95% interval is a percentile
        bootstrap over days.
    """
    ok = results[results["success"].astype(bool)]
    failed = (~results["success"].astype(bool)).groupby([results[c] for c in _GROUP]).sum()
    base = ok[ok["strategy"] == BASELINE].set_index(["regime", "size_spec", "day_index"])[
        "realized_bps"
    ]
    rows = []
    for key, grp in ok.groupby(_GROUP, sort=False):
        regime, size_spec, strategy = key
        err = grp["error_bps"].to_numpy()
        idx = pd.MultiIndex.from_arrays([grp["regime"], grp["size_spec"], grp["day_index"]])
        eq = base.reindex(idx).to_numpy()
        mine = grp["realized_bps"].to_numpy()
        paired = ~np.isnan(eq)
        diff = eq[paired] - mine[paired]
        rng = _group_rng(seed, key)
        low, high = bootstrap_mean_ci(diff, bootstrap_samples, rng)
        eq_mean = float(np.mean(eq[paired])) if paired.any() else np.nan
        mean_diff = float(np.mean(diff)) if diff.size else np.nan
        scale = 100.0 / eq_mean if eq_mean and np.isfinite(eq_mean) else np.nan
        rows.append(
            {
                "regime": regime,
                "size_spec": size_spec,
                "size_unit": grp["size_unit"].iloc[0],
                "strategy": strategy,
                "days": int(grp["day_index"].nunique()),
                "failed": int(failed.get(key, 0)),
                "mean_size_shares": float(grp["size_shares"].mean()),
                "mean_realized_bps": float(np.mean(mine)),
                "std_realized_bps": float(np.std(mine, ddof=1)) if mine.size > 1 else np.nan,
                "mean_predicted_bps": float(grp["predicted_bps"].mean()),
                "bias_bps": float(np.mean(err)),
                "rmse_bps": float(np.sqrt(np.mean(err**2))),
                "mean_shortfall_bps": float(grp["shortfall_bps"].mean()),
                "improvement_bps": mean_diff,
                "improvement_ci_low_bps": low,
                "improvement_ci_high_bps": high,
                "improvement_pct": mean_diff * scale,
                "improvement_ci_low_pct": low * scale,
                "improvement_ci_high_pct": high * scale,
                "win_rate": float(np.mean(diff > 0)) if diff.size else np.nan,
                "mean_captured_saving": float(grp["captured_saving"].mean()),
                "mean_solve_ms": float(grp["solve_ms"].mean()),
            }
        )
    # Strategies with only failed rows still appear, so a broken plugin is visible.
    seen = {(r["regime"], r["size_spec"], r["strategy"]) for r in rows}
    for key, count in failed.items():
        if count and key not in seen:
            first = results.set_index(_GROUP).loc[key]
            first = first.iloc[0] if isinstance(first, pd.DataFrame) else first
            rows.append(
                {
                    "regime": key[0],
                    "size_spec": key[1],
                    "size_unit": first["size_unit"],
                    "strategy": key[2],
                    "days": 0,
                    "failed": int(count),
                }
            )
    return pd.DataFrame(rows)


def sensitivity_table(results: pd.DataFrame) -> pd.DataFrame:
    """Improvement over ``equal`` versus order size, predicted and realised (the seed's
    50k-200k analysis, out of sample).

    Returns
    -------
    DataFrame
        Columns ``regime, strategy, size_spec, size_unit, mean_size_shares,
        predicted_equal_usd, predicted_usd, predicted_improvement_pct, realized_equal_usd,
        realized_usd, realized_improvement_pct``; costs are means over days.
    """
    ok = results[results["success"].astype(bool)]
    keys = ["regime", "size_spec", "day_index"]
    eq = ok.loc[ok["strategy"] == BASELINE, [*keys, "predicted_cost_usd", "realized_cost_usd"]]
    eq = eq.rename(
        columns={
            "predicted_cost_usd": "predicted_cost_usd_equal",
            "realized_cost_usd": "realized_cost_usd_equal",
        }
    )
    joined = ok.merge(eq, on=keys, how="inner")
    grouped = (
        joined.groupby(["regime", "strategy", "size_spec"], sort=False)
        .agg(
            size_unit=("size_unit", "first"),
            mean_size_shares=("size_shares", "mean"),
            predicted_equal_usd=("predicted_cost_usd_equal", "mean"),
            predicted_usd=("predicted_cost_usd", "mean"),
            realized_equal_usd=("realized_cost_usd_equal", "mean"),
            realized_usd=("realized_cost_usd", "mean"),
        )
        .reset_index()
    )
    grouped["predicted_improvement_pct"] = 100.0 * (
        1.0 - grouped["predicted_usd"] / grouped["predicted_equal_usd"]
    )
    grouped["realized_improvement_pct"] = 100.0 * (
        1.0 - grouped["realized_usd"] / grouped["realized_equal_usd"]
    )
    cols = [
        "regime",
        "strategy",
        "size_spec",
        "size_unit",
        "mean_size_shares",
        "predicted_equal_usd",
        "predicted_usd",
        "predicted_improvement_pct",
        "realized_equal_usd",
        "realized_usd",
        "realized_improvement_pct",
    ]
    return grouped[cols].sort_values(
        ["regime", "strategy", "size_spec"], kind="stable", ignore_index=True
    )


def size_label(spec: float, unit: str) -> str:
    """'2% ADV' for a fraction of average daily volume, '50,000 sh' for shares."""
    if unit == "adv_fraction":
        return f"{100 * spec:.3g}% ADV"
    return f"{spec:,.0f} sh"
