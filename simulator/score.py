"""Scoring one test day: the tidy result rows, with sanity warnings on what they mean.

Every row states the model that predicted (``model_kind``) and the market that charged
(``transient_half_life``, ``permanent_impact``) beside the numbers, so a figure or a table
can always say which model and market produced it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .execute import Execution

__all__ = [
    "RESULT_COLUMNS",
    "BASELINE",
    "ORACLE",
    "LARGE_ORDER_ADV_FRACTION",
    "RowContext",
    "score_execution",
    "failure_rows",
    "normalize_result_types",
]

BASELINE = "equal"
ORACLE = "oracle"

LARGE_ORDER_ADV_FRACTION = 0.3
"""Orders above this fraction of the training ADV get a warning on their rows."""

_BEYOND_WARN_SHARE = 0.01
_TIGHT_CAP_SLACK = 0.02
_SAME_SCHEDULE_RTOL = 1e-6

RESULT_COLUMNS = (
    "scenario",
    "regime",
    "day_index",
    "date",
    "size_spec",
    "size_unit",
    "size_shares",
    "strategy",
    "strategy_name",
    "side",
    "model_kind",
    "success",
    "message",
    "predicted_cost_usd",
    "realized_cost_usd",
    "shortfall_usd",
    "predicted_bps",
    "realized_bps",
    "shortfall_bps",
    "error_bps",
    "improvement_vs_equal_bps",
    "captured_saving",
    "oracle_gap_bps",
    "solve_ms",
    "max_participation",
    "peak_participation",
    "exhausted_intervals",
    "beyond_depth_share",
    "transient_half_life",
    "permanent_impact",
    "arrival_mid_usd",
    "adv_shares",
    "train_start",
    "train_end",
    "warnings",
)


@dataclass(frozen=True, eq=False)
class RowContext:
    """Columns shared by every row of one (test day, order size).

    Attributes
    ----------
    base : dict
        Identification and setting columns (scenario, regime, day, date, size, side, model
        kind, caps, market settings, ADV, training window).
    test_volume : ndarray, shape (N,)
        The test day's continuous volume per interval (for realised participation).
    size_warnings : tuple of str
        Warnings that hold for every strategy of this size (large order, tight caps).
    """

    base: dict
    test_volume: np.ndarray
    size_warnings: tuple[str, ...]


def size_warnings(
    size_shares: float, adv_shares: float, upper: np.ndarray | None
) -> tuple[str, ...]:
    """Warnings that make every result of one order size hard to read.

    * the order is above :data:`LARGE_ORDER_ADV_FRACTION` of the training ADV;
    * the caps leave (almost) no freedom: ``sum(upper) <= 1.02 S``, so every strategy is
      pinned to nearly the same schedule.
    """
    out = []
    if adv_shares > 0 and size_shares > LARGE_ORDER_ADV_FRACTION * adv_shares:
        out.append(
            f"order is {size_shares / adv_shares:.3g}x ADV "
            f"(> {LARGE_ORDER_ADV_FRACTION:.0%} of ADV)"
        )
    if upper is not None and np.all(np.isfinite(upper)):
        room = float(np.sum(upper)) / size_shares
        if room <= 1.0 + _TIGHT_CAP_SLACK:
            out.append(f"caps leave no freedom: sum(upper) = {room:.3f} S")
    return tuple(out)


def _relative(labels: list[str], realized_bps: np.ndarray):
    """Improvement over ``equal`` (bps) and the share of the achievable saving (equal to
    oracle) each schedule captured; NaN where the reference is missing or the saving is 0.

    The oracle is never more expensive than any schedule of the day
    (:func:`simulator.oracle.hindsight_oracle`), so the captured share is at most 1."""
    nan = np.full(len(labels), np.nan)
    if BASELINE not in labels:
        return nan, nan
    equal = realized_bps[labels.index(BASELINE)]
    improvement = equal - realized_bps
    if ORACLE not in labels:
        return improvement, nan
    achievable = equal - realized_bps[labels.index(ORACLE)]
    if abs(achievable) <= 1e-12:
        return improvement, nan
    return improvement, improvement / achievable


def score_execution(
    ctx: RowContext,
    execution: Execution,
    names: dict[str, str],
    solve_ms: dict[str, float],
    predicted_usd: np.ndarray,
    oracle=None,
) -> list[dict]:
    """Result rows of the strategies executed together for one order size.

    Parameters
    ----------
    ctx : RowContext
    execution : Execution
        The realised batch (labels, schedules, realisation).
    names : dict of str to str
        Registry name per label.
    solve_ms : dict of str to float
        Planning time per label, milliseconds.
    predicted_usd : ndarray, shape (K,)
        The planner's model cost of each schedule, dollars.
    oracle : simulator.oracle.OracleResult, optional
        The oracle of this size (its row gets ``oracle_gap_bps`` and its method).

    Returns
    -------
    list of dict
        One row per label with the columns of :data:`RESULT_COLUMNS`.
    """
    labels = list(execution.labels)
    real = execution.realization
    batch = execution.schedules
    size = float(ctx.base["size_shares"])
    notional = size * float(ctx.base["arrival_mid_usd"])
    realized_usd = np.asarray(real.total_impact_usd, dtype=float)
    shortfall_usd = np.asarray(real.total_shortfall_usd, dtype=float)
    realized_bps = 1e4 * realized_usd / notional
    predicted_bps = 1e4 * np.asarray(predicted_usd, dtype=float) / notional
    with np.errstate(divide="ignore", invalid="ignore"):
        peak = np.max(batch / np.maximum(ctx.test_volume, 1.0), axis=1)
    beyond = getattr(real, "beyond_shares", None)
    beyond_share = (
        np.asarray(beyond, dtype=float).sum(axis=-1) / size
        if beyond is not None
        else np.full(len(labels), np.nan)
    )
    improvement, captured = _relative(labels, realized_bps)
    planners = [i for i, label in enumerate(labels) if label != ORACLE]
    same = len(planners) > 1 and bool(
        np.all(np.abs(batch[planners] - batch[planners[0]]) <= _SAME_SCHEDULE_RTOL * size)
    )
    clipped = execution.clipped or (0,) * len(labels)
    rows = []
    for i, label in enumerate(labels):
        notes = list(ctx.size_warnings)
        if clipped[i]:
            notes.append(f"{clipped[i]} decided child order(s) clipped into the feasible range")
        if same and label != ORACLE:
            notes.append("every strategy got the same schedule")
        if beyond_share[i] > _BEYOND_WARN_SHARE:
            notes.append(f"{beyond_share[i]:.1%} of the order filled beyond the visible book")
        gap = np.nan
        if label == ORACLE and oracle is not None:
            gap = 1e4 * oracle.gap_usd / notional
            if gap > 1e-6:
                notes.append(f"oracle: {oracle.method}; {gap:.3g} bps above a lower bound")
        rows.append(
            {
                **ctx.base,
                "strategy": label,
                "strategy_name": names[label],
                "success": True,
                "message": "",
                "predicted_cost_usd": float(predicted_usd[i]),
                "realized_cost_usd": float(realized_usd[i]),
                "shortfall_usd": float(shortfall_usd[i]),
                "predicted_bps": float(predicted_bps[i]),
                "realized_bps": float(realized_bps[i]),
                "shortfall_bps": 1e4 * float(shortfall_usd[i]) / notional,
                "error_bps": float(realized_bps[i] - predicted_bps[i]),
                "improvement_vs_equal_bps": float(improvement[i]),
                "captured_saving": float(captured[i]),
                "oracle_gap_bps": float(gap),
                "solve_ms": float(solve_ms[label]),
                "peak_participation": float(peak[i]),
                "exhausted_intervals": int(real.exhausted_intervals[i]),
                "beyond_depth_share": float(beyond_share[i]),
                "warnings": "; ".join(notes),
            }
        )
    return rows


def failure_rows(ctx: RowContext, failures: list[tuple[str, str, str]]) -> list[dict]:
    """Rows with ``success=False`` for ``(label, name, message)`` failures; never realised."""
    return [
        {
            **ctx.base,
            "strategy": label,
            "strategy_name": name,
            "success": False,
            "message": message,
            "solve_ms": np.nan,
            "exhausted_intervals": 0,
            "warnings": "; ".join(ctx.size_warnings),
        }
        for label, name, message in failures
    ]


def normalize_result_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Fixed column dtypes, so rows computed now and rows read back from Parquet agree.

    Columns missing from ``frame`` (results written by an earlier version) are added as
    NaN or empty text.
    """
    frame = frame.reindex(columns=list(RESULT_COLUMNS))
    for col in ("date", "train_start", "train_end"):
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
    # Through object: a column missing from old results is float NaN, which pandas will not
    # fill with a bool or text in a future version.
    frame["success"] = frame["success"].astype(object).fillna(False).astype(bool)
    for col in ("message", "warnings"):
        frame[col] = frame[col].astype(object).fillna("").astype(str)
    frame["exhausted_intervals"] = frame["exhausted_intervals"].fillna(0).astype("int64")
    frame["day_index"] = frame["day_index"].astype("int64")
    for col in (
        "scenario",
        "regime",
        "size_unit",
        "strategy",
        "strategy_name",
        "side",
        "model_kind",
    ):
        frame[col] = frame[col].astype(str)
    for col in ("beyond_depth_share", "oracle_gap_bps", "transient_half_life", "permanent_impact"):
        frame[col] = frame[col].astype(float)
    return frame
