"""Tests of simulator.market: realising schedules on replayed books."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.book_walk import walk_levels
from models.errors import InvalidParameterError, InvalidTypeError
from models.snapshots import BookSnapshots
from simulator.market import Market
from simulator.synthetic import synthesize_market

N = 30


@pytest.fixture(scope="module")
def books() -> BookSnapshots:
    return synthesize_market("u_shape", days=3, intervals=N, levels=5, seed=3).books


def _toy_books() -> BookSnapshots:
    """One day, three intervals, two ask levels; mid 10.00 every interval."""
    ask_px = np.array([[[10.01, 10.02], [10.01, 10.02], [10.01, 10.02]]])
    ask_sz = np.array([[[100.0, 200.0], [100.0, 200.0], [100.0, 200.0]]])
    bid_px = np.array([[[9.99, 9.98], [9.99, 9.98], [9.99, 9.98]]])
    bid_sz = ask_sz.copy()
    starts = (np.array([0, 60, 120]) * 1e9 + 34200e9).astype("timedelta64[ns]")
    return BookSnapshots(
        bid_px=bid_px,
        bid_sz=bid_sz,
        ask_px=ask_px,
        ask_sz=ask_sz,
        volume=np.full((1, 3), 1000.0),
        dates=np.array(["2024-01-02"], dtype="datetime64[D]"),
        interval_starts=starts,
    )


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_zero_schedule_costs_zero(books, side):
    market = Market(books, transient_half_life=3.0, permanent_impact=0.01)
    res = market.realize(1, np.zeros(N), side=side)
    assert np.all(res.impact_cost_usd == 0.0)
    assert np.all(res.shortfall_usd == 0.0)
    assert np.all(np.isnan(res.fill_vwap))
    assert res.total_impact_usd == 0.0 and res.exhausted_intervals == 0
    assert np.isnan(res.impact_bps)


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_half_life_zero_equals_independent_walks(books, side):
    x = np.random.default_rng(0).uniform(0, 800, size=N)
    res = Market(books).realize(2, x, side=side)
    ref = books.walk(x[None, :, None] * np.ones((books.n_days, 1, 1)), side=side)
    np.testing.assert_array_equal(res.impact_cost_usd, ref.cost[2, :, 0])
    np.testing.assert_allclose(res.fill_vwap, ref.vwap[2, :, 0], rtol=1e-12)
    np.testing.assert_array_equal(res.exhausted, ref.exhausted[2, :, 0])
    arrival = books.mid[2, 0]
    sign = 1.0 if side == "buy" else -1.0
    np.testing.assert_allclose(
        res.shortfall_usd, sign * x * (ref.vwap[2, :, 0] - arrival), rtol=1e-9, atol=1e-9
    )


def test_hand_computed_three_intervals_transient_and_permanent():
    # Half-life 1 interval: r = 0.5.  gamma = 0.001 $/share.  Schedule 150, 100, 50.
    # t0: D=0, walk 150: 100 @ 0.01 + 50 @ 0.02 = 2.00; mid 10.00.
    # t1: D = 0.5*150 = 75; walk 75 -> 175: 25 @ 0.01 + 75 @ 0.02 = 1.75;
    #     mid 10 + 0.001*150 = 10.15; shortfall = 1.75 + 100*0.15 = 16.75.
    # t2: D = 0.5*(75 + 100) = 87.5; walk 87.5 -> 137.5: 12.5 @ 0.01 + 37.5 @ 0.02 = 0.875;
    #     mid 10 + 0.001*250 = 10.25; shortfall = 0.875 + 50*0.25 = 13.375.
    market = Market(_toy_books(), transient_half_life=1.0, permanent_impact=0.001)
    res = market.realize(0, [150.0, 100.0, 50.0])
    np.testing.assert_allclose(res.impact_cost_usd, [2.0, 1.75, 0.875], rtol=1e-12)
    np.testing.assert_allclose(res.shortfall_usd, [2.0, 16.75, 13.375], rtol=1e-12)
    np.testing.assert_allclose(
        res.fill_vwap, [10.0 + 2.0 / 150, 10.15 + 1.75 / 100, 10.25 + 0.875 / 50], rtol=1e-12
    )
    assert res.arrival_mid == pytest.approx(10.0)
    assert not res.exhausted.any()
    # Sell side mirrors: bids at the same distances, prices pushed down.
    sell = market.realize(0, [150.0, 100.0, 50.0], side="sell")
    np.testing.assert_allclose(sell.impact_cost_usd, res.impact_cost_usd, rtol=1e-12)
    np.testing.assert_allclose(sell.shortfall_usd, res.shortfall_usd, rtol=1e-12)


def test_hand_computed_exhaustion_with_permanent_shift():
    # Interval 1 is left with 300 - 0 visible shares (half-life 0) and asked for 350:
    # 100 @ 0.01 + 200 @ 0.02, then 50 shares on the tail from 0.02.  Two levels spanning
    # 0.01 give a slope of 2 * 0.01 / 300, below the floor of 25 bps of the replayed mid
    # 10.00 per 300 shares (0.025 / 300); the permanent shift moves the mid and every price
    # together, so it changes no offset: 50 * 0.02 + 0.5 * 0.025 / 300 * 50**2.
    market = Market(_toy_books(), permanent_impact=0.001)
    res = market.realize(0, [100.0, 350.0, 0.0])
    tail = 50 * 0.02 + 0.5 * 0.025 / 300 * 50**2
    np.testing.assert_allclose(res.impact_cost_usd, [1.0, 1.0 + 4.0 + tail, 0.0], rtol=1e-12)
    np.testing.assert_array_equal(res.exhausted, [False, True, False])
    np.testing.assert_allclose(res.beyond_shares, [0.0, 50.0, 0.0])
    assert res.beyond_depth_share == pytest.approx(50.0 / 450.0)
    assert res.exhausted_intervals == 1
    np.testing.assert_allclose(
        res.impact_cost_usd, Market(_toy_books()).realize(0, [100.0, 350.0, 0.0]).impact_cost_usd
    )


def test_infinite_half_life_never_recovers():
    market = Market(_toy_books(), transient_half_life=np.inf)
    res = market.realize(0, [100.0, 100.0, 100.0])
    # Each order starts where the previous left: 100 @ 0.01 then 200 @ 0.02.
    np.testing.assert_allclose(res.impact_cost_usd, [1.0, 2.0, 2.0], rtol=1e-12)


def test_spreading_beats_bunching_with_transient_impact(books):
    total = 3000.0
    spread = np.full(N, total / N)
    bunched = np.zeros(N)
    bunched[10:13] = total / 3
    for half_life in (2.0, 10.0):
        market = Market(books, transient_half_life=half_life)
        res = market.realize(1, np.stack([spread, bunched]))
        assert res.total_impact_usd[0] < res.total_impact_usd[1]


def test_transient_impact_never_cheaper(books):
    x = np.random.default_rng(1).uniform(0, 500, size=(4, N))
    base = Market(books).realize(0, x).total_impact_usd
    slow = Market(books, transient_half_life=5.0).realize(0, x).total_impact_usd
    assert np.all(slow >= base - 1e-9)


def test_in_sample_identity_with_walk_levels(books):
    one_day = books.select_days(1)
    x = np.random.default_rng(2).uniform(0, 1500, size=(5, N))
    res = Market(one_day).realize(0, x)
    ref = walk_levels(one_day.ask_px[0], one_day.ask_sz[0], one_day.mid[0], x.T, "buy")
    np.testing.assert_array_equal(res.impact_cost_usd, ref.cost.T)


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_in_sample_identity_with_book_impact(books, side):
    from models import book_model

    one_day = books.select_days(0)
    model = book_model.BookImpact.from_snapshots(one_day, side)
    x = np.random.default_rng(3).uniform(0, 1500, size=(5, N))
    res = Market(one_day).realize(0, x, side=side)
    np.testing.assert_allclose(res.impact_cost_usd, model.cost(x), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(res.total_impact_usd, model.total_cost(x), rtol=1e-10)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    half_life=st.sampled_from([0.0, 0.5, 3.0, np.inf]),
    gamma=st.sampled_from([0.0, 1e-4]),
    side=st.sampled_from(["buy", "sell"]),
)
def test_batch_equals_one_by_one(books, seed, half_life, gamma, side):
    x = np.random.default_rng(seed).uniform(0, 900, size=(3, N))
    x[:, ::4] = 0.0
    market = Market(books, transient_half_life=half_life, permanent_impact=gamma)
    batch = market.realize(1, x, side=side)
    for k in range(3):
        one = market.realize(1, x[k], side=side)
        np.testing.assert_allclose(one.impact_cost_usd, batch.impact_cost_usd[k], rtol=1e-12)
        np.testing.assert_allclose(one.shortfall_usd, batch.shortfall_usd[k], rtol=1e-12)
        np.testing.assert_allclose(one.fill_vwap, batch.fill_vwap[k], rtol=1e-12)
        np.testing.assert_array_equal(one.exhausted, batch.exhausted[k])
    # Shortfall decomposes into impact plus the drift of the own mid from arrival.
    assert np.all(batch.impact_cost_usd >= -1e-9)


def test_invalid_inputs(books):
    market = Market(books)
    with pytest.raises(InvalidParameterError, match="day must be in"):
        market.realize(3, np.zeros(N))
    with pytest.raises(InvalidParameterError, match="day must be in"):
        market.realize(-1, np.zeros(N))
    with pytest.raises(InvalidParameterError, match="schedule must have shape"):
        market.realize(0, np.zeros(N + 1))
    with pytest.raises(InvalidParameterError, match="schedule must have shape"):
        market.realize(0, np.zeros((2, 2, N)))
    with pytest.raises(InvalidParameterError, match="finite and >= 0"):
        market.realize(0, np.full(N, -1.0))
    with pytest.raises(InvalidParameterError, match="finite and >= 0"):
        market.realize(0, np.full(N, np.nan))
    with pytest.raises(InvalidParameterError, match="side"):
        market.realize(0, np.zeros(N), side="hold")
    with pytest.raises(InvalidParameterError, match="transient_half_life"):
        Market(books, transient_half_life=-1.0)
    with pytest.raises(InvalidParameterError, match="transient_half_life"):
        Market(books, transient_half_life=float("nan"))
    with pytest.raises(InvalidParameterError, match="permanent_impact"):
        Market(books, permanent_impact=-0.1)
    with pytest.raises(InvalidParameterError, match="beyond_depth_bps"):
        Market(books, beyond_depth_bps=-1.0)
    with pytest.raises(InvalidTypeError, match="books"):
        Market(np.zeros(3))


def test_transient_consumption_counts_against_the_visible_depth():
    # Infinite half-life: the 250 shares of t0 are still missing at t1, so 100 more shares
    # take the last 50 visible shares at 0.02 and 50 from the tail (slope 0.025 / 300).
    market = Market(_toy_books(), transient_half_life=np.inf)
    res = market.realize(0, [250.0, 100.0, 0.0])
    tail = 50 * 0.02 + 0.5 * 0.025 / 300 * 50**2
    np.testing.assert_allclose(res.impact_cost_usd, [1.0 + 3.0, 1.0 + tail, 0.0], rtol=1e-12)
    np.testing.assert_allclose(res.beyond_shares, [0.0, 50.0, 0.0])
    np.testing.assert_array_equal(res.exhausted, [False, True, False])


@pytest.fixture(scope="module")
def frog(shared_data_dir):
    import warnings

    from simulator.loaders import load_databento_mbp10

    path = shared_data_dir / "databento_mbp10" / "FROG_2025-04-03_mbp10.csv.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_databento_mbp10(path)


@pytest.mark.data
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_frog_beyond_depth_rule_shared_by_planner_and_market(frog, side):
    # One schedule per minute, each putting the whole order into that minute.  The planner's
    # BookImpact of the day and the market charge the same rule past the visible depth, and
    # a ten times larger order costs far more per share (issue 12: at least 1.5x the bps).
    from models import BookImpact

    n = frog.n_intervals
    planner = BookImpact.from_snapshots(frog, side)
    market = Market(frog)
    bps = {}
    for total in (1e4, 1e5, 1e6):
        x = np.eye(n) * total
        real = market.realize(0, x, side=side)
        np.testing.assert_allclose(planner.cost(x).sum(axis=1), real.total_impact_usd, rtol=1e-9)
        np.testing.assert_allclose(real.beyond_shares.sum(axis=1), planner.beyond_shares(x).sum(1))
        assert np.all(real.beyond_depth_share > 0.0)
        bps[total] = real.impact_bps
    assert np.all(bps[1e6] >= 1.5 * bps[1e5])
    assert np.all(bps[1e5] >= 1.5 * bps[1e4])
