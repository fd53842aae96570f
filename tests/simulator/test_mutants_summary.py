"""Summary cases that kill surviving mutants: argument checks with their messages, a given
block length, identical strategies across failed days, and the sensitivity table against an
independent pandas-free recomputation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.errors import DataError, InvalidParameterError
from simulator.daytask import RESULT_COLUMNS
from simulator.summary import (
    block_bootstrap_ci,
    group_seed,
    moving_block_indices,
    sensitivity_table,
    summarize,
)


def _frame(series, size=1000.0, regime="r"):
    """Results rows from ``{strategy: realised bps per day}`` (NaN = failed row)."""
    rows = []
    for name, values in series.items():
        for day, value in enumerate(values):
            ok = bool(np.isfinite(value))
            rows.append(
                {
                    "scenario": "t",
                    "regime": regime,
                    "day_index": day,
                    "date": pd.Timestamp("2024-01-02") + pd.Timedelta(days=day),
                    "size_spec": size,
                    "size_unit": "shares",
                    "size_shares": size,
                    "strategy": name,
                    "strategy_name": name,
                    "success": ok,
                    "predicted_cost_usd": value * 10 if ok else np.nan,
                    "realized_cost_usd": value * 10 if ok else np.nan,
                    "predicted_bps": value if ok else np.nan,
                    "realized_bps": value if ok else np.nan,
                    "shortfall_bps": value if ok else np.nan,
                    "error_bps": 0.0 if ok else np.nan,
                    "solve_ms": 1.0,
                }
            )
    return pd.DataFrame(rows).reindex(columns=list(RESULT_COLUMNS))


def _market(days, seed=0):
    """Equal's daily cost, a noisy saver and a loser."""
    rng = np.random.default_rng(seed)
    equal = 10 + rng.normal(0, 1, days)
    return {
        "equal": equal,
        "exact": equal - 1.5 + rng.normal(0, 0.8, days),
        "vwap": equal + 3 + rng.normal(0, 0.5, days),
    }


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"n_days": 0}, r"n_days must be an integer >= 1; got 0$"),
        ({"n_days": 2.5}, r"n_days must be an integer >= 1; got 2.5$"),
        ({"block_length": 0}, r"block_length must be an integer in \[1, n_days=5\]; got 0$"),
        ({"block_length": 6}, r"block_length must be an integer in \[1, n_days=5\]; got 6$"),
        ({"block_length": 2.0}, r"block_length must be an integer in \[1, n_days=5\]; got 2.0$"),
        ({"samples": 0}, r"samples must be an integer >= 1; got 0$"),
        ({"samples": 3.0}, r"samples must be an integer >= 1; got 3.0$"),
    ],
    ids=[
        "n_days_0",
        "n_days_float",
        "block_0",
        "block_too_long",
        "block_float",
        "samples_0",
        "samples_float",
    ],
)
def test_moving_block_indices_rejects_bad_arguments(kw, message):
    args = {"n_days": 5, "block_length": 2, "samples": 3, "seed": 1, **kw}
    with pytest.raises(InvalidParameterError, match=message):
        moving_block_indices(**args)


def test_moving_block_indices_accepts_the_edges():
    # block_length = n_days (one block, the days in order) and one resample.
    idx = moving_block_indices(5, 5, 1, 3)
    np.testing.assert_array_equal(idx, [[0, 1, 2, 3, 4]])
    assert idx.dtype == np.intp
    one = moving_block_indices(1, 1, 4, 0)
    np.testing.assert_array_equal(one, np.zeros((4, 1)))


@pytest.mark.parametrize(
    ("level", "indices", "message"),
    [
        (1.0, np.zeros((3, 4), dtype=int), r"level must be in \(0, 1\); got 1.0$"),
        (0, np.zeros((3, 4), dtype=int), r"level must be in \(0, 1\); got 0$"),
        ("0.9", np.zeros((3, 4), dtype=int), r"level must be in \(0, 1\); got '0.9'$"),
        (
            0.9,
            np.zeros((3, 5), dtype=int),
            r"indices must have shape \(samples, 4\); got \(3, 5\)$",
        ),
        (0.9, np.zeros(4, dtype=int), r"indices must have shape \(samples, 4\); got \(4,\)$"),
    ],
    ids=["level_1", "level_0", "level_str", "indices_columns", "indices_1d"],
)
def test_block_bootstrap_ci_rejects_bad_arguments(level, indices, message):
    with pytest.raises(InvalidParameterError, match=message):
        block_bootstrap_ci(np.arange(4.0), indices, level)


def test_block_bootstrap_ci_of_a_column_with_one_value_is_nan_and_others_are_not():
    diffs = np.array([[1.0, np.nan], [2.0, np.nan], [4.0, 3.0]])
    idx = np.array([[0, 1, 2], [2, 2, 2], [0, 0, 1]])
    low, high = block_bootstrap_ci(diffs, idx, 0.5)
    # Column 0: resampled means 7/3, 4, 4/3, centred at their average 23/9.
    means = np.array([7 / 3, 4.0, 4 / 3])
    q = np.quantile(means - means.mean(), [0.25, 0.75])
    assert low[0] == pytest.approx(7 / 3 + q[0], rel=1e-12)
    assert high[0] == pytest.approx(7 / 3 + q[1], rel=1e-12)
    assert np.isnan(low[1]) and np.isnan(high[1])


def test_summarize_uses_the_given_block_length():
    data = _market(23, seed=4)
    res = _frame(data, size=0.02, regime="u")
    summ = summarize(res, bootstrap_samples=800, seed=9, block_length=2).set_index("strategy")
    idx = moving_block_indices(23, 2, 800, group_seed(9, "u", 0.02))
    diff = data["equal"] - data["vwap"]
    means = diff[idx].mean(axis=1)
    low, high = diff.mean() + np.quantile(means - means.mean(), [0.025, 0.975])
    row = summ.loc["vwap"]
    assert row["block_length"] == 2
    assert row["improvement_ci_low_bps"] == pytest.approx(low, rel=1e-10)
    assert row["improvement_ci_high_bps"] == pytest.approx(high, rel=1e-10)
    # A block longer than the group is capped at its number of days.
    capped = summarize(res, bootstrap_samples=50, block_length=100)
    assert (capped["block_length"] == 23).all()


def test_identical_to_ignores_the_days_one_of_them_failed():
    equal = np.array([10.0, 11.0, 12.0, 13.0])
    same = np.array([9.0, 10.5, 11.0, 12.0])
    failed_once = same.copy()
    failed_once[2] = np.nan
    other = same + np.array([0.0, 0.0, 0.0, 0.5])
    res = _frame({"equal": equal, "a": same, "b": failed_once, "c": other})
    summ = summarize(res, bootstrap_samples=50).set_index("strategy")
    assert summ.loc["a", "identical_to"] == "b"
    assert summ.loc["b", "identical_to"] == "a"
    assert summ.loc["c", "identical_to"] == ""
    assert summ.loc["equal", "identical_to"] == ""


def test_sensitivity_table_recomputed_by_hand():
    # Equal and one strategy at two sizes, predicted and realised costs that differ, and a
    # failed equal row (that day is unpaired: it enters neither mean).
    rows = []
    cases = {
        1000.0: {
            "equal": ([10.0, 12.0, 14.0], [11.0, 11.0, 13.0]),
            "opt": ([9.0, 9.0, 13.0], [10.0, 8.0, 12.0]),
        },
        2000.0: {
            "equal": ([20.0, 22.0, 21.0], [25.0, 21.0, 20.0]),
            "opt": ([16.0, 18.0, 20.0], [19.0, 20.0, 17.0]),
        },
    }
    for size, by_name in cases.items():
        for name, (realized, predicted) in by_name.items():
            for day, (r, p) in enumerate(zip(realized, predicted, strict=True)):
                rows.append((size, name, day, r, p))
    frame = pd.DataFrame(rows, columns=["size_spec", "strategy", "day_index", "real", "pred"])
    res = pd.DataFrame(
        {
            "regime": "r",
            "size_spec": frame["size_spec"],
            "size_unit": "shares",
            "size_shares": frame["size_spec"] * 1.5,
            "day_index": frame["day_index"],
            "strategy": frame["strategy"],
            "success": ~((frame["strategy"] == "equal") & (frame["day_index"] == 2)),
            "predicted_cost_usd": frame["pred"],
            "realized_cost_usd": frame["real"],
        }
    )
    sens = sensitivity_table(res)
    assert list(sens.columns) == [
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
    assert list(zip(sens["strategy"], sens["size_spec"], strict=True)) == [
        ("equal", 1000.0),
        ("equal", 2000.0),
        ("opt", 1000.0),
        ("opt", 2000.0),
    ]
    opt = sens[sens["strategy"] == "opt"].set_index("size_spec")
    for size, by_name in cases.items():
        eq_real, eq_pred = (np.array(a[:2]) for a in by_name["equal"])
        real, pred = (np.array(a[:2]) for a in by_name["opt"])
        row = opt.loc[size]
        assert row["mean_size_shares"] == pytest.approx(1.5 * size, rel=1e-12)
        assert row["size_unit"] == "shares"
        assert row["predicted_equal_usd"] == pytest.approx(eq_pred.mean(), rel=1e-12)
        assert row["predicted_usd"] == pytest.approx(pred.mean(), rel=1e-12)
        assert row["realized_equal_usd"] == pytest.approx(eq_real.mean(), rel=1e-12)
        assert row["realized_usd"] == pytest.approx(real.mean(), rel=1e-12)
        assert row["predicted_improvement_pct"] == pytest.approx(
            100 * (1 - pred.mean() / eq_pred.mean()), rel=1e-12
        )
        assert row["realized_improvement_pct"] == pytest.approx(
            100 * (1 - real.mean() / eq_real.mean()), rel=1e-12
        )


def test_identical_to_includes_a_difference_of_exactly_the_tolerance():
    # "Within tie_bps" includes the edge: 0.5 apart on every day with tie_bps = 0.5.
    equal = np.array([10.0, 11.0, 12.0, 13.0])
    res = _frame({"equal": equal, "a": equal - 1.0, "b": equal - 1.5})
    summ = summarize(res, bootstrap_samples=50, tie_bps=0.5).set_index("strategy")
    assert summ.loc["a", "identical_to"] == "b"
    assert summ.loc["b", "identical_to"] == "a"


def test_two_different_successful_rows_for_one_day_are_refused():
    equal = np.array([10.0, 11.0, 12.0])
    res = _frame({"equal": equal, "a": equal - 1.0})
    twin = res[(res["strategy"] == "a") & (res["day_index"] == 1)].copy()
    twin["realized_bps"] = 99.0  # the same day and strategy, another number
    with pytest.raises(DataError, match="more than one successful row"):
        summarize(pd.concat([res, twin], ignore_index=True), bootstrap_samples=50)


def test_success_given_as_zero_and_one_is_read_as_a_flag():
    equal = np.array([10.0, 11.0, 12.0, 13.0, 12.5])
    res = _frame({"equal": equal, "a": equal - [1.0, 0.5, 1.5, 1.0, np.nan]})
    as_int = res.assign(success=res["success"].astype(int))
    pd.testing.assert_frame_equal(
        summarize(res, bootstrap_samples=50), summarize(as_int, bootstrap_samples=50)
    )


def test_block_bootstrap_ci_skips_resamples_that_drew_no_value():
    # The first resample draws only the missing days: it has no mean and is left out; the
    # other two both average 2, so the interval is the point 2.
    diffs = np.array([1.0, np.nan, 3.0, np.nan])
    indices = np.array([[1, 3, 1, 3], [0, 2, 0, 2], [0, 1, 2, 3]])
    assert block_bootstrap_ci(diffs, indices) == (2.0, 2.0)
