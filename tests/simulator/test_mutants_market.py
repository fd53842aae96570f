"""Market cases that kill surviving mutants: transient depletion beyond the visible book.

The expected numbers are computed here in plain Python, level by level, from the rule of
DESIGN.md and models.book_walk (the tail past the deepest level rises at
``max(L / (L - 1) (o_L - o_1), beyond_depth_bps 1e-4 mid) / V`` dollars per share per
share), without calling the library's walk.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from models.errors import InvalidParameterError
from models.snapshots import BookSnapshots
from simulator.market import Market

MID = 9.995
ASKS = [(10.01, 100.0), (10.03, 200.0)]  # buy offsets 0.015, 0.035; V = 300
BIDS = [(9.98, 150.0), (9.97, 50.0)]  # sell offsets 0.015, 0.025; V = 200
INTERVALS = 4


def _books() -> BookSnapshots:
    """One day of four identical one-minute books, asymmetric sides, mid 9.995."""

    def side(levels):
        px = np.array([[p for p, _ in levels]] * INTERVALS)[None]
        sz = np.array([[s for _, s in levels]] * INTERVALS)[None]
        return px, sz

    ask_px, ask_sz = side(ASKS)
    bid_px, bid_sz = side(BIDS)
    starts = ((34200 + 60 * np.arange(INTERVALS)) * 1e9).astype("timedelta64[ns]")
    return BookSnapshots(
        bid_px=bid_px,
        bid_sz=bid_sz,
        ask_px=ask_px,
        ask_sz=ask_sz,
        volume=np.full((1, INTERVALS), 1000.0),
        dates=np.array(["2024-03-05"], dtype="datetime64[D]"),
        interval_starts=starts,
    )


def _walk_cost(levels, side: str, q: float, bps: float = 25.0) -> float:
    """Cost in dollars of the first q shares of one side, tail included (by hand)."""
    offsets = [(p - MID) if side == "buy" else (MID - p) for p, _ in levels]
    sizes = [s for _, s in levels]
    visible = sum(sizes)
    cost, left = 0.0, q
    for offset, size in zip(offsets, sizes, strict=True):
        take = min(left, size)
        cost += take * offset
        left -= take
    if left > 0:
        n = len(offsets)
        span = n / (n - 1) * (offsets[-1] - offsets[0])
        slope = max(span, bps * 1e-4 * MID) / visible
        cost += left * offsets[-1] + 0.5 * slope * left**2
    return cost


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_depletion_beyond_the_visible_book_half_life_two_with_permanent_impact(side):
    levels = ASKS if side == "buy" else BIDS
    visible = sum(s for _, s in levels)
    gamma = 0.002
    x = [350.0, 250.0, 100.0, 120.0]
    r = 2.0 ** (-1.0 / 2.0)
    depleted, carried = [], 0.0
    for t in range(INTERVALS):
        depleted.append(carried)
        carried = r * (carried + x[t])
    # The depletion itself reaches past the visible depth (buy: interval 2; sell: 1 and 2),
    # so the beyond-depth shares of an order are those past V after it minus before it.
    assert max(depleted) > visible
    impact = [
        _walk_cost(levels, side, d + q) - _walk_cost(levels, side, d)
        for d, q in zip(depleted, x, strict=True)
    ]
    beyond = [
        max(d + q - visible, 0.0) - max(d - visible, 0.0) for d, q in zip(depleted, x, strict=True)
    ]
    sign = 1.0 if side == "buy" else -1.0
    before = [sum(x[:t]) for t in range(INTERVALS)]
    own_mid = [MID + sign * gamma * b for b in before]
    shortfall = [c + q * gamma * b for c, q, b in zip(impact, x, before, strict=True)]
    vwap = [m + sign * c / q for m, c, q in zip(own_mid, impact, x, strict=True)]

    res = Market(_books(), transient_half_life=2.0, permanent_impact=gamma).realize(0, x, side=side)
    np.testing.assert_allclose(res.impact_cost_usd, impact, rtol=1e-12)
    np.testing.assert_allclose(res.beyond_shares, beyond, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(res.exhausted, [b > 0 for b in beyond])
    np.testing.assert_allclose(res.shortfall_usd, shortfall, rtol=1e-12)
    np.testing.assert_allclose(res.fill_vwap, vwap, rtol=1e-12)
    assert res.arrival_mid == pytest.approx(MID, rel=1e-15)
    assert res.beyond_depth_share == pytest.approx(sum(beyond) / sum(x), rel=1e-12)
    assert res.impact_bps == pytest.approx(1e4 * sum(impact) / (sum(x) * MID), rel=1e-12)
    assert res.shortfall_bps == pytest.approx(1e4 * sum(shortfall) / (sum(x) * MID), rel=1e-12)
    # Every child order after the first pays more than it would on a fresh book.
    fresh = [_walk_cost(levels, side, q) for q in x]
    assert all(i > f for i, f in zip(impact[1:], fresh[1:], strict=True))
    assert math.isclose(impact[0], fresh[0], rel_tol=1e-15)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"transient_half_life": -1.0}, "transient_half_life must be >= 0; got -1.0"),
        ({"transient_half_life": "2"}, "transient_half_life must be >= 0; got '2'"),
        ({"permanent_impact": np.inf}, "permanent_impact must be finite and >= 0; got inf"),
        ({"permanent_impact": np.nan}, "permanent_impact must be finite and >= 0; got nan"),
        ({"permanent_impact": "0"}, "permanent_impact must be finite and >= 0; got '0'"),
        ({"beyond_depth_bps": np.inf}, "beyond_depth_bps must be finite and >= 0; got inf"),
        ({"beyond_depth_bps": -0.5}, "beyond_depth_bps must be finite and >= 0; got -0.5"),
        ({"beyond_depth_bps": None}, "beyond_depth_bps must be finite and >= 0; got None"),
    ],
    ids=[
        "half_life_negative",
        "half_life_str",
        "impact_inf",
        "impact_nan",
        "impact_str",
        "bps_inf",
        "bps_negative",
        "bps_none",
    ],
)
def test_market_parameters_are_checked_with_messages(kw, message):
    with pytest.raises(InvalidParameterError, match="^" + re.escape(message) + "$"):
        Market(_books(), **kw)


def test_market_parameters_at_their_edges_are_stored_as_floats():
    market = Market(
        _books(),
        transient_half_life=np.int64(0),
        permanent_impact=np.float32(0.0),
        beyond_depth_bps=np.float32(0.5),
    )
    for name in ("transient_half_life", "permanent_impact", "beyond_depth_bps"):
        assert type(getattr(market, name)) is float
    assert market.beyond_depth_bps == 0.5 and market.recovery_factor == 0.0
    assert Market(_books(), beyond_depth_bps=0).beyond_depth_bps == 0.0


@pytest.mark.parametrize(
    ("day", "message"),
    [
        (1.5, "day must be an integer; got 1.5"),
        (True, "day must be an integer; got True"),
        (1, "day must be in [0, 0]; got 1"),
    ],
    ids=["float", "bool", "out_of_range"],
)
def test_realize_names_a_bad_day(day, message):
    with pytest.raises(InvalidParameterError, match="^" + re.escape(message) + "$"):
        Market(_books()).realize(day, np.zeros(INTERVALS))


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_an_integer_schedule_costs_what_the_same_float_schedule_costs(side):
    # Under transient impact the depletion r * (D + x) is fractional: an integer schedule
    # must not truncate it.
    market = Market(_books(), transient_half_life=1.5, permanent_impact=0.001)
    ints = market.realize(0, [120, 90, 200, 60], side=side)
    floats = market.realize(0, [120.0, 90.0, 200.0, 60.0], side=side)
    for name in ("impact_cost_usd", "shortfall_usd", "beyond_shares", "fill_vwap"):
        np.testing.assert_array_equal(getattr(ints, name), getattr(floats, name))
    assert ints.shares.dtype == float


def test_realised_arrays_are_read_only():
    res = Market(_books(), transient_half_life=1.0).realize(0, [10.0, 0.0, 5.0, 1.0])
    for name in (
        "shares",
        "fill_vwap",
        "impact_cost_usd",
        "shortfall_usd",
        "exhausted",
        "beyond_shares",
    ):
        array = getattr(res, name)
        assert not array.flags.writeable, name
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0


def test_market_of_something_else_names_its_type():
    from models.errors import InvalidTypeError
    from simulator.market import Market

    with pytest.raises(InvalidTypeError, match="books must be a BookSnapshots; got str"):
        Market("books.csv")

