"""The oracle cannot be beaten: under transient impact too, no schedule of the day is cheaper.

Checked against every strategy evaluated that day (including one that knows the market's
resilience), against random feasible schedules, and against the lower bound it states.
"""

from __future__ import annotations

import numpy as np
import pytest

from models import BookImpact
from simulator.evaluate import evaluate
from simulator.market import Market
from simulator.oracle import hindsight_oracle
from simulator.settings import EvaluationSettings, SizeSpec
from simulator.synthetic import synthesize_market
from strategies import get_strategy, project_capped_simplex, solve_exact, transient_cost

N = 60


@pytest.fixture(scope="module")
def books():
    return synthesize_market("u_shape", days=8, intervals=N, levels=6, seed=4).books


def _strategies():
    return [
        ("equal", get_strategy("equal")),
        ("exact", get_strategy("exact")),
        ("vwap", get_strategy("vwap")),
        ("transient", get_strategy("transient-optimal", half_life="market")),
    ]


@pytest.mark.parametrize("half_life", [0.0, 2.0, 5.0])
def test_no_strategy_captures_more_than_the_oracle(books, half_life):
    settings = EvaluationSettings(
        sizes=SizeSpec(adv_fraction=(0.02, 0.1)),
        training_days=4,
        max_participation=0.3,
        transient_half_life=half_life,
        permanent_impact=1e-6,
        bootstrap_samples=200,
    )
    res = evaluate(books, _strategies(), settings).results
    assert res["success"].all()
    assert (res["captured_saving"].dropna() <= 1.0 + 1e-12).all()
    for _, day in res.groupby(["day_index", "size_spec"]):
        oracle = day[day["strategy"] == "oracle"]["realized_bps"].iloc[0]
        assert (day["realized_bps"] >= oracle - 1e-12).all()
    gap = res.loc[res["strategy"] == "oracle", "oracle_gap_bps"]
    assert (gap >= 0).all()
    if half_life == 0:
        assert (gap < 1e-9).all()
    # The planner that knows the market's resilience was told its half-life.
    transient = res[res["strategy"] == "transient"]
    assert transient["message"].eq("").all()


def test_transient_oracle_beats_random_feasible_schedules_and_states_its_bound(books):
    day = books.select_days([books.n_days - 1])
    market = Market(day, transient_half_life=5.0)
    volume = books.volume[:-1].mean(axis=0)
    upper = 0.3 * volume
    lower = np.zeros(N)
    size = 0.05 * volume.sum()
    result = hindsight_oracle(market, "buy", size, lower, upper)
    cost = result.cost_usd
    assert cost == pytest.approx(float(market.realize(0, result.schedule).total_impact_usd))
    rng = np.random.default_rng(0)
    targets = rng.gamma(0.5, size / N, size=(400, N))
    trials = project_capped_simplex(targets, size, lower, upper)
    realised = np.asarray(market.realize(0, trials).total_impact_usd)
    assert realised.min() >= cost
    # The bound: the separable (static) optimum of the test day's book, which no schedule
    # can undercut because depletion only raises later prices.
    static = BookImpact.from_snapshots(day, side="buy")
    bound = float(np.sum(static.cost(solve_exact(static, size, lower=lower, upper=upper))))
    assert result.lower_bound_usd == pytest.approx(bound, rel=1e-12)
    assert bound <= realised.min() and bound <= cost
    # ... and it improved on the static optimum, which ignores the depletion it causes.
    x_static = solve_exact(static, size, lower=lower, upper=upper)
    assert cost < float(market.realize(0, x_static).total_impact_usd)


def test_transient_planner_predicts_its_transient_cost(books):
    settings = EvaluationSettings(
        sizes=SizeSpec(adv_fraction=(0.05,)),
        training_days=4,
        transient_half_life=5.0,
        bootstrap_samples=200,
        test_days=1,
    )
    strategy = get_strategy("transient-optimal", half_life=5.0)
    ev = evaluate(books, [("t", strategy)], settings)
    row = ev.results[ev.results["strategy"] == "t"].iloc[0]
    x = ev.allocations.loc[ev.allocations["strategy"] == "t", "shares"].to_numpy()
    model = ev.models[next(iter(ev.models))]
    assert row["predicted_cost_usd"] == pytest.approx(float(transient_cost(model, x, 5.0)))
    assert row["predicted_cost_usd"] > float(model.total_cost(x))
