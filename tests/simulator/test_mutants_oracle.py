"""Oracle cases that kill surviving mutants: its gradient against finite differences of the
realised cost, the sell side without a given book model, whole lots under transient impact,
and the branch that improves a candidate cheaper than the static start."""

from __future__ import annotations

import numpy as np
import pytest

import simulator.oracle as oracle_module
from models import BookImpact
from simulator.market import Market
from simulator.oracle import _gradient, hindsight_oracle
from simulator.synthetic import synthesize_market
from strategies import solve_exact

N = 12


@pytest.fixture(scope="module")
def day():
    return synthesize_market("u_shape", days=1, intervals=N, levels=5, seed=8).books


def _schedule(day, side, scale):
    """A positive schedule whose larger child orders walk past the visible depth."""
    px, sz = day.side_levels(side)
    visible = np.where(np.isfinite(px[0]), sz[0], 0.0).sum(axis=-1)
    rng = np.random.default_rng(3)
    return scale * visible * rng.uniform(0.2, 1.4, N)


@pytest.mark.parametrize("side", ["buy", "sell"])
@pytest.mark.parametrize("half_life", [1.0, 3.0])
def test_gradient_is_the_left_derivative_of_the_realised_cost(day, side, half_life):
    market = Market(day, transient_half_life=half_life)
    r = market.recovery_factor
    x = _schedule(day, side, 0.6)

    def cost(y):
        return float(market.realize(0, y, side=side).total_impact_usd)

    g = _gradient(market, side, x, r)
    eps = 1e-4
    base = cost(x)
    left = np.array([(base - cost(x - eps * np.eye(N)[s])) / eps for s in range(N)])
    # The cost is piecewise linear-quadratic in each x_s: the left difference is exact up to
    # the tail's curvature (slope * eps / 2) and float rounding.
    np.testing.assert_allclose(g, left, rtol=1e-5, atol=1e-8)
    assert np.all(g > 0)


def test_sell_oracle_without_a_book_model_walks_the_bids(day):
    # Asymmetric sides: the bids of the synthetic day thinned, so a model of the asks
    # would plan a different static optimum and state a different bound.
    import dataclasses

    thin = dataclasses.replace(day, bid_sz=day.bid_sz * 0.4)
    market = Market(thin, transient_half_life=2.0)
    size = 3.0 * float(np.nansum(thin.bid_sz[0, :, 0]))
    lower, upper = np.zeros(N), np.full(N, np.inf)
    given = BookImpact.from_snapshots(thin, side="sell", beyond_depth_bps=25.0)
    built = hindsight_oracle(market, "sell", size, lower, upper)
    reference = hindsight_oracle(market, "sell", size, lower, upper, book_model=given)
    np.testing.assert_array_equal(built.schedule, reference.schedule)
    static = solve_exact(given, size, lower=lower, upper=upper)
    assert built.lower_bound_usd == pytest.approx(float(np.sum(given.cost(static))), rel=1e-12)
    asks = BookImpact.from_snapshots(thin, side="buy", beyond_depth_bps=25.0)
    wrong = float(np.sum(asks.cost(solve_exact(asks, size, lower=lower, upper=upper))))
    assert abs(built.lower_bound_usd - wrong) > 0.01 * wrong


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_transient_oracle_in_whole_lots_within_tight_caps(day, side):
    lot = 100.0
    market = Market(day, transient_half_life=3.0)
    upper = np.full(N, 2_050.0)
    upper[::3] = 950.0  # caps that are not whole lots: rounding must stay below them
    lower = np.zeros(N)
    size = 15_000.0
    res = hindsight_oracle(market, side, size, lower, upper, lot_size=lot)
    x = res.schedule
    assert x.sum() == pytest.approx(size, rel=1e-12)
    assert np.all(x <= upper) and np.all(x >= lower)
    np.testing.assert_allclose(x / lot, np.round(x / lot), atol=1e-9)
    assert res.cost_usd == pytest.approx(
        float(market.realize(0, x, side=side).total_impact_usd), rel=1e-12
    )
    # Cheaper than the static optimum rounded to lots, which ignores the depletion.
    static = BookImpact.from_snapshots(day, side=side)
    x_static = solve_exact(static, size, lower=lower, upper=upper)
    from strategies import round_schedule

    rounded = round_schedule(x_static, lot, lower, upper)
    assert res.cost_usd < float(market.realize(0, rounded, side=side).total_impact_usd)


@pytest.mark.parametrize("lot_size", [0.0, 50.0])
def test_a_cheaper_candidate_is_improved_too(day, monkeypatch, lot_size):
    # With one descent step from the static start, a fully converged schedule handed in
    # as a candidate is cheaper: the oracle must start a descent from it as well and
    # return the cheaper of the candidate and its improvement, never the poorer start.
    market = Market(day, transient_half_life=4.0)
    lower, upper = np.zeros(N), np.full(N, np.inf)
    size = 20_000.0
    converged = hindsight_oracle(market, "buy", size, lower, upper, lot_size=lot_size)
    monkeypatch.setattr(oracle_module, "_MAX_ITERATIONS", 1)
    short = hindsight_oracle(market, "buy", size, lower, upper, lot_size=lot_size)
    assert short.cost_usd > converged.cost_usd * (1 + 1e-9)
    seen = []
    real_descend = oracle_module._descend

    def spy(market_, side, x, cost, *rest):
        seen.append((x.copy(), cost))
        return real_descend(market_, side, x, cost, *rest)

    monkeypatch.setattr(oracle_module, "_descend", spy)
    res = hindsight_oracle(
        market, "buy", size, lower, upper, lot_size=lot_size, candidates=converged.schedule
    )
    assert len(seen) == 2
    np.testing.assert_array_equal(seen[1][0], converged.schedule)
    assert seen[1][1] == pytest.approx(converged.cost_usd, rel=1e-12)
    assert res.cost_usd <= converged.cost_usd
    assert res.cost_usd == pytest.approx(
        float(market.realize(0, res.schedule).total_impact_usd), rel=1e-12
    )
    assert res.schedule.sum() == pytest.approx(size, rel=1e-12)


@pytest.mark.parametrize("half_life", [0.0, 2.0])
def test_oracle_in_single_shares_within_a_floor_states_its_method(day, half_life):
    # lot_size 1 rounds to whole shares; a positive floor must survive the rounding; the
    # method names how the schedule was found, for the static and the transient market.
    market = Market(day, transient_half_life=half_life)
    px, sz = day.side_levels("buy")
    size = float(np.floor(0.8 * np.where(np.isfinite(px[0]), sz[0], 0.0).sum()))
    lower = np.full(N, 3.0)
    upper = np.full(N, np.inf)
    res = hindsight_oracle(market, "buy", size, lower, upper, lot_size=1.0)
    np.testing.assert_allclose(res.schedule, np.round(res.schedule), atol=1e-9)
    assert np.all(res.schedule >= lower - 1e-9)
    assert res.schedule.sum() == pytest.approx(size, rel=1e-12)
    # The unrounded optimum has fractional shares, so the rounding above did something.
    book = BookImpact.from_snapshots(day, side="buy")
    exact = solve_exact(book, size, lower=lower, upper=upper)
    assert np.abs(exact - np.round(exact)).max() > 1e-3
    if half_life == 0.0:
        assert res.method == "exact optimum of the separable book cost"
    else:
        assert res.method.startswith("best schedule found under transient impact")
