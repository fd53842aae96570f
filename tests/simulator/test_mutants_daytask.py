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


def test_every_sizes_static_optimum_comes_from_one_batch(market):
    # _static_optima solves all feasible sizes at once; each row must be that size's own
    # exact optimum under its own caps, and an infeasible size gets none.
    from models import BookImpact
    from simulator.daytask import _static_optima
    from simulator.plan import SizePlan
    from strategies import AllocationProblem, solve_exact

    book = BookImpact.from_snapshots(market.select_days([4]), side="buy")
    volume = market.volume[:4].mean(axis=0)
    plans = []
    daily = float(volume.sum())
    for fraction, cap in ((0.04, 0.08), (0.1, 0.5), (0.15, None)):
        size = fraction * daily
        upper = None if cap is None else cap * volume
        problem = AllocationProblem(book, size, upper=upper)
        plans.append(SizePlan(size, size, problem, ()))
    plans.insert(1, SizePlan(0.3, 0.3 * daily, None, (), "caps below the order"))
    optima = _static_optima(book, plans)
    assert sorted(optima) == [0, 2, 3]
    for j, x in optima.items():
        p = plans[j].problem
        expected = solve_exact(book, p.total_shares, lower=p.lower, upper=p.upper)
        np.testing.assert_allclose(x, expected, rtol=1e-9, atol=1e-9 * p.total_shares)
    capped = plans[0].problem
    assert np.all(optima[0] <= capped.upper + 1e-9) and np.any(optima[0] >= capped.upper - 1e-6)
    assert _static_optima(None, plans) == {}


def test_an_infeasible_size_fails_the_oracle_row_too(market):
    # A cap that cannot hold the order fails every strategy of that size and the oracle,
    # all with the size's own message; the feasible size is scored as usual.
    settings = EvaluationSettings(
        sizes=SizeSpec(shares=(500.0, 5e7)),
        training_days=4,
        max_participation=0.05,
        bootstrap_samples=100,
    )
    res = evaluate(market, STRATEGIES, settings).results
    big = res[res["size_shares"] == 5e7]
    assert set(big["strategy"]) == {"equal", "exact", "oracle"}
    assert not big["success"].any()
    assert big["message"].str.contains("max_participation=0.05").all()
    assert res[res["size_shares"] == 500.0]["success"].all()
