"""Tests of simulator.synthetic: synthetic regimes and calibration to real books."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from models.errors import InvalidParameterError, InvalidTypeError
from models.snapshots import BookSnapshots
from simulator.synthetic import (
    REGIMES,
    IntradayProfile,
    MarketParams,
    SyntheticMarket,
    calibrate_params,
    synthesize_market,
)

SMALL = {"days": 4, "intervals": 78, "levels": 6}
FIELDS = ("bid_px", "bid_sz", "ask_px", "ask_sz", "volume")


def _cost(books: BookSnapshots, shares: float = 300.0) -> np.ndarray:
    """Cost in dollars of a fixed buy at every snapshot, shape (days, intervals)."""
    return books.walk(shares, side="buy").cost[..., 0]


def test_same_seed_is_bit_identical_and_seeds_differ():
    a = synthesize_market("markov", seed=7, **SMALL)
    b = synthesize_market("markov", seed=7, **SMALL)
    c = synthesize_market("markov", seed=8, **SMALL)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a.books, name), getattr(b.books, name))
    np.testing.assert_array_equal(a.regime_path, b.regime_path)
    assert not np.array_equal(a.books.ask_sz, c.books.ask_sz)
    assert not np.array_equal(a.books.mid, c.books.mid)


@pytest.mark.parametrize("regime", [r for r in REGIMES if r != "calibrated"])
def test_every_regime_gives_valid_books(regime):
    market = synthesize_market(regime, seed=1, **SMALL)
    assert isinstance(market, SyntheticMarket)
    books = market.books
    # Re-validate from the raw arrays: BookSnapshots checks ordering, sizes and crossing.
    BookSnapshots(
        **{name: np.array(getattr(books, name)) for name in FIELDS},
        dates=books.dates,
        interval_starts=books.interval_starts,
        tick_size=books.tick_size,
    )
    assert books.bid_px.shape == (4, 78, 6)
    assert market.regime_path.shape == (4, 78)
    ticks = books.ask_px / books.tick_size
    np.testing.assert_allclose(ticks, np.rint(ticks), atol=1e-6)
    assert np.all(books.spread >= books.tick_size * (1 - 1e-9))
    assert np.all(books.ask_sz >= 1) and np.all(books.volume >= 0)
    assert np.all(np.diff(books.dates).astype(int) > 0)


def test_stressed_costs_more_than_calm():
    calm = synthesize_market("calm", seed=2, **SMALL).books
    stressed = synthesize_market("stressed", seed=2, **SMALL).books
    assert np.median(_cost(stressed)) > 1.5 * np.median(_cost(calm))
    assert np.median(stressed.spread) > np.median(calm.spread)
    assert np.median(stressed.ask_depth) < np.median(calm.ask_depth)


def test_event_window_costs_more_than_same_window_on_other_days():
    market = synthesize_market(
        "event",
        days=12,
        intervals=78,
        levels=6,
        seed=4,
        event_start=30,
        event_length=10,
        event_probability=0.5,
    )
    hit = np.any(market.regime_path == "event", axis=1)
    assert hit.any() and (~hit).any()
    assert np.all(market.regime_path[hit, 30:40] == "event")
    assert not np.any(market.regime_path[:, :30] == "event")
    cost = _cost(market.books)
    assert np.median(cost[hit, 30:40]) > 1.5 * np.median(cost[~hit, 30:40])


def test_markov_switches_between_calm_and_stressed():
    market = synthesize_market(
        "markov",
        days=6,
        intervals=200,
        levels=4,
        seed=5,
        markov_calm_to_stressed=0.05,
        markov_stressed_to_calm=0.1,
    )
    path = market.regime_path
    assert set(np.unique(path)) == {"calm", "stressed"}
    stressed = path == "stressed"
    # Persistent states: far fewer switches than independent draws would give.
    switches = np.mean(stressed[:, 1:] != stressed[:, :-1])
    assert switches < 0.2
    cost = _cost(market.books)
    assert np.median(cost[stressed]) > np.median(cost[~stressed])


def test_trend_drifts_up():
    up = synthesize_market("trend", days=30, intervals=39, levels=3, seed=6, drift_per_day=0.05)
    flat = synthesize_market("u_shape", days=30, intervals=39, levels=3, seed=6)
    assert up.books.mid[-1, -1] > 2.0 * flat.books.mid[-1, -1]


def test_u_shape_profiles():
    books = synthesize_market("u_shape", days=20, intervals=390, levels=5, seed=9).books
    volume = np.median(books.volume, axis=0)
    spread = np.median(books.spread, axis=0)
    assert volume[:20].mean() > 3 * volume[180:210].mean() < volume[-20:].mean() / 3
    assert spread[:3].mean() > 2 * spread[180:210].mean()


def test_defaults_match_real_orders_of_magnitude():
    # FROG 2025-04-03: median spread 6 ticks (5 midday), ~100 shares per level, ~600 shares
    # per minute on average, daily volatility ~2.7 %.
    books = synthesize_market(days=10, seed=0).books
    assert 3 <= np.median(books.spread) / books.tick_size <= 10
    assert 50 <= np.median(books.ask_sz) <= 250
    assert 250 <= books.volume.mean() <= 1500
    assert 25 <= books.mid.mean() <= 40


def test_parameter_validation():
    with pytest.raises(InvalidParameterError, match="regime must be one of"):
        synthesize_market("volatile")
    with pytest.raises(InvalidParameterError, match="unknown 'depth'"):
        synthesize_market(depth=3)
    with pytest.raises(InvalidParameterError, match="days must be an integer >= 1"):
        synthesize_market(days=0)
    with pytest.raises(InvalidParameterError, match="noise_persistence must be in"):
        MarketParams(noise_persistence=1.0)
    with pytest.raises(InvalidParameterError, match="depth_touch_shares must be in"):
        MarketParams(depth_touch_shares=-5.0)
    with pytest.raises(InvalidParameterError, match="profile must be given"):
        synthesize_market("calibrated")
    with pytest.raises(InvalidTypeError, match="books must be a BookSnapshots"):
        calibrate_params(np.zeros(3))
    with pytest.raises(InvalidParameterError, match="spread_ticks must be finite and >= 1"):
        IntradayProfile(
            spread_ticks=np.zeros(3),
            depth_shares=np.ones((3, 2)),
            volume_shares=np.ones(3),
            volatility=np.ones(3),
        )


def _check_profiles_roughly(real: BookSnapshots, synthetic: BookSnapshots) -> None:
    """Hour-long block medians (means for volume, a flow) agree within a factor 2."""
    blocks = np.array_split(np.arange(real.n_intervals), 6)

    def per_block(values, stat):
        return np.array([stat(values[:, b]) for b in blocks])

    for name, fn, stat in [
        ("spread", lambda b: b.spread / b.tick_size, np.median),
        ("depth", lambda b: (b.bid_sz + b.ask_sz).mean(axis=-1) / 2, np.median),
        ("volume", lambda b: b.volume, np.mean),
    ]:
        ratio = per_block(fn(synthetic), stat) / per_block(fn(real), stat)
        assert np.all((ratio > 0.5) & (ratio < 2.0)), (name, ratio)
    real_vol = np.std(np.diff(np.log(real.mid), axis=1))
    syn_vol = np.std(np.diff(np.log(synthetic.mid), axis=1))
    assert 0.5 < syn_vol / real_vol < 2.0


def test_calibration_recovers_synthetic_profiles():
    source = synthesize_market("u_shape", days=10, intervals=390, levels=5, seed=12)
    params = calibrate_params(source.books)
    assert params.profile is not None and params.profile.depth_shares.shape == (390, 5)
    assert params.tick_size_usd == source.books.tick_size
    assert params.initial_price_usd == pytest.approx(source.books.mid[0, 0])
    clone = synthesize_market("calibrated", days=10, levels=5, seed=13, profile=params)
    assert np.all(clone.regime_path == "calibrated")
    _check_profiles_roughly(source.books, clone.books)
    truth = source.params
    assert params.noise_persistence == pytest.approx(truth.noise_persistence, abs=0.15)
    assert params.volume_depth_correlation > 0.0


def test_calibrated_from_real_frog_day(shared_data_dir):
    from simulator import loaders

    path = shared_data_dir / "databento_mbp10" / "FROG_2025-04-03_mbp10.csv.gz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        real = loaders.load_databento_mbp10(path)
    params = calibrate_params(real)
    market = synthesize_market("calibrated", days=10, levels=real.n_levels, seed=3, profile=params)
    _check_profiles_roughly(real, market.books)
    # The calibrated scalars also describe the stock.
    assert params.initial_price_usd == pytest.approx(real.mid[0, 0])
    assert 3 <= params.spread_ticks_midday <= 10


def test_profile_changes_with_levels_and_interval_mismatch():
    params = calibrate_params(synthesize_market(days=3, intervals=78, levels=3, seed=1).books)
    deeper = synthesize_market("calibrated", days=2, intervals=78, levels=5, seed=0, profile=params)
    assert deeper.books.n_levels == 5
    with pytest.raises(InvalidParameterError, match="intervals must equal"):
        synthesize_market("calibrated", days=2, intervals=39, profile=params)
    stressed = synthesize_market("stressed", days=2, intervals=78, levels=3, seed=0, profile=params)
    calm = synthesize_market("calibrated", days=2, intervals=78, levels=3, seed=0, profile=params)
    assert np.median(stressed.books.ask_depth) < np.median(calm.books.ask_depth)
    assert dataclasses.replace(params, drift_per_day=0.1).profile is params.profile


def test_calibration_handles_levels_never_displayed():
    books = synthesize_market(days=2, intervals=39, levels=4, seed=2).books
    ask_px = np.array(books.ask_px)
    ask_sz = np.array(books.ask_sz)
    bid_px = np.array(books.bid_px)
    bid_sz = np.array(books.bid_sz)
    for px, sz in ((ask_px, ask_sz), (bid_px, bid_sz)):
        px[..., 3] = np.nan
        sz[..., 3] = 0.0
    shallow = BookSnapshots(
        bid_px=bid_px,
        bid_sz=bid_sz,
        ask_px=ask_px,
        ask_sz=ask_sz,
        volume=books.volume,
        dates=books.dates,
        interval_starts=books.interval_starts,
    )
    depth = calibrate_params(shallow).profile.depth_shares
    assert np.all(np.isfinite(depth)) and np.all(depth > 0)
    # The never-seen level takes the shallower level's typical size, constant in time.
    np.testing.assert_allclose(depth[:, 3], depth[0, 3], rtol=1e-9)
    assert depth[:, 2].min() <= depth[0, 3] <= depth[:, 2].max()
