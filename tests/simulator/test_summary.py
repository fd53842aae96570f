"""Summary statistics and the sensitivity table on hand-made results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator.daytask import RESULT_COLUMNS
from simulator.summary import bootstrap_mean_ci, sensitivity_table, summarize


def _frame(equal, other, size=1000.0, predicted=None):
    rows = []
    for day, (e, o) in enumerate(zip(equal, other, strict=True)):
        for name, value in (("equal", e), ("opt", o)):
            pred = value if predicted is None else predicted[name]
            rows.append(
                {
                    "scenario": "t",
                    "regime": "r",
                    "day_index": day,
                    "date": pd.Timestamp("2024-01-02") + pd.Timedelta(days=day),
                    "size_spec": size,
                    "size_unit": "shares",
                    "size_shares": size,
                    "strategy": name,
                    "strategy_name": name,
                    "side": "buy",
                    "model_kind": "linear",
                    "success": True,
                    "message": "",
                    "predicted_cost_usd": pred * 10,
                    "realized_cost_usd": value * 10,
                    "shortfall_usd": value * 10,
                    "predicted_bps": pred,
                    "realized_bps": value,
                    "shortfall_bps": value,
                    "error_bps": value - pred,
                    "improvement_vs_equal_bps": e - value,
                    "captured_saving": np.nan,
                    "solve_ms": 1.0,
                }
            )
    return pd.DataFrame(rows).reindex(columns=list(RESULT_COLUMNS))


def test_bootstrap_interval_of_constant_is_the_constant():
    rng = np.random.default_rng(0)
    assert bootstrap_mean_ci(np.full(7, 2.5), 500, rng) == pytest.approx((2.5, 2.5))
    low, high = bootstrap_mean_ci(np.array([1.0]), 500, rng)
    assert np.isnan(low) and np.isnan(high)


def test_bootstrap_interval_covers_mean_of_noisy_sample():
    rng = np.random.default_rng(1)
    values = rng.normal(3.0, 1.0, size=200)
    low, high = bootstrap_mean_ci(values, 2000, np.random.default_rng(2))
    assert low < values.mean() < high
    assert high - low == pytest.approx(2 * 1.96 / np.sqrt(200), rel=0.25)


def test_summarize_paired_improvement_and_win_rate():
    res = _frame(equal=[10, 12, 11, 9], other=[8, 9, 12, 7])
    summ = summarize(res, bootstrap_samples=500, seed=3).set_index("strategy")
    opt = summ.loc["opt"]
    assert opt["improvement_bps"] == pytest.approx(np.mean([2, 3, -1, 2]))
    assert opt["win_rate"] == pytest.approx(0.75)
    assert opt["improvement_pct"] == pytest.approx(100 * 1.5 / 10.5)
    assert opt["improvement_ci_low_bps"] <= 1.5 <= opt["improvement_ci_high_bps"]
    assert opt["days"] == 4 and opt["failed"] == 0
    assert summ.loc["equal", "improvement_bps"] == pytest.approx(0.0)
    # Same seed, same intervals.
    again = summarize(res, bootstrap_samples=500, seed=3).set_index("strategy")
    assert again.loc["opt", "improvement_ci_low_bps"] == opt["improvement_ci_low_bps"]


def test_summarize_bias_and_rmse():
    res = _frame(equal=[10, 10], other=[8, 6], predicted={"equal": 9.0, "opt": 7.0})
    opt = summarize(res, bootstrap_samples=200).set_index("strategy").loc["opt"]
    assert opt["bias_bps"] == pytest.approx(np.mean([1.0, -1.0]))
    assert opt["rmse_bps"] == pytest.approx(1.0)


def test_summarize_lists_strategies_that_only_failed():
    res = _frame(equal=[10, 11], other=[9, 9])
    res.loc[res["strategy"] == "opt", "success"] = False
    summ = summarize(res, bootstrap_samples=200).set_index("strategy")
    assert summ.loc["opt", "failed"] == 2 and summ.loc["opt", "days"] == 0


def test_sensitivity_table_by_size():
    res = pd.concat(
        [_frame([10, 10], [9, 9], size=1000.0), _frame([20, 20], [16, 16], size=2000.0)],
        ignore_index=True,
    )
    sens = sensitivity_table(res)
    opt = sens[sens["strategy"] == "opt"].set_index("size_spec")
    assert opt.loc[1000.0, "realized_improvement_pct"] == pytest.approx(10.0)
    assert opt.loc[2000.0, "realized_improvement_pct"] == pytest.approx(20.0)
