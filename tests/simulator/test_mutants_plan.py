"""Planning cases that kill surviving mutants: the volatility recomputed by hand, whole lots
within both bounds, planning times, strategies that fail or have no name, a saved model and a
``book`` model."""

from __future__ import annotations

import dataclasses
import math
import re
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from models import fit_impact_model
from models.errors import DataError
from simulator.evaluate import evaluate
from simulator.plan import price_volatility, saved_model
from simulator.settings import EvaluationSettings, SizeSpec
from simulator.synthetic import synthesize_market
from strategies import Strategy, get_strategy

INTERVALS = 30


@pytest.fixture(scope="module")
def market():
    return synthesize_market("u_shape", days=5, intervals=INTERVALS, levels=5, seed=17).books


def _settings(**kw):
    base = dict(sizes=SizeSpec(adv_fraction=(0.02,)), training_days=4, bootstrap_samples=100)
    base.update(kw)
    return EvaluationSettings(**base)


def _volatility_by_hand(mid, window):
    """RMS over days of the one-interval mid change, the last repeated, then the mean over
    ``window`` neighbours (``window // 2`` before), the ends repeated; plain Python."""
    days, n = len(mid), len(mid[0])
    rms = [
        math.sqrt(sum((mid[d][t + 1] - mid[d][t]) ** 2 for d in range(days)) / days)
        for t in range(n - 1)
    ]
    rms.append(rms[-1])
    w = max(1, min(window, n))
    out = []
    for t in range(n):
        picks = [rms[min(max(t - w // 2 + k, 0), n - 1)] for k in range(w)]
        out.append(sum(picks) / w)
    return out


@pytest.mark.parametrize("window", [None, 1, 4, 100])
def test_price_volatility_recomputed_by_hand(market, window):
    books = market.select_days([0, 1, 2])
    got = price_volatility(books) if window is None else price_volatility(books, window)
    expected = _volatility_by_hand(books.mid.tolist(), 15 if window is None else window)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_price_volatility_of_one_interval_is_zero(market):
    one = market.select_days([0])
    one = type(one)(
        bid_px=one.bid_px[:, :1],
        bid_sz=one.bid_sz[:, :1],
        ask_px=one.ask_px[:, :1],
        ask_sz=one.ask_sz[:, :1],
        volume=one.volume[:, :1],
        dates=one.dates,
        interval_starts=one.interval_starts[:1],
    )
    np.testing.assert_array_equal(price_volatility(one), [0.0])


def test_whole_lots_stay_within_the_caps_and_the_minimum(market):
    # Caps (25% of the training volume) and the minimum (150 shares) are not whole lots of
    # 100: rounding must keep every interval inside both, as check_schedule requires.
    market = dataclasses.replace(market, volume=10.0 * market.volume)
    settings = _settings(
        sizes=SizeSpec(adv_fraction=(0.1,)),
        max_participation=0.25,
        min_shares_per_interval=150.0,
        lot_size=100.0,
    )
    strategies = [(n, get_strategy(n)) for n in ("equal", "vwap", "exact")]
    ev = evaluate(market, strategies, settings)
    assert ev.results["success"].all()
    cap = np.maximum(0.25 * market.volume[:4].mean(axis=0), 150.0)
    for label in ("equal", "vwap", "exact"):
        x = ev.allocations.loc[ev.allocations["strategy"] == label, "shares"].to_numpy()
        np.testing.assert_array_equal(x % 100.0, 0.0)
        assert np.all(x >= 150.0) and np.all(x <= cap + 1e-9)
    # The caps bind for exact somewhere, so the check above is not vacuous.
    exact = ev.allocations.loc[ev.allocations["strategy"] == "exact", "shares"].to_numpy()
    assert np.any(exact > cap - 100.0)


@dataclass(frozen=True)
class Sleeps(Strategy):
    name: ClassVar[str] = "sleeps"

    def schedule(self, problem):
        time.sleep(0.05)
        return np.full(problem.n_intervals, problem.total_shares / problem.n_intervals)


@dataclass(frozen=True)
class BadPrediction(Strategy):
    name: ClassVar[str] = "bad-prediction"

    def schedule(self, problem):
        return np.full(problem.n_intervals, problem.total_shares / problem.n_intervals)

    def predicted_cost(self, problem, x):
        raise ValueError("no model here")


@dataclass(frozen=True)
class Nameless(Strategy):
    def schedule(self, problem):
        return get_strategy("exact").schedule(problem)


def test_solve_ms_is_the_wall_time_of_the_call(market):
    res = evaluate(market, [("slow", Sleeps())], _settings(test_days=1)).results
    slow = res[res["strategy"] == "slow"].iloc[0]
    assert 50.0 <= slow["solve_ms"] < 2_000.0
    assert slow["strategy_name"] == "sleeps"


def test_failures_name_the_strategy_and_the_rule(market):
    strategies = [
        ("bad", BadPrediction()),
        ("fit", get_strategy("transient-optimal", half_life="fit")),
        ("exact", get_strategy("exact")),
    ]
    res = evaluate(market, strategies, _settings(test_days=1)).results.set_index("strategy")
    assert not res.loc["bad", "success"] and not res.loc["fit", "success"]
    assert res.loc["bad", "message"] == (
        "strategy 'bad': predicted_cost failed: strategy 'bad' raised ValueError: no model here"
    )
    assert res.loc["fit", "message"] == (
        "strategy 'fit': InvalidParameterError: half_life 'fit' needs a resilience estimate "
        "from the training days; got none (the market has no order-book events: synthetic "
        "days, or files loaded without them); give a number or 'market'"
    )
    assert res.loc["bad", "strategy_name"] == "bad-prediction"
    assert np.isnan(res.loc["fit", "solve_ms"])
    assert res.loc["exact", "success"] and res.loc["exact", "strategy_name"] == "exact"
    assert res.loc["equal", "success"] and res.loc["oracle", "success"]


def test_a_strategy_without_a_name_is_named_by_its_class(market):
    # Feasible: its row is named by its class; infeasible (caps below the order): the
    # failed row is too.
    settings = _settings(
        test_days=1, sizes=SizeSpec(adv_fraction=(0.02, 0.9)), max_participation=0.1
    )
    res = evaluate(market, [("anon", Nameless())], settings).results
    anon = res[res["strategy"] == "anon"].set_index("size_spec")
    assert (anon["strategy_name"] == "Nameless").all()
    assert anon.loc[0.02, "success"] and not anon.loc[0.9, "success"]
    assert anon.loc[0.9, "message"].startswith("size_shares=")


def test_book_model_kind_plans_with_the_training_books(market):
    res = evaluate(
        market, [("exact", get_strategy("exact"))], _settings(test_days=1, model_kind="book")
    ).results.set_index("strategy")
    assert res["success"].all()
    model = fit_impact_model(market.select_days(slice(0, 4)), "book")
    from strategies import solve_exact

    x = solve_exact(model, float(res.loc["exact", "size_shares"]), lower=np.zeros(INTERVALS))
    assert res.loc["exact", "predicted_cost_usd"] == pytest.approx(
        float(model.total_cost(x)), rel=1e-9
    )


def test_a_saved_model_is_used_for_every_day_and_checked(market, tmp_path):
    fitted = fit_impact_model(market.select_days([0, 1]), "linear")
    path = fitted.save(tmp_path / "model.json")
    res = evaluate(
        market, [("exact", get_strategy("exact"))], _settings(model_path=str(path))
    ).results
    equal = res[res["strategy"] == "equal"]
    x = np.full(INTERVALS, float(equal["size_shares"].iloc[0]) / INTERVALS)
    assert equal["predicted_cost_usd"].iloc[0] == pytest.approx(
        float(fitted.total_cost(x)), rel=1e-9
    )
    assert saved_model(str(path), INTERVALS, "linear", "buy").kind == "linear"
    for args, what in (
        ((INTERVALS + 1, "linear", "buy"), f"intervals {INTERVALS}, the run needs {INTERVALS + 1}"),
        ((INTERVALS, "power", "buy"), "kind 'linear', the run needs 'power'"),
        ((INTERVALS, "linear", "sell"), "side 'buy', the run needs 'sell'"),
    ):
        message = f"model file {str(path)!r} must match the market; got {what}"
        with pytest.raises(DataError, match=re.escape(message) + "$"):
            saved_model(str(path), *args)


def test_price_volatility_of_two_intervals_is_the_one_move(market):
    # Two intervals: one mid change per day, repeated for the last interval.
    two = market.select_days([0, 1])
    two = type(two)(
        bid_px=two.bid_px[:, :2],
        bid_sz=two.bid_sz[:, :2],
        ask_px=two.ask_px[:, :2],
        ask_sz=two.ask_sz[:, :2],
        volume=two.volume[:, :2],
        dates=two.dates,
        interval_starts=two.interval_starts[:2],
    )
    moves = np.diff(two.mid, axis=1)[:, 0]
    assert np.any(moves != 0)
    rms = math.sqrt(float(np.mean(moves**2)))
    np.testing.assert_allclose(price_volatility(two), [rms, rms], rtol=1e-12)


class Duck:
    """Not a Strategy: it plans, but cannot predict its cost."""

    def schedule(self, problem):
        return get_strategy("exact").schedule(problem)


def test_an_object_that_is_not_a_strategy_is_named_by_its_class(market):
    res = evaluate(market, [("duck", Duck())], _settings(test_days=1)).results
    duck = res[res["strategy"] == "duck"].iloc[0]
    assert duck["strategy_name"] == "Duck"
    assert not duck["success"]
    assert "'Duck' object has no attribute 'predicted_cost'" in duck["message"]
