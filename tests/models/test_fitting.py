"""fit_impact_model: recovery of known profiles, exact book model, filling, smoothing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import curve_fit

from models import (
    BookImpact,
    BookSnapshots,
    DataError,
    FitWarning,
    ImpactModel,
    InvalidParameterError,
    LinearImpact,
    PowerLawImpact,
    fit_impact_model,
    regular_session_starts,
)

TICK = 0.01


def make_books(offsets, sizes, mid=None, repaired=None):
    """Symmetric books from ask offsets (dollars) and sizes (shares), (days, N, L) or (N, L)."""
    offsets = np.asarray(offsets, dtype=float)
    sizes = np.asarray(sizes, dtype=float)
    if offsets.ndim == 2:
        offsets = offsets[None]
    days, n, levels = np.broadcast_shapes(offsets.shape, sizes.shape)
    offsets = np.broadcast_to(offsets, (days, n, levels))
    sizes = np.broadcast_to(sizes, (days, n, levels))
    if mid is None:
        mid = 50.0 + 0.5 * np.arange(days)[:, None] + 0.01 * np.arange(n)[None, :]
    mid = np.broadcast_to(mid, (days, n))
    return BookSnapshots(
        bid_px=mid[..., None] - offsets,
        bid_sz=sizes,
        ask_px=mid[..., None] + offsets,
        ask_sz=sizes,
        volume=np.ones((days, n)),
        dates=np.datetime64("2024-01-02") + np.arange(days),
        interval_starts=regular_session_starts()[:n],
        repaired=repaired,
    )


def linear_books(depth, half_spread, days=3, levels=10):
    """Constant depth per level, levels one tick apart: s(x) ~ (hs - tick/2) + tick/(2D) x."""
    n = len(depth)
    offsets = half_spread[:, None] + TICK * np.arange(levels)[None, :]
    sizes = np.broadcast_to(np.asarray(depth, float)[:, None], (n, levels))
    return make_books(np.broadcast_to(offsets, (days, n, levels)), sizes)


def power_books(h, alpha, delta, level_sizes, days=2):
    """Books whose cost at every level boundary q is exactly h q + alpha q**(1 + delta)."""
    q = np.cumsum(level_sizes, axis=-1)
    q0 = np.concatenate([np.zeros(q.shape[:-1] + (1,)), q], axis=-1)
    cost = h[:, None] * q0 + alpha[:, None] * q0 ** (1 + delta[:, None])
    offsets = np.diff(cost, axis=-1) / level_sizes  # mean marginal cost over each level
    return make_books(np.broadcast_to(offsets, (days,) + offsets.shape), level_sizes)


# ---------------------------------------------------------------------- recovery
def test_linear_recovery_from_constant_depth():
    depth = np.array([100.0, 250.0, 400.0, 1000.0, 3000.0])
    hs = np.array([0.005, 0.01, 0.015, 0.03, 0.05])
    model = fit_impact_model(linear_books(depth, hs), "linear", "buy", h="fit")
    assert isinstance(model, LinearImpact)
    beta_true = TICK / (2 * depth)  # dollar per share per share
    h_true = hs - TICK / 2
    np.testing.assert_allclose(model.beta, beta_true, rtol=0.02)
    np.testing.assert_allclose(model.h, h_true, rtol=0.02, atol=1e-12)
    assert np.all(model.diagnostics["r2"] > 0.999)
    assert not model.diagnostics["filled"].any()
    # The sell side is symmetric here.
    sell = fit_impact_model(linear_books(depth, hs), "linear", "sell", h="fit")
    np.testing.assert_allclose(sell.beta, beta_true, rtol=0.02)
    assert sell.side == "sell"


def test_linear_with_fixed_intercepts_is_weighted_ls_through_it():
    depth = np.array([200.0, 500.0])
    hs = np.array([0.01, 0.02])
    books = linear_books(depth, hs, levels=8)
    # Slippage at the level boundaries x_m = m D is hs - tick/2 + tick/(2D) x_m.
    x = depth[:, None] * np.arange(1, 9)[None, :]
    y = hs[:, None] - TICK / 2 + TICK / (2 * depth[:, None]) * x
    fixed = fit_impact_model(books, "linear", h="half_spread")
    slope = ((y - hs[:, None]) * x).sum(1) / (x * x).sum(1)
    np.testing.assert_allclose(fixed.beta, slope, rtol=1e-9)
    np.testing.assert_allclose(fixed.h, hs, rtol=1e-12)
    zero = fit_impact_model(books, "linear", h="zero")
    np.testing.assert_allclose(zero.beta, (y * x).sum(1) / (x * x).sum(1), rtol=1e-9)
    np.testing.assert_array_equal(zero.h, 0.0)


def test_power_law_recovery():
    n = 4
    h = np.array([0.005, 0.01, 0.0, 0.02])
    alpha = np.array([2e-3, 5e-4, 1e-2, 1e-4])
    delta = np.array([0.5, 0.8, 0.3, 1.4])
    level_sizes = np.broadcast_to(100.0 * 1.3 ** np.arange(10), (n, 10))
    books = power_books(h, alpha, delta, level_sizes)
    model = fit_impact_model(books, "power", h="fit", delta="per_interval")
    assert isinstance(model, PowerLawImpact)
    np.testing.assert_allclose(model.delta, delta, rtol=0.02)
    np.testing.assert_allclose(model.alpha, alpha, rtol=0.02)
    np.testing.assert_allclose(model.h, h, rtol=0.02, atol=2e-4)
    assert np.all(model.diagnostics["r2"] > 0.999)
    # A known exponent makes alpha a closed-form least-squares estimate.
    fixed = fit_impact_model(books, "power", h="fit", delta=delta)
    np.testing.assert_allclose(fixed.alpha, alpha, rtol=1e-6)
    np.testing.assert_array_equal(fixed.delta, delta)
    assert fixed.diagnostics["stderr_delta"].isna().all()


def test_square_root_law_without_intercept():
    n = 3
    alpha = np.array([1e-3, 3e-3, 5e-4])
    books = power_books(np.zeros(n), alpha, np.full(n, 0.5), np.full((n, 10), 250.0))
    model = fit_impact_model(books, "power", h="zero")
    np.testing.assert_allclose(model.delta, 0.5, rtol=0.02)
    np.testing.assert_allclose(model.alpha, alpha, rtol=0.02)


# ---------------------------------------------------------------------- independent references
def _noisy_books(seed=0, days=4, n=6, levels=10):
    rng = np.random.default_rng(seed)
    steps = rng.uniform(0.5, 3.0, (days, n, levels)) * TICK
    offsets = np.cumsum(steps, axis=-1)
    sizes = rng.lognormal(np.log(300.0), 0.6, (days, n, levels))
    return make_books(offsets, sizes)


def _pooled(books, t):
    px, sz = books.side_levels("buy")
    x = np.cumsum(sz[:, t], axis=-1).ravel()
    y = books.walk(np.cumsum(sz, axis=-1), "buy").slippage[:, t].ravel()
    return x, y


def test_linear_fit_matches_polyfit_per_interval():
    books = _noisy_books()
    model = fit_impact_model(books, "linear", h="fit")
    for t in range(books.n_intervals):
        x, y = _pooled(books, t)
        slope, intercept = np.polyfit(x, y, 1)
        assert intercept >= 0
        np.testing.assert_allclose([model.beta[t], model.h[t]], [slope, intercept], rtol=1e-7)
        resid = y - intercept - slope * x
        r2 = 1 - (resid**2).sum() / ((y - y.mean()) ** 2).sum()
        np.testing.assert_allclose(model.diagnostics["r2"][t], r2, rtol=1e-9)
        # Standard error of the slope from the textbook formula.
        se = np.sqrt((resid**2).sum() / (len(x) - 2) / ((x - x.mean()) ** 2).sum())
        np.testing.assert_allclose(model.diagnostics["stderr_beta"][t], se, rtol=1e-6)


def test_power_fit_is_at_least_as_good_as_curve_fit():
    books = _noisy_books(seed=1)
    model = fit_impact_model(books, "power", h="fit", delta="per_interval")
    for t in range(books.n_intervals):
        x, y = _pooled(books, t)
        s = x.max()

        def f(u, h, a, d):
            return h + a * u**d

        p, _ = curve_fit(
            f, x / s, y, p0=[y.min(), y.max() - y.min(), 1.0], bounds=([0, 0, 0.05], [1, 10, 3])
        )
        rss_ref = ((y - f(x / s, *p)) ** 2).sum()
        pred = model.h[t] + model.alpha[t] * x ** model.delta[t]
        rss = ((y - pred) ** 2).sum()
        assert rss <= rss_ref * (1 + 1e-6) + 1e-15


def test_fit_is_the_same_interval_by_interval():
    books = _noisy_books(seed=2)
    full = fit_impact_model(books, "power", delta="per_interval")
    for t in (0, 3):
        px, sz = books.side_levels("buy")
        one = make_books(
            (px[:, t : t + 1] - books.mid[:, t : t + 1, None]), sz[:, t : t + 1], books.mid[:, [t]]
        )
        part = fit_impact_model(one, "power", delta="per_interval")
        np.testing.assert_allclose(part.alpha, full.alpha[t], rtol=1e-6)
        np.testing.assert_allclose(part.delta, full.delta[t], rtol=1e-6)


# ---------------------------------------------------------------------- book model
def test_book_model_equals_walking_the_book():
    books = _noisy_books(seed=3, days=1)
    for side in ("buy", "sell"):
        model = fit_impact_model(books, "book", side, beyond_depth_bps=15.0)
        assert isinstance(model, BookImpact)
        x = np.random.default_rng(4).uniform(0, 5000, (7, books.n_intervals))
        walked = books.walk(x.T[None], side, beyond_depth_bps=15.0)
        np.testing.assert_allclose(model.cost(x), walked.cost[0].T, rtol=1e-12)
        np.testing.assert_allclose(model.slippage(x), walked.slippage[0].T, rtol=1e-9)


def test_book_model_is_the_median_book():
    books = _noisy_books(seed=5, days=5, n=3, levels=4)
    model = BookImpact.from_snapshots(books, "buy")
    px, sz = books.side_levels("buy")
    off = px - books.mid[..., None]
    for t in range(3):
        for lvl in range(4):
            assert model.offsets[t, lvl] == pytest.approx(np.median(off[:, t, lvl]))
            assert model.sizes[t, lvl] == pytest.approx(np.median(sz[:, t, lvl]))
    np.testing.assert_allclose(model.reference_mid, np.median(books.mid, axis=0))


def test_book_model_offsets_stay_strictly_increasing():
    # Day 2 shows only one level; level 1 is displayed on days 0 and 1 only.  The median
    # offset of level 1 (0.045) falls below that of level 0 (0.05): the levels merge.
    nan = np.nan
    offsets = np.array([[[0.01, 0.02]], [[0.05, 0.07]], [[0.06, nan]]])
    sizes = np.array([[[100.0, 40.0]], [[200.0, 60.0]], [[300.0, 0.0]]])
    books = BookSnapshots.from_arrays(
        bid_px=50 - offsets,
        bid_sz=sizes,
        ask_px=50 + offsets,
        ask_sz=sizes,
        volume=np.ones((3, 1)),
        dates=np.datetime64("2024-01-02") + np.arange(3),
        interval_starts=regular_session_starts()[:1],
    )
    model = BookImpact.from_snapshots(books, "buy")
    np.testing.assert_allclose(model.offsets, [[0.05]])
    np.testing.assert_allclose(model.sizes, [[200.0 + 40.0]])
    mean = BookImpact.from_snapshots(books, "buy", statistic="mean")
    assert np.all(np.diff(mean.offsets[np.isfinite(mean.offsets)]) > 0)


# ---------------------------------------------------------------------- filling
def test_unfittable_intervals_are_filled_from_neighbours():
    depth = np.array([100.0, 200.0, 300.0, 400.0, 500.0, 600.0])
    hs = np.full(6, 0.02)
    clean = linear_books(depth, hs)
    repaired = np.zeros((clean.n_days, 6), dtype=bool)
    repaired[:, [0, 2, 3]] = True
    books = make_books(
        clean.ask_px - clean.mid[..., None], clean.ask_sz, clean.mid, repaired=repaired
    )
    with pytest.warns(FitWarning, match=r"3 of 6 intervals could not be fitted \(too few obs"):
        model = fit_impact_model(books, "linear", h="fit")
    diag = model.diagnostics
    np.testing.assert_array_equal(diag["filled"], [True, False, True, True, False, False])
    assert model.fit_info["intervals_filled"] == 3
    assert model.fit_info["intervals_too_few_obs"] == 3
    assert list(diag["status"][[0, 2]]) == ["too_few_obs", "too_few_obs"]
    assert not diag["failed"].any()
    ok = TICK / (2 * depth)
    np.testing.assert_allclose(model.beta[[1, 4, 5]], ok[[1, 4, 5]], rtol=1e-9)
    np.testing.assert_allclose(model.beta[0], ok[1])  # nearest fitted neighbour at the edge
    np.testing.assert_allclose(model.beta[2], ok[1] + (ok[4] - ok[1]) / 3)
    np.testing.assert_allclose(model.beta[3], ok[1] + 2 * (ok[4] - ok[1]) / 3)
    assert np.all(np.isfinite(model.beta)) and np.all(np.isfinite(model.h))

    everything = np.ones((clean.n_days, 6), dtype=bool)
    none_left = make_books(
        clean.ask_px - clean.mid[..., None], clean.ask_sz, clean.mid, repaired=everything
    )
    with pytest.raises(DataError, match="no training day of 3 has a usable snapshot"):
        fit_impact_model(none_left, "power")
    # Without day screening the same books reach the interval check.
    with pytest.raises(DataError, match="no interval of 6 could be fitted"):
        fit_impact_model(none_left, "power", drop_days="none")


def test_flat_slippage_fails_and_is_filled():
    # Interval 1 shows a single level whose size varies by day: the slippage net of the
    # half spread is exactly 0 (binary-exact prices), so the slope is 0 and the fit fails.
    days = 3
    offsets = np.full((days, 3, 3), np.nan)
    sizes = np.zeros((days, 3, 3))
    offsets[:, [0, 2]] = [0.0625, 0.125, 0.25]
    sizes[:, [0, 2]] = 100.0
    offsets[:, 1, 0] = 0.0625
    sizes[:, 1, 0] = [100.0, 300.0, 500.0]
    books = make_books(offsets, sizes, mid=np.full((days, 3), 16.0))
    with pytest.warns(FitWarning, match="non-increasing fit: 1"):
        model = fit_impact_model(books, "linear", h="half_spread")
    assert model.fit_info["intervals_not_increasing"] == 1
    np.testing.assert_array_equal(model.diagnostics["failed"], [False, True, False])
    np.testing.assert_array_equal(model.diagnostics["filled"], [False, True, False])
    assert model.diagnostics["status"][1] == "not_increasing"
    np.testing.assert_allclose(model.beta[1], model.beta[0])


# ---------------------------------------------------------------------- smoothing
def test_smoothing_reduces_dispersion():
    rng = np.random.default_rng(11)
    days, n, levels = 3, 60, 10
    depth = rng.lognormal(np.log(400.0), 0.5, (days, n, 1)) * np.ones((1, 1, levels))
    offsets = 0.01 + TICK * np.arange(levels)
    books = make_books(np.broadcast_to(offsets, (days, n, levels)), depth)
    raw = fit_impact_model(books, "linear", h="fit")
    smooth = fit_impact_model(books, "linear", h="fit", smoothing=5.0)
    assert smooth.beta.std() < 0.5 * raw.beta.std()
    assert raw.beta.min() < smooth.beta.min() and smooth.beta.max() < raw.beta.max()
    # An infinite bandwidth pools every interval: one least-squares line for the day.
    pooled = fit_impact_model(books, "linear", h="fit", smoothing=1e6)
    x, y = (
        np.concatenate([_pooled(books, t)[0] for t in range(n)]),
        np.concatenate([_pooled(books, t)[1] for t in range(n)]),
    )
    slope, intercept = np.polyfit(x, y, 1)
    np.testing.assert_allclose(pooled.beta, slope, rtol=1e-6)
    np.testing.assert_allclose(pooled.h, intercept, rtol=1e-6)
    # A profile that is the same in every interval is unaffected by smoothing.
    flat = linear_books(np.full(20, 300.0), np.full(20, 0.02))
    np.testing.assert_allclose(
        fit_impact_model(flat, "power", smoothing=3.0).delta,
        fit_impact_model(flat, "power").delta,
        rtol=1e-4,
    )


# ---------------------------------------------------------------------- options and wrapper
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "cubic"}, "kind must be one of linear, power, book; got 'cubic'"),
        (
            {"kind": "linear", "h": "mid"},
            "h must be one of half_spread, per_day, fit, zero; got 'mid'",
        ),
        ({"kind": "power", "delta": "free"}, "delta must be a number, an array, or one of"),
        ({"kind": "linear", "drop_days": "all"}, "drop_days must be 'auto', 'none' or a list"),
        ({"kind": "linear", "drop_days": [0, 1, 2]}, "drop_days must leave at least one"),
        ({"kind": "linear", "drop_days": [5]}, r"drop_days must hold day positions in \[0, 2\]"),
        ({"kind": "linear", "outlier_factor": 1.0}, "outlier_factor must be finite and > 1"),
        ({"kind": "linear", "smoothing": -1.0}, "smoothing must be finite and >= 0"),
        ({"kind": "linear", "delta": 0.5}, "delta applies only to kind='power'; got 0.5"),
        ({"kind": "power", "delta": -0.5}, "delta must be > 0; got -0.5"),
        ({"kind": "book", "smoothing": 2.0}, "smoothing does not apply to kind='book'"),
        ({"kind": "linear", "min_obs": 1}, "min_obs must be >= 2"),
        ({"kind": "linear", "h": "fit", "min_obs": 2}, "min_obs must be >= 3"),
        ({"kind": "linear", "grid": "log"}, "grid must be one of levels, uniform; got 'log'"),
        ({"kind": "linear", "side": "short"}, "side must be 'buy' or 'sell'; got 'short'"),
    ],
)
def test_option_errors(kwargs, message):
    books = linear_books(np.array([100.0, 200.0]), np.array([0.01, 0.01]))
    with pytest.raises(InvalidParameterError, match=message.replace("(", r"\(")):
        fit_impact_model(books, **kwargs)


def test_uniform_grid_and_diagnostics_columns():
    books = linear_books(np.array([100.0, 300.0]), np.array([0.02, 0.03]), levels=20)
    model = fit_impact_model(books, "power", grid="uniform", grid_points=40)
    assert list(model.diagnostics.columns) == [
        "r2",
        "stderr_h",
        "stderr_alpha",
        "stderr_delta",
        "n_obs",
        "filled",
        "failed",
        "status",
    ]
    np.testing.assert_array_equal(model.diagnostics["n_obs"], [3 * 40, 3 * 40])
    assert np.all(model.diagnostics["r2"] > 0.99)
    summary = model.summary()
    assert {"alpha", "delta", "h", "r2", "stderr_alpha", "n_obs"} <= set(summary.columns)


def test_impact_model_wrapper_exposes_seed_interface():
    depth = np.array([100.0, 200.0, 400.0])
    books = linear_books(depth, np.full(3, 0.005))
    lin = ImpactModel("linear").fit(books)
    assert lin.fit(books) is lin
    assert set(lin.fitted_models) == {0, 1, 2}
    assert lin.parameters[1]["beta"] == pytest.approx(lin.model.beta[1])
    assert lin.parameters[1]["h"] == 0.0  # the seed's linear model has no intercept
    summary = lin.get_model_summary()
    assert {"minute", "beta", "r2"} <= set(summary.columns)
    np.testing.assert_allclose(summary["beta"], lin.model.beta)
    x = np.array([[10.0, 20.0, 30.0]])
    np.testing.assert_allclose(lin.total_cost(x), lin.model.total_cost(x))
    np.testing.assert_allclose(lin.cost(x), lin.model.beta * x**2)

    nonlin = ImpactModel("nonlinear").fit(books, side="sell")
    assert isinstance(nonlin.model, PowerLawImpact)
    assert set(nonlin.parameters[0]) == {"alpha", "delta", "h"}
    assert {"alpha", "delta"} <= set(nonlin.get_model_summary().columns)
    assert nonlin.fitted_models[2]["filled"] is False
