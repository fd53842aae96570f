"""One test day recomputed by hand: the numbers in the rows equal an independent book walk.

The walk below is written level by level in plain Python (no numpy vectorisation, no
tradealloc code), from the test day's displayed books and the schedules the run reported.
Orders stay inside the visible depth, where every rule of the engine is unambiguous.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator.evaluate import evaluate
from simulator.settings import EvaluationSettings, SizeSpec
from simulator.synthetic import synthesize_market
from strategies import get_strategy

INTERVALS = 30


def _walk_cost(prices, sizes, mid, shares, side):
    """Impact cost in dollars of ``shares`` walking one side of one book (by hand)."""
    left, cost = shares, 0.0
    for price, size in zip(prices, sizes, strict=True):
        if left <= 0 or not np.isfinite(price) or size <= 0:
            break
        take = min(left, size)
        cost += take * ((price - mid) if side == "buy" else (mid - price))
        left -= take
    assert left <= 1e-9, "the hand-computed case must stay inside the visible depth"
    return cost


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_rows_of_one_day_match_a_hand_computed_walk(side):
    books = synthesize_market("u_shape", days=5, intervals=INTERVALS, levels=8, seed=5).books
    settings = EvaluationSettings(
        sizes=SizeSpec(adv_fraction=(0.02,)),
        side=side,
        training_days=4,
        max_participation=0.5,
        bootstrap_samples=200,
    )
    strategies = [("equal", get_strategy("equal")), ("exact", get_strategy("exact"))]
    ev = evaluate(books, strategies, settings)
    rows = ev.results.set_index("strategy")
    day = int(rows["day_index"].iloc[0])
    px = books.ask_px[day] if side == "buy" else books.bid_px[day]
    sz = books.ask_sz[day] if side == "buy" else books.bid_sz[day]
    mids = [(books.bid_px[day, t, 0] + books.ask_px[day, t, 0]) / 2 for t in range(INTERVALS)]
    arrival = mids[0]
    sign = 1.0 if side == "buy" else -1.0
    realized = {}
    for label in ("equal", "exact", "oracle"):
        x = ev.allocations.loc[ev.allocations["strategy"] == label, "shares"].to_numpy()
        s = float(rows.loc[label, "size_shares"])
        assert abs(sum(x) - s) <= 1e-9 * s
        costs = [_walk_cost(px[t], sz[t], mids[t], x[t], side) for t in range(INTERVALS)]
        impact = sum(costs)
        # Shortfall: fills against the arrival mid = impact + x (mid_t - arrival) signed.
        shortfall = sum(
            c + sign * xt * (m - arrival) for c, xt, m in zip(costs, x, mids, strict=True)
        )
        notional = s * arrival
        assert rows.loc[label, "arrival_mid_usd"] == pytest.approx(arrival, rel=1e-12)
        assert rows.loc[label, "realized_cost_usd"] == pytest.approx(impact, rel=1e-9)
        assert rows.loc[label, "realized_bps"] == pytest.approx(1e4 * impact / notional, rel=1e-9)
        assert rows.loc[label, "shortfall_bps"] == pytest.approx(
            1e4 * shortfall / notional, rel=1e-9, abs=1e-9
        )
        volume = books.volume[day]
        peak = max(xt / max(v, 1.0) for xt, v in zip(x, volume, strict=True))
        assert rows.loc[label, "peak_participation"] == pytest.approx(peak, rel=1e-12)
        realized[label] = 1e4 * impact / notional
    equal, exact, oracle = realized["equal"], realized["exact"], realized["oracle"]
    assert oracle <= exact + 1e-9 and oracle <= equal + 1e-9
    assert rows.loc["exact", "improvement_vs_equal_bps"] == pytest.approx(equal - exact, abs=1e-9)
    assert rows.loc["exact", "captured_saving"] == pytest.approx(
        (equal - exact) / (equal - oracle), rel=1e-9
    )
    assert rows.loc["oracle", "captured_saving"] == pytest.approx(1.0, rel=1e-12)
