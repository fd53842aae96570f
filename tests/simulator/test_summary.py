"""Summary statistics pinned to independent references: the moving-block bootstrap against
normal theory and Kunsch's closed-form variance, its day frequencies against the exact
resampling distribution, common random numbers, row-order invariance, verdicts, ties and
warnings on hand-made results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from models.errors import InvalidParameterError
from simulator.daytask import RESULT_COLUMNS
from simulator.summary import (
    SUMMARY_COLUMNS,
    block_bootstrap_ci,
    block_length_rule,
    group_seed,
    moving_block_indices,
    sensitivity_table,
    summarize,
)

Z975 = norm.ppf(0.975)


def _frame(series, size=1000.0, regime="r", predicted=None, start="2024-01-02"):
    """Results rows from ``{strategy: realised bps per day}`` (NaN = failed row)."""
    rows = []
    for name, values in series.items():
        for day, value in enumerate(values):
            ok = bool(np.isfinite(value))
            pred = value if predicted is None else predicted[name]
            rows.append(
                {
                    "scenario": "t",
                    "regime": regime,
                    "day_index": day,
                    "date": pd.Timestamp(start) + pd.Timedelta(days=day),
                    "size_spec": size,
                    "size_unit": "shares",
                    "size_shares": size,
                    "strategy": name,
                    "strategy_name": name,
                    "side": "buy",
                    "model_kind": "linear",
                    "success": ok,
                    "message": "" if ok else "ValueError: broken",
                    "predicted_cost_usd": pred * 10 if ok else np.nan,
                    "realized_cost_usd": value * 10 if ok else np.nan,
                    "shortfall_usd": value * 10 if ok else np.nan,
                    "predicted_bps": pred if ok else np.nan,
                    "realized_bps": value if ok else np.nan,
                    "shortfall_bps": value if ok else np.nan,
                    "error_bps": value - pred if ok else np.nan,
                    "improvement_vs_equal_bps": np.nan,
                    "captured_saving": np.nan,
                    "solve_ms": 1.0,
                }
            )
    return pd.DataFrame(rows).reindex(columns=list(RESULT_COLUMNS))


def _market(days, seed=0):
    """Equal's daily cost and five strategies: a copy of one, a noisy saver, a loser."""
    rng = np.random.default_rng(seed)
    equal = 10 + rng.normal(0, 1, days)
    saver = equal - 1.5 + rng.normal(0, 0.8, days)
    return {
        "equal": equal,
        "exact": saver,
        "analytical": saver.copy(),
        "vwap": equal + 3 + rng.normal(0, 0.5, days),
        "oracle": equal - 4 + rng.normal(0, 0.3, days),
    }


def _ci(summary, strategy):
    row = summary.set_index("strategy").loc[strategy]
    return row["improvement_ci_low_bps"], row["improvement_ci_high_bps"]


# --- the bootstrap against independent references -------------------------------------


def test_block_length_rule_is_the_integer_cube_root_rounded_up():
    brute = [next(b for b in range(1, n + 1) if b**3 >= n) for n in range(1, 2001)]
    assert [block_length_rule(n) for n in range(1, 2001)] == brute
    assert [block_length_rule(n) for n in (1, 10, 27, 28, 30, 250)] == [1, 3, 3, 4, 4, 7]
    with pytest.raises(InvalidParameterError, match="n_days must be an integer >= 1; got 0"):
        block_length_rule(0)


def test_interval_with_block_length_one_matches_normal_theory():
    # Days resampled as independent: the bootstrap mean has variance s^2 / n (ddof 0); on
    # 400 normal days the 95% percentile interval is mean +- 1.96 s / sqrt(n).  A 90% interval
    # (width x0.84) or a 1%-level error in the quantiles fails the 2% width tolerance.
    values = np.random.default_rng(100).normal(1.0, 2.0, 400)
    low, high = block_bootstrap_ci(values, moving_block_indices(400, 1, 20000, 0))
    half = Z975 * values.std() / np.sqrt(values.size)
    assert high - low == pytest.approx(2 * half, rel=0.02)
    assert (low + high) / 2 == pytest.approx(values.mean(), abs=0.03 * half)


def test_moving_block_interval_matches_kunsch_closed_form_variance():
    # With b dividing n, the MBB mean is the average of n/b block means drawn uniformly from
    # the n-b+1 overlapping block means, so Var* = var(block means) / (n/b) exactly
    # (Kunsch 1989).  AR(1) days with phi = 0.5: an iid bootstrap would be ~30% too narrow.
    n = 216
    b = block_length_rule(n)
    assert b == 6
    rng = np.random.default_rng(200)
    shocks = rng.normal(size=n + 50)
    series = np.zeros(n + 50)
    for t in range(1, n + 50):
        series[t] = 0.5 * series[t - 1] + shocks[t]
    series = series[50:]
    block_means = np.convolve(series, np.ones(b) / b, mode="valid")
    sd_star = np.sqrt(block_means.var() / (n // b))
    iid_sd = series.std() / np.sqrt(n)
    assert iid_sd < 0.8 * sd_star
    low, high = block_bootstrap_ci(series, moving_block_indices(n, b, 20000, 0))
    assert high - low == pytest.approx(2 * Z975 * sd_star, rel=0.02)
    # Centred at the sample mean, not at the MBB's E*[mean*] (edge days drawn less often).
    assert (low + high) / 2 == pytest.approx(series.mean(), abs=0.05 * sd_star)


def _expected_counts(n, b):
    """Expected draws of each day per resample under arch's MBB: ceil(n/b) blocks starting
    uniformly in [0, n-b], concatenated and cut to n days (the last block maybe partial)."""
    starts = np.arange(n - b + 1)
    days = np.arange(n)[:, None]
    full, rest = divmod(n, b)
    cover = ((starts <= days) & (days < starts + b)).mean(axis=1)
    partial = ((starts <= days) & (days < starts + rest)).mean(axis=1)
    return full * cover + partial


@pytest.mark.parametrize(("n", "b"), [(10, 3), (12, 3), (7, 7), (5, 1)])
def test_every_day_is_drawn_as_often_as_the_moving_block_scheme_says(n, b):
    samples = 20000
    idx = moving_block_indices(n, b, samples, group_seed(0, "r", 0.02))
    assert idx.shape == (samples, n)
    counts = np.bincount(idx.ravel(), minlength=n)
    assert counts.size == n and counts[0] > 0 and counts[-1] > 0
    expected = samples * _expected_counts(n, b)
    assert expected.sum() == pytest.approx(samples * n)
    # Expected counts are >= 2,500 per day here: sampling error ~2%, a wrong scheme >= 10%.
    np.testing.assert_allclose(counts / expected, 1.0, rtol=0.05)


def test_summary_interval_is_reproduced_from_the_group_indices_by_hand():
    # The independent recomputation: the summary's interval equals the centred percentile
    # interval of the means over the group's resampled days, computed here with plain numpy,
    # for a strategy with two failed days (its statistics use the days it has).
    data = _market(23, seed=4)
    data["exact"][[3, 17]] = np.nan
    res = _frame(data, size=0.02, regime="u")
    summ = summarize(res, bootstrap_samples=3000, seed=9).set_index("strategy")
    b = block_length_rule(23)
    idx = moving_block_indices(23, b, 3000, group_seed(9, "u", 0.02))
    for name in ("exact", "vwap"):
        diff = data["equal"] - data[name]
        have = ~np.isnan(diff)
        means = np.array([np.mean(diff[row][have[row]]) for row in idx])
        centred = means - means.mean()
        low, high = diff[have].mean() + np.quantile(centred, [0.025, 0.975])
        row = summ.loc[name]
        assert row["block_length"] == b
        assert row["improvement_bps"] == pytest.approx(diff[have].mean(), rel=1e-12)
        assert row["improvement_ci_low_bps"] == pytest.approx(low, rel=1e-10)
        assert row["improvement_ci_high_bps"] == pytest.approx(high, rel=1e-10)
    assert summ.loc["exact", "days"] == 21 and summ.loc["exact", "paired_days"] == 21
    assert "failed on 2 of 23 test days" in summ.loc["exact", "warnings"]


# --- common random numbers and order invariance ----------------------------------------


def test_identical_daily_series_get_identical_intervals():
    summ = summarize(_frame(_market(30)), bootstrap_samples=500, seed=1)
    assert _ci(summ, "exact") == _ci(summ, "analytical")
    by = summ.set_index("strategy")
    assert by.loc["exact", "identical_to"] == "analytical"
    assert by.loc["analytical", "identical_to"] == "exact"
    assert by.loc["vwap", "identical_to"] == ""


def test_shuffled_rows_give_an_identical_summary():
    res = pd.concat(
        [_frame(_market(25, seed=2), size=s, regime=r) for s in (0.02, 0.1) for r in "ab"],
        ignore_index=True,
    )
    shuffled = res.sample(frac=1.0, random_state=7).reset_index(drop=True)
    first = summarize(res, bootstrap_samples=300, seed=3)
    pd.testing.assert_frame_equal(
        first, summarize(shuffled, bootstrap_samples=300, seed=3), check_exact=True
    )
    assert list(first.columns) == list(SUMMARY_COLUMNS)
    assert list(first["strategy"].iloc[:5]) == ["equal", "analytical", "exact", "vwap", "oracle"]


def test_groups_bootstrapped_elsewhere_give_the_identical_summary():
    # Each (regime, size) group has its own stream: a mapper that runs the groups out of
    # order (as workers may) gives the same frame, bit for bit.
    res = pd.concat(
        [_frame(_market(25, seed=4), size=s, regime=r) for s in (0.02, 0.1) for r in "ab"],
        ignore_index=True,
    )
    seen = []

    def backwards(function, items):
        seen.append(len(items))
        return [function(*item) for item in items[::-1]][::-1]

    here = summarize(res, bootstrap_samples=300, seed=3, strategy_order=["vwap"])
    there = summarize(res, bootstrap_samples=300, seed=3, strategy_order=["vwap"], mapper=backwards)
    assert seen == [4]
    pd.testing.assert_frame_equal(here, there, check_exact=True)
    assert here["strategy"].iloc[0] == "vwap"


def test_adding_a_strategy_leaves_the_others_unchanged():
    data = _market(40, seed=5)
    fewer = {k: data[k] for k in ("equal", "exact", "vwap")}
    before = summarize(_frame(fewer), bootstrap_samples=400, seed=2).set_index("strategy")
    after = summarize(_frame(data), bootstrap_samples=400, seed=2).set_index("strategy")
    cols = ["improvement_bps", "improvement_ci_low_bps", "improvement_ci_high_bps", "win_share"]
    pd.testing.assert_frame_equal(before[cols], after.loc[before.index, cols], check_exact=True)


def test_strategy_order_keyword_orders_rows():
    order = ["equal", "vwap", "exact", "analytical", "oracle"]
    summ = summarize(_frame(_market(12)), bootstrap_samples=50, strategy_order=order)
    assert list(summ["strategy"]) == order


@settings(max_examples=30, deadline=None)
@given(
    days=st.integers(min_value=2, max_value=15),
    extra=st.integers(min_value=0, max_value=3),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_each_column_interval_ignores_the_other_columns(days, extra, seed):
    rng = np.random.default_rng(seed)
    col = rng.normal(size=days)
    idx = moving_block_indices(days, block_length_rule(days), 64, seed)
    alone = block_bootstrap_ci(col, idx)
    many = np.column_stack([rng.normal(size=(days, extra)), col, col])
    low, high = block_bootstrap_ci(many, idx)
    assert low[extra] == low[extra + 1] == alone[0]
    assert high[extra] == high[extra + 1] == alone[1]
    assert low[extra] <= col.mean() <= high[extra]


# --- wins, ties, verdicts, warnings ----------------------------------------------------


def test_win_tie_loss_shares_on_a_hand_made_case():
    equal = np.array([10.0, 10.0, 10.0, 10.0, 10.0, 10.0])
    other = equal - np.array([2.0, 0.0, -1.0, 1e-12, 1e-6, -3.0])
    opt = summarize(_frame({"equal": equal, "opt": other}), bootstrap_samples=50)
    opt = opt.set_index("strategy").loc["opt"]
    # Wins 2 and 1e-6; ties 0 and 1e-12 (<= 1e-9 bps); losses -1 and -3.
    assert (opt["win_share"], opt["tie_share"], opt["loss_share"]) == (2 / 6, 2 / 6, 2 / 6)
    assert opt["win_rate"] == opt["win_share"]
    assert opt["improvement_bps"] == pytest.approx((2.0 - 1.0 + 1e-6 - 3.0) / 6, rel=1e-12)
    assert opt["warnings"] == "only 6 test days (fewer than 10): interval unreliable"


def _improving(mean, sd, days=30, seed=0):
    """Equal and a strategy whose daily improvement has sample mean ``mean`` exactly."""
    rng = np.random.default_rng(seed)
    equal = 10 + rng.normal(0, 1, days)
    noise = rng.normal(0, sd, days)
    return {"equal": equal, "opt": equal - (mean + noise - noise.mean())}


def _row(data, **kw):
    summ = summarize(_frame(data), bootstrap_samples=1000, seed=0, **kw)
    return summ.set_index("strategy").loc["opt"]


def test_near_twap_strategy_is_equivalent_and_established():
    row = _row(_improving(1e-3, 1e-3))
    assert 0 < row["improvement_ci_low_bps"] and row["improvement_ci_high_bps"] < 0.01
    assert row["verdict"] == "equivalent" and row["equivalence_established"]
    assert row["verdict_reason"] == "interval within the margin"


def test_clearly_better_and_clearly_worse_strategies():
    better = _row(_improving(2.0, 0.5))
    assert better["verdict"] == "better" and not better["equivalence_established"]
    worse = _row(_improving(-2.0, 0.5))
    assert worse["verdict"] == "worse" and not worse["equivalence_established"]
    # The same saving inside a wider practical margin is only equivalent.
    wide = _row(_improving(2.0, 0.5), equivalence_bps=5.0)
    assert wide["verdict"] == "equivalent" and wide["equivalence_established"]


def test_significant_but_negligible_and_indistinguishable_are_equivalent_not_established():
    small = _row(_improving(0.07, 0.12))
    assert small["improvement_ci_low_bps"] > 0 and small["improvement_ci_high_bps"] > 0.1
    assert small["verdict"] == "equivalent" and not small["equivalence_established"]
    assert small["verdict_reason"] == "interval excludes 0 but mean within the margin"
    noisy = _row(_improving(0.3, 5.0))
    assert noisy["improvement_ci_low_bps"] < 0 < noisy["improvement_ci_high_bps"]
    assert noisy["verdict"] == "equivalent" and not noisy["equivalence_established"]
    assert noisy["verdict_reason"].startswith("interval includes 0")


def test_equal_is_the_baseline_and_oracle_is_judged_as_a_bound():
    summ = summarize(_frame(_market(15)), bootstrap_samples=200).set_index("strategy")
    eq = summ.loc["equal"]
    assert eq["role"] == "baseline" and eq["verdict"] == "equivalent"
    assert eq["verdict_reason"] == "baseline" and eq["equivalence_established"]
    assert (eq["improvement_ci_low_bps"], eq["improvement_ci_high_bps"]) == (0.0, 0.0)
    assert eq["tie_share"] == 1.0
    assert summ.loc["oracle", "role"] == "oracle" and summ.loc["oracle", "verdict"] == "better"
    assert summ.loc["vwap", "role"] == "strategy" and summ.loc["vwap", "verdict"] == "worse"


def test_rounding_noise_is_a_tie_not_a_saving():
    equal = 10 + np.random.default_rng(3).normal(0, 1, 12)
    noisy = equal - np.linspace(1.8e-15, 9.4e-15, 12)
    row = _row({"equal": equal, "opt": noisy})
    assert row["improvement_bps"] == 0.0 and row["tie_share"] == 1.0
    assert (row["improvement_ci_low_bps"], row["improvement_ci_high_bps"]) == (0.0, 0.0)
    assert row["verdict"] == "equivalent" and row["identical_to"] == "equal"


def test_one_test_day_gives_a_warning_and_no_interval():
    summ = summarize(_frame({"equal": [10.0], "opt": [9.0]}), bootstrap_samples=100)
    for _, row in summ.iterrows():
        assert np.isnan(row["improvement_ci_low_bps"]) and np.isnan(row["improvement_ci_high_bps"])
        assert row["warnings"] == "only 1 test day: no interval"
    opt = summ.set_index("strategy").loc["opt"]
    assert opt["improvement_bps"] == 1.0 and opt["win_share"] == 1.0
    assert opt["verdict"] == "equivalent" and not opt["equivalence_established"]


def test_nan_interval_always_comes_with_a_warning():
    data = _market(12)
    data["exact"][1:] = np.nan  # one day left: no interval for exact
    summ = summarize(_frame(data), bootstrap_samples=100).set_index("strategy")
    assert np.isnan(summ.loc["exact", "improvement_ci_low_bps"])
    assert "only 1 day(s) paired with equal: no interval" in summ.loc["exact", "warnings"]
    assert np.isfinite(summ.loc["vwap", "improvement_ci_low_bps"])
    assert summ.loc["vwap", "warnings"] == ""


def test_optional_row_columns_are_summarised_when_present():
    res = _frame(_market(10))
    plain = summarize(res, bootstrap_samples=50)
    assert plain["mean_beyond_depth_share"].isna().all() and (plain["warnings"] == "").all()
    res["beyond_depth_share"] = np.where(res["strategy"] == "vwap", 0.25, 0.0)
    res["warnings"] = ""
    res.loc[(res["strategy"] == "vwap") & (res["day_index"] < 3), "warnings"] = (
        "order above 30% of ADV; caps pin the schedule"
    )
    res.loc[(res["strategy"] == "vwap") & (res["day_index"] == 5), "warnings"] = (
        "order above 30% of ADV"
    )
    summ = summarize(res, bootstrap_samples=50).set_index("strategy")
    assert summ.loc["vwap", "mean_beyond_depth_share"] == pytest.approx(0.25)
    assert summ.loc["equal", "mean_beyond_depth_share"] == 0.0
    assert summ.loc["vwap", "warnings"] == "order above 30% of ADV; caps pin the schedule"
    assert summ.loc["exact", "warnings"] == ""


# --- the other statistics and the sensitivity table --------------------------------------


def test_summarize_paired_improvement_and_percentages():
    res = _frame({"equal": [10, 12, 11, 9], "opt": [8, 9, 12, 7]})
    opt = summarize(res, bootstrap_samples=500, seed=3).set_index("strategy").loc["opt"]
    assert opt["improvement_bps"] == pytest.approx(np.mean([2, 3, -1, 2]))
    assert opt["improvement_pct"] == pytest.approx(100 * 1.5 / 10.5)
    assert opt["improvement_ci_low_pct"] == pytest.approx(
        100 * opt["improvement_ci_low_bps"] / 10.5
    )
    assert opt["improvement_ci_low_bps"] <= 1.5 <= opt["improvement_ci_high_bps"]
    assert opt["days"] == 4 and opt["failed"] == 0 and opt["block_length"] == 2


def test_summarize_bias_and_rmse():
    res = _frame({"equal": [10, 10], "opt": [8, 6]}, predicted={"equal": 9.0, "opt": 7.0})
    opt = summarize(res, bootstrap_samples=200).set_index("strategy").loc["opt"]
    assert opt["bias_bps"] == pytest.approx(np.mean([1.0, -1.0]))
    assert opt["rmse_bps"] == pytest.approx(1.0)


def test_summarize_lists_strategies_that_only_failed():
    res = _frame({"equal": [10, 11], "opt": [np.nan, np.nan]})
    opt = summarize(res, bootstrap_samples=200).set_index("strategy").loc["opt"]
    assert opt["failed"] == 2 and opt["days"] == 0 and opt["paired_days"] == 0
    assert pd.isna(opt["verdict"]) and opt["verdict_reason"] == "no day paired with equal"
    assert "failed on 2 of 2 test days" in opt["warnings"]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"equivalence_bps": -0.1}, "equivalence_bps must be finite and >= 0; got -0.1"),
        ({"level": 95}, "level must be in \\(0, 1\\); got 95"),
        ({"bootstrap_samples": 0}, "bootstrap_samples must be an integer >= 1; got 0"),
        ({"block_length": 0}, "block_length must be None or an integer >= 1; got 0"),
        ({"level": 0}, "level must be in \\(0, 1\\); got 0$"),
        ({"seed": -1}, "seed must be an integer >= 0; got -1$"),
        ({"tie_bps": -1e-9}, "tie_bps must be finite and >= 0; got -1e-09$"),
        ({"tie_bps": float("inf")}, "tie_bps must be finite and >= 0; got inf$"),
    ],
)
def test_summarize_rejects_bad_keywords(kw, message):
    # One test day: no interval is computed, so only summarize's own checks can raise.
    with pytest.raises(InvalidParameterError, match=message):
        summarize(_frame({"equal": [10]}), **kw)


def test_sensitivity_table_by_size():
    res = pd.concat(
        [
            _frame({"equal": [10, 10], "opt": [9, 9]}, size=1000.0),
            _frame({"equal": [20, 20], "opt": [16, 16]}, size=2000.0),
        ],
        ignore_index=True,
    )
    sens = sensitivity_table(res)
    opt = sens[sens["strategy"] == "opt"].set_index("size_spec")
    assert opt.loc[1000.0, "realized_improvement_pct"] == pytest.approx(10.0)
    assert opt.loc[2000.0, "realized_improvement_pct"] == pytest.approx(20.0)
