"""No look-ahead, asserted: the test day can change what is charged, never what was planned.

Every row's training window ends before its test day and holds exactly ``training_days``
days; distorting only the test day's books (depth, volume, spread, mids) leaves every plan,
cap, ADV, size and prediction of that day unchanged, and changes the realised costs.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simulator.evaluate import evaluate
from simulator.settings import EvaluationSettings, SizeSpec
from simulator.synthetic import synthesize_market
from strategies import get_strategy

INTERVALS = 60
TRAINING = 4


@pytest.fixture(scope="module")
def market():
    return synthesize_market("u_shape", days=8, intervals=INTERVALS, levels=6, seed=21).books


def _settings(**kw):
    base = dict(
        sizes=SizeSpec(adv_fraction=(0.02, 0.1)),
        training_days=TRAINING,
        max_participation=0.3,
        bootstrap_samples=200,
    )
    base.update(kw)
    return EvaluationSettings(**base)


STRATEGIES = [
    (name, get_strategy(name))
    for name in ("equal", "vwap", "exact", "analytical", "almgren-chriss")
]


def _distort_day(books, day: int):
    """The same market with day ``day``'s books thinned, its volume tripled, its spread
    widened by two ticks and its mids moved up 1%."""
    sz_scale, vol_scale, widen, shift = 0.3, 3.0, 2 * books.tick_size, 1.01
    bid_px, ask_px = books.bid_px.copy(), books.ask_px.copy()
    bid_sz, ask_sz, volume = books.bid_sz.copy(), books.ask_sz.copy(), books.volume.copy()
    bid_px[day] = bid_px[day] * shift - widen
    ask_px[day] = ask_px[day] * shift + widen
    bid_sz[day] *= sz_scale
    ask_sz[day] *= sz_scale
    volume[day] *= vol_scale
    return dataclasses.replace(
        books, bid_px=bid_px, ask_px=ask_px, bid_sz=bid_sz, ask_sz=ask_sz, volume=volume
    )


def test_training_window_precedes_the_test_day_and_has_exactly_w_days(market):
    res = evaluate(market, STRATEGIES, _settings(refit_every=2)).results
    dates = market.dates.astype("datetime64[ns]")
    assert (res["train_end"] < res["date"]).all()
    for _, row in res.drop_duplicates(["day_index"]).iterrows():
        window = (dates >= row["train_start"].to_datetime64()) & (
            dates <= row["train_end"].to_datetime64()
        )
        assert window.sum() == TRAINING
        assert dates[row["day_index"]] == row["date"].to_datetime64()


@pytest.mark.parametrize("max_participation", [0.3, None])
def test_distorting_the_test_day_changes_no_plan_only_the_realised_cost(
    market, max_participation
):
    day = market.n_days - 1
    settings = _settings(test_days=1, max_participation=max_participation)
    clean = evaluate(market, STRATEGIES, settings)
    dirty = evaluate(_distort_day(market, day), STRATEGIES, settings)
    a, b = clean.results, dirty.results
    assert (a["day_index"] == day).all() and a["success"].all() and b["success"].all()
    planned = ["size_shares", "adv_shares", "predicted_cost_usd", "strategy"]
    pa, pb = a[a["strategy"] != "oracle"], b[b["strategy"] != "oracle"]
    np.testing.assert_array_equal(pa[planned].to_numpy(), pb[planned].to_numpy())
    # Every non-oracle schedule is the same, so caps and volatility were the same too.
    sa = clean.allocations[clean.allocations["strategy"] != "oracle"]
    sb = dirty.allocations[dirty.allocations["strategy"] != "oracle"]
    np.testing.assert_array_equal(sa["shares"].to_numpy(), sb["shares"].to_numpy())
    # ... while what the market charged did change, for every strategy.
    assert np.all(np.abs(a["realized_bps"].to_numpy() - b["realized_bps"].to_numpy()) > 1e-3)
    # The oracle, which sees the test day, re-plans.
    oa = clean.allocations[clean.allocations["strategy"] == "oracle"]["shares"].to_numpy()
    ob = dirty.allocations[dirty.allocations["strategy"] == "oracle"]["shares"].to_numpy()
    assert not np.array_equal(oa, ob)


def test_distorting_a_training_day_does_change_the_plan(market):
    # The converse, so the test above cannot pass because plans ignore every book.
    day = market.n_days - 1
    settings = _settings(test_days=1)
    clean = evaluate(market, STRATEGIES, settings).results
    dirty = evaluate(_distort_day(market, day - 1), STRATEGIES, settings).results
    assert not np.allclose(clean["predicted_cost_usd"], dirty["predicted_cost_usd"])
    assert not np.allclose(clean["adv_shares"], dirty["adv_shares"])
