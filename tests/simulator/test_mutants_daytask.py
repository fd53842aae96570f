"""Day-task cases that kill surviving mutants: the oracle's book model (built once, on the
order's side, with the scenario's beyond-depth rule) and an oracle that fails."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import simulator.daytask as daytask
from models import BookImpact
from simulator.evaluate import evaluate
from simulator.market import Market
from simulator.settings import EvaluationSettings, SizeSpec
from simulator.synthetic import synthesize_market
from strategies import get_strategy, solve_exact

INTERVALS = 30


@pytest.fixture(scope="module")
def market():
    """Five days whose bids are thinner and one tick further out than the asks."""
    books = synthesize_market("u_shape", days=5, intervals=INTERVALS, levels=5, seed=12).books
    return dataclasses.replace(
        books, bid_sz=books.bid_sz * 0.35, bid_px=books.bid_px - books.tick_size
    )


STRATEGIES = [("equal", get_strategy("equal")), ("exact", get_strategy("exact"))]


def test_the_test_days_book_model_is_built_once_for_every_size(market, monkeypatch):
    calls = []
    real = BookImpact.from_snapshots

    def spy(cls, *args, **kwargs):
        calls.append(kwargs.get("side"))
        return real(*args, **kwargs)

    monkeypatch.setattr(BookImpact, "from_snapshots", classmethod(spy))
    settings = EvaluationSettings(
        sizes=SizeSpec(adv_fraction=(0.01, 0.02, 0.05)),
        training_days=4,
        side="sell",
        bootstrap_samples=100,
    )
    res = evaluate(market, STRATEGIES, settings).results
    assert res["success"].all() and len(res) == 9
    assert calls == ["sell"]


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_oracle_is_the_exact_optimum_of_the_test_days_own_side_and_tail(market, side):
    # Half-life 0: the oracle is the separable optimum of walking the test day's book on
    # the order's side, with the scenario's beyond-depth rule (5 bps here, not the default
    # 25), recomputed here from the test day alone.  20,000 shares are more than either
    # side's visible depth over the day (13,487 asks, 5,214 bids): part fills on the tail.
    bps = 5.0
    settings = EvaluationSettings(
        sizes=SizeSpec(shares=(20_000.0,)),
        training_days=4,
        side=side,
        beyond_depth_bps=bps,
        bootstrap_samples=100,
    )
    res = evaluate(market, STRATEGIES, settings).results.set_index("strategy")
    assert res["success"].all()
    test = market.select_days([market.n_days - 1])
    size = float(res.loc["oracle", "size_shares"])
    model = BookImpact.from_snapshots(test, side=side, beyond_depth_bps=bps)
    x = solve_exact(model, size, lower=np.zeros(INTERVALS))
    real = Market(test, beyond_depth_bps=bps).realize(0, x, side=side)
    assert float(real.beyond_shares.sum()) > 0.01 * size
    assert res.loc["oracle", "realized_cost_usd"] == pytest.approx(
        float(real.total_impact_usd), rel=1e-9
    )
    assert res.loc["oracle", "realized_cost_usd"] == pytest.approx(
        float(np.sum(model.cost(x))), rel=1e-9
    )
    assert res.loc["oracle", "beyond_depth_share"] == pytest.approx(
        float(real.beyond_shares.sum()) / size, rel=1e-9
    )


def test_an_oracle_that_fails_fails_only_its_own_rows(market, monkeypatch):
    def broken(*args, **kwargs):
        raise FloatingPointError("no optimum today")

    monkeypatch.setattr(daytask, "hindsight_oracle", broken)
    settings = EvaluationSettings(
        sizes=SizeSpec(adv_fraction=(0.01, 0.02)), training_days=4, bootstrap_samples=100
    )
    res = evaluate(market, STRATEGIES, settings).results
    oracle = res[res["strategy"] == "oracle"]
    others = res[res["strategy"] != "oracle"]
    assert len(oracle) == 2 and not oracle["success"].any()
    assert oracle["message"].str.contains("oracle").all()
    assert oracle["message"].str.contains("FloatingPointError: no optimum today").all()
    assert (oracle["strategy_name"] == "oracle").all()
    assert others["success"].all() and len(others) == 4
    assert others["captured_saving"].isna().all()
    assert others["improvement_vs_equal_bps"].notna().all()
