"""Scoring cases that kill surviving mutants: the size warnings at their thresholds, result
rows of an earlier version, and rows of an execution without beyond-depth shares."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from simulator.execute import Execution
from simulator.score import (
    LARGE_ORDER_ADV_FRACTION,
    RESULT_COLUMNS,
    RowContext,
    normalize_result_types,
    score_execution,
    size_warnings,
)


def test_large_order_warning_is_strictly_above_the_threshold():
    assert LARGE_ORDER_ADV_FRACTION == 0.3
    assert size_warnings(30.0, 100.0, None) == ()  # exactly 30% of ADV: not above
    assert size_warnings(30.5, 100.0, None) == ("order is 0.305x ADV (> 30% of ADV)",)
    # Any positive ADV counts, a fractional one too; a zero ADV gives no ratio.
    assert size_warnings(1.0, 0.5, None) == ("order is 2x ADV (> 30% of ADV)",)
    assert size_warnings(1.0, 0.0, None) == ()


def test_tight_caps_warning_includes_the_threshold():
    upper = np.array([51.0, 51.0])
    assert size_warnings(100.0, 1e6, upper) == ("caps leave no freedom: sum(upper) = 1.020 S",)
    assert size_warnings(100.0, 1e6, upper + 0.01) == ()
    assert size_warnings(100.0, 1e6, np.array([np.inf, 1.0])) == ()


def test_rows_of_an_earlier_version_get_defaults():
    # A frame written before some columns existed: no success, warnings, exhausted_intervals.
    old = pd.DataFrame(
        {
            "scenario": ["s", "s"],
            "regime": ["r", "r"],
            "day_index": [3, 4],
            "date": ["2024-01-02", "2024-01-03"],
            "train_start": ["2023-12-01", "2023-12-02"],
            "train_end": ["2023-12-29", "2024-01-02"],
            "strategy": ["equal", "exact"],
            "realized_bps": [10.0, 9.0],
        }
    )
    frame = normalize_result_types(old)
    assert list(frame.columns) == list(RESULT_COLUMNS)
    assert frame["success"].dtype == bool and not frame["success"].any()
    assert frame["exhausted_intervals"].dtype == np.int64
    assert (frame["exhausted_intervals"] == 0).all()
    assert (frame["message"] == "").all() and (frame["warnings"] == "").all()
    assert frame["date"].dtype == "datetime64[ns]"
    assert frame["beyond_depth_share"].dtype == float and frame["beyond_depth_share"].isna().all()
    assert frame["realized_bps"].tolist() == [10.0, 9.0]


def _context(size=1000.0, mid=50.0):
    base = {"size_shares": size, "arrival_mid_usd": mid, "scenario": "t"}
    return RowContext(base=base, test_volume=np.array([100.0, 400.0]), size_warnings=())


def test_rows_without_beyond_depth_shares_and_with_an_oracle():
    # A realisation that reports no beyond-depth shares: the share is NaN, with no warning;
    # only the oracle's row carries the oracle's gap.
    realization = SimpleNamespace(
        total_impact_usd=np.array([60.0, 50.0, 45.0]),
        total_shortfall_usd=np.array([70.0, 55.0, 48.0]),
        exhausted_intervals=np.array([0, 1, 0]),
    )
    schedules = np.array([[500.0, 500.0], [200.0, 800.0], [300.0, 700.0]])
    execution = Execution(
        labels=("equal", "exact", "oracle"), schedules=schedules, realization=realization
    )
    oracle = SimpleNamespace(gap_usd=0.5, method="found")
    names = {"equal": "equal", "exact": "exact", "oracle": "oracle"}
    solve_ms = {"equal": 0.1, "exact": 2.0, "oracle": 7.0}
    rows = score_execution(
        _context(), execution, names, solve_ms, np.array([55.0, 40.0, 44.0]), oracle
    )
    by = {row["strategy"]: row for row in rows}
    notional = 1000.0 * 50.0
    for label in ("equal", "exact", "oracle"):
        assert np.isnan(by[label]["beyond_depth_share"])
        assert by[label]["solve_ms"] == solve_ms[label]
        assert by[label]["strategy_name"] == names[label]
    assert np.isnan(by["equal"]["oracle_gap_bps"]) and np.isnan(by["exact"]["oracle_gap_bps"])
    assert by["oracle"]["oracle_gap_bps"] == pytest.approx(1e4 * 0.5 / notional, rel=1e-12)
    assert by["oracle"]["warnings"] == "oracle: found; 0.1 bps above a lower bound"
    assert by["exact"]["warnings"] == "" and by["equal"]["warnings"] == ""
    assert by["exact"]["shortfall_usd"] == 55.0
    assert by["exact"]["predicted_bps"] == pytest.approx(1e4 * 40.0 / notional, rel=1e-12)
    assert by["exact"]["error_bps"] == pytest.approx(1e4 * (50.0 - 40.0) / notional, rel=1e-12)
    assert by["exact"]["captured_saving"] == pytest.approx(10.0 / 15.0, rel=1e-12)
    assert by["exact"]["peak_participation"] == pytest.approx(2.0, rel=1e-12)
    assert by["exact"]["exhausted_intervals"] == 1


def test_failure_rows_are_never_realised():
    from simulator.score import failure_rows

    rows = failure_rows(_context(), [("exact", "exact", "strategy 'exact': boom")])
    (row,) = rows
    assert row["success"] is False and row["exhausted_intervals"] == 0
    assert np.isnan(row["solve_ms"]) and row["message"] == "strategy 'exact': boom"

