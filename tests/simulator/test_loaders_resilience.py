"""Recovery half-life of depth at the touch: synthetic streams with a known rate, a scipy
reference for the fit, and the FROG / GOOG / AMZN estimates pinned loosely."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import curve_fit

from models.errors import DataError, InvalidParameterError
from simulator.loaders import (
    DataQualityWarning,
    SessionGrid,
    estimate_resilience,
    load_databento_mbp10,
    load_lobster,
    resilience_from_events,
)
from simulator.loaders.resilience import fit_recovery, recovery_curve

DAY_NS = np.datetime64("2024-03-04", "ns").astype(np.int64)
SESSION_START = DAY_NS + (9 * 3600 + 30 * 60) * 10**9
LAGS = np.geomspace(1e-3, 300.0, 40)  # the estimator's default lags
Q0 = 1_000.0


def isolated_stream(half_life_s, *, deficit=400.0, immediate=0.0, spacing_s=400.0, days=1):
    """Trades every ``spacing_s`` alternating sides, each taking ``deficit`` shares from the
    touch; a share ``immediate`` refills 0.1 ms later, the rest as exp(-ln2 t / h).

    Book rows sit at the trade, at 0.1 ms, and at every estimator lag, so the touch depth
    the estimator reads is the exact recovery path.
    """
    lam = np.log(2.0) / half_life_s
    times, aggressor, bid, ask = [], [], [], []
    offsets = np.concatenate([[0.0, 1e-4], LAGS])
    for day in range(days):
        start = SESSION_START + day * 86_400 * 10**9
        n_events = int((6.5 * 3600 - 400) // spacing_s)
        times.append(np.array([start - 10**9]))  # the book in force at the open
        aggressor.append(np.zeros(1, np.int8))
        bid.append(np.array([Q0]))
        ask.append(np.array([Q0]))
        for j in range(n_events):
            side = 1 if j % 2 == 0 else -1
            t0 = start + int((60 + j * spacing_s) * 1e9)
            left = deficit * np.where(
                offsets < 1e-4, 1.0, (1.0 - immediate) * np.exp(-lam * offsets)
            )
            depth = Q0 - left
            times.append(t0 + np.round(offsets * 1e9).astype(np.int64))
            aggressor.append(np.r_[side, np.zeros(offsets.size - 1)].astype(np.int8))
            ask.append(depth if side > 0 else np.full(offsets.size, Q0))
            bid.append(depth if side < 0 else np.full(offsets.size, Q0))
    return (
        np.concatenate(times),
        np.concatenate(aggressor),
        np.concatenate(bid),
        np.concatenate(ask),
    )


def poisson_stream(half_life_s, *, rate_per_s=1 / 20, days=3, seed=1):
    """Overlapping trades (Poisson arrivals, random side and size) whose depletions add up
    and decay with one half-life (the Obizhaeva-Wang depletion), depth in whole shares,
    the book updated every 50 ms and at each trade."""
    rng = np.random.default_rng(seed)
    lam = np.log(2.0) / half_life_s
    out = [[], [], [], []]
    for day in range(days):
        start = SESSION_START + day * 86_400 * 10**9
        length = 6.5 * 3600
        n = rng.poisson(rate_per_s * length)
        trade_t = np.sort(rng.uniform(1.0, length - 1.0, n))
        side = rng.choice([-1, 1], n)
        take = rng.uniform(200.0, 600.0, n)
        grid_t = np.arange(0.0, length, 0.05)
        t = np.concatenate([trade_t, grid_t])
        is_trade = np.concatenate([np.ones(n, bool), np.zeros(grid_t.size, bool)])
        order = np.argsort(t, kind="stable")
        t, is_trade = t[order], is_trade[order]
        depth = {}
        for s in (1, -1):
            tt, tk = trade_t[side == s], take[side == s]
            # Deficit just after each trade, then decayed to every row since the last one.
            after = np.empty(tt.size)
            acc = 0.0
            for j in range(tt.size):  # over trades, to build the test data
                acc = acc * np.exp(-lam * (tt[j] - tt[j - 1])) if j else 0.0
                acc += tk[j]
                after[j] = acc
            last = np.searchsorted(tt, t, side="right") - 1
            since = np.where(last >= 0, t - tt[np.maximum(last, 0)], 0.0)
            d = np.where(last >= 0, after[np.maximum(last, 0)] * np.exp(-lam * since), 0.0)
            depth[s] = np.round(np.maximum(Q0 - d, 0.0))
        agg = np.zeros(t.size, np.int8)
        agg[is_trade] = side
        out[0].append(start + np.round(t * 1e9).astype(np.int64))
        out[1].append(agg)
        out[2].append(depth[-1])
        out[3].append(depth[1])
    return tuple(np.concatenate(x) for x in out)


# ---------------------------------------------------------------- known recovery rate
@pytest.mark.parametrize("half_life_s", [0.8, 7.5, 40.0])
def test_isolated_trades_recover_the_half_life_exactly(half_life_s):
    est = resilience_from_events(*isolated_stream(half_life_s), n_boot=0)
    assert est.half_life_s == pytest.approx(half_life_s, rel=1e-3)
    assert est.half_life_intervals == pytest.approx(half_life_s / 60.0, rel=1e-3)
    assert est.immediate_fraction == pytest.approx(0.0, abs=1e-3)
    assert est.r_squared > 0.999999
    assert est.n_events == 57 and est.n_days == 1
    # The fitted curve reproduces the pooled deficit the estimator measured.
    np.testing.assert_allclose(est.fitted(est.lags_s), est.deficit, atol=1e-4)
    assert np.isnan(est.ci_s).all()


def test_immediate_refill_is_separated_from_the_exponential():
    est = resilience_from_events(*isolated_stream(5.0, immediate=0.5, days=2), n_boot=200)
    assert est.half_life_s == pytest.approx(5.0, rel=1e-3)
    # Q-bar sits slightly below Q0 (it averages the depleted spells): a, c absorb that.
    assert est.immediate_fraction == pytest.approx(0.5, abs=0.01)
    assert est.n_days == 2 and est.ci_s[0] <= est.half_life_s <= est.ci_s[1]


def test_overlapping_poisson_trades_give_an_interval_around_the_truth():
    est = resilience_from_events(*poisson_stream(4.0), n_boot=400, seed=3)
    assert est.half_life_s == pytest.approx(4.0, rel=0.1)
    lo, hi = est.ci_s
    assert lo < 4.0 < hi and hi / lo < 2.0
    assert est.confidence == 0.95 and est.n_boot == 400
    assert est.ci_intervals == pytest.approx((lo / 60.0, hi / 60.0))
    assert "percentile bootstrap over 60-s blocks" in est.method
    assert "half-life" in est.summary() and "95% CI" in str(est)


def test_interval_grid_converts_seconds_to_intervals():
    stream = isolated_stream(9.0)
    est = resilience_from_events(*stream, grid=SessionGrid(interval_minutes=5), n_boot=0)
    assert est.half_life_intervals == pytest.approx(9.0 / 300.0, rel=1e-3)
    assert est.interval_minutes == 5.0


def test_no_recovery_within_the_horizon_is_infinite_and_instant_refill_is_zero():
    est = resilience_from_events(*isolated_stream(1e6), n_boot=0, horizon_s=30.0)
    assert est.half_life_s == np.inf and est.half_life_intervals == np.inf
    est = resilience_from_events(*isolated_stream(5.0, immediate=1.0), n_boot=0)
    assert est.half_life_s == 0.0 and est.immediate_fraction == pytest.approx(1.0, abs=0.01)


# ---------------------------------------------------------------- the fit vs scipy
def test_fit_matches_scipy_curve_fit_on_a_noisy_curve():
    rng = np.random.default_rng(7)
    truth = (0.55, 3.2, -0.08)  # a, h, c
    g = truth[0] * np.exp(-np.log(2) * LAGS / truth[1]) + truth[2]
    noisy = g + rng.normal(0.0, 0.02, LAGS.size)
    h, a, c, r2 = (v[0] for v in fit_recovery(noisy, LAGS))

    def model(tau, a, h, c):
        return a * np.exp(-np.log(2) * tau / h) + c

    (a_ref, h_ref, c_ref), _ = curve_fit(model, LAGS, noisy, p0=(0.5, 1.0, 0.0))
    assert h == pytest.approx(h_ref, rel=1e-3)
    assert a == pytest.approx(a_ref, rel=1e-3)
    assert c == pytest.approx(c_ref, abs=1e-3)
    resid = noisy - model(LAGS, a_ref, h_ref, c_ref)
    assert r2 == pytest.approx(1 - resid @ resid / ((noisy - noisy.mean()) ** 2).sum(), rel=1e-6)


def test_fit_is_vectorised_over_curves():
    curves = np.stack([np.exp(-np.log(2) * LAGS / h) for h in (0.5, 2.0, 30.0)])
    h = fit_recovery(curves, LAGS)[0]
    np.testing.assert_allclose(h, [0.5, 2.0, 30.0], rtol=1e-3)


def test_recovery_curve_counts_events_per_block_and_day():
    stream = isolated_stream(5.0, days=2)
    curve = recovery_curve(*stream)
    assert curve.n_events == 114 and curve.n_days == 2
    assert curve.numerator.shape == (curve.block_day.size, 40)
    assert set(curve.block_day.tolist()) == {0, 1}
    assert curve.deficit[0] == pytest.approx(1.0, abs=0.02)


# ---------------------------------------------------------------- errors
def test_too_few_events_and_bad_parameters():
    t, agg, bid, ask = isolated_stream(5.0)
    keep = t < SESSION_START + int(2000e9)  # five trades
    with pytest.raises(DataError, match="only 5 trades consumed depth at the touch"):
        resilience_from_events(t[keep], agg[keep], bid[keep], ask[keep])
    with pytest.raises(InvalidParameterError, match="n_boot must be an integer >= 0"):
        resilience_from_events(t, agg, bid, ask, n_boot=-1)
    with pytest.raises(InvalidParameterError, match=r"confidence must be in \(0, 1\)"):
        resilience_from_events(t, agg, bid, ask, confidence=1.5)
    with pytest.raises(InvalidParameterError, match="horizon_s must be greater than min_lag_s"):
        resilience_from_events(t, agg, bid, ask, horizon_s=1e-4)
    with pytest.raises(InvalidParameterError, match="n_lags must be an integer >= 3"):
        resilience_from_events(t, agg, bid, ask, n_lags=2)
    with pytest.raises(InvalidParameterError, match="must have the same length"):
        resilience_from_events(t, agg[:-1], bid, ask)
    with pytest.raises(InvalidParameterError, match="format must be 'databento' or 'lobster'"):
        estimate_resilience("x.parquet", format="parquet")


# ---------------------------------------------------------------- real data
FROG = "databento_mbp10/FROG_2025-04-03_mbp10.csv.gz"
GOOG = "lobster_2012-06-21/GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz"
AMZN = "lobster_2012-06-21/AMZN_2012-06-21_34200000_57600000_orderbook_5.csv.gz"


CASES = {
    "FROG": (FROG, "databento", 15.8, 558),
    "GOOG": (GOOG, "lobster", 3.51, 2801),
    "AMZN": (AMZN, "lobster", 2.07, 3099),
}


@pytest.fixture(scope="module")
def real_estimates(shared_data_dir):
    return {
        key: estimate_resilience(shared_data_dir / name, format=fmt)
        for key, (name, fmt, _, _) in CASES.items()
    }


@pytest.mark.data
@pytest.mark.parametrize("key", list(CASES))
def test_real_half_lives_are_pinned_and_match_the_snapshots(shared_data_dir, real_estimates, key):
    name, fmt, half_life_s, n_events = CASES[key]
    est = real_estimates[key]
    assert est.half_life_s == pytest.approx(half_life_s, rel=0.02)
    assert est.n_events == n_events and est.n_days == 1 and est.n_boot == 1000
    lo, hi = est.ci_s
    assert lo < est.half_life_s < hi
    # Roughly half of a depletion refills within a millisecond on every book.
    assert 0.35 < est.immediate_fraction < 0.65
    load = load_databento_mbp10 if fmt == "databento" else load_lobster
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        books = load(shared_data_dir / name)
    assert books.resilience_half_life[0] == pytest.approx(est.half_life_intervals, rel=1e-9)
    assert books.median_half_life() == books.resilience_half_life[0]


@pytest.mark.data
def test_thin_frog_recovers_more_slowly_than_goog_and_amzn(real_estimates):
    frog, goog, amzn = (real_estimates[k] for k in ("FROG", "GOOG", "AMZN"))
    assert frog.half_life_s > 3 * max(goog.half_life_s, amzn.half_life_s)
    assert goog.ci_s == pytest.approx((1.88, 5.84), rel=0.1)
    # At the one-minute grid every book is close to refilled within an interval.
    assert goog.half_life_intervals < 0.1 and amzn.half_life_intervals < 0.1
    assert 0.2 < frog.half_life_intervals < 0.35
