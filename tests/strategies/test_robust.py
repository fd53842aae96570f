"""Robust planning (strategies/robust.py) and its training evidence (strategies/evidence.py).

References the tests compare against, written independently of the module: the kernel
smoother as an explicit (N, N) matrix, the noise covariance from ``numpy.cov``, the
quantiles from ``scipy.stats``, the best point of a segment from a dense grid, and
Monte-Carlo frequencies for the calibration of the confidence bound.
"""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst
from scipy import stats

from models import (
    FitWarning,
    InvalidParameterError,
    InvalidTypeError,
    LinearImpact,
    PowerLawImpact,
    fit_impact_model,
    fit_per_day,
)
from simulator.synthetic import synthesize_market
from strategies import (
    AllocationProblem,
    EqualStrategy,
    RobustStrategy,
    TrainingEvidence,
    get_strategy,
    solve_exact,
)
from strategies.robust import (
    day_deviations,
    effective_dims,
    noise_quantile,
    shrink_profile,
)
from strategies.testing import default_problems, parametrize_with_checks

N = 24


# --------------------------------------------------------------------------- helpers
def _evidence(model, n_days=12, noise=0.3, seed=0, pattern_noise=None):
    """Per-day parameters scattered around the model's: lognormal slope, scaled intercept."""
    rng = np.random.default_rng(seed)
    n = model.n_intervals
    name = "beta" if model.kind == "linear" else "alpha"
    slope = np.asarray(getattr(model, name))
    z = rng.standard_normal((n_days, n))
    per_slope = slope * np.exp(noise * z - 0.5 * noise**2)
    per_h = np.asarray(model.h) * np.exp(0.5 * noise * rng.standard_normal((n_days, n)))
    return TrainingEvidence(
        kind=model.kind,
        per_day={name: per_slope, "h": per_h},
        delta=np.asarray(model.delta) if model.kind == "power" else None,
    )


def _with_evidence(problems):
    out = []
    for i, p in enumerate(problems):
        if p.kind in ("linear", "power"):
            out.append(dataclasses.replace(p, evidence=_evidence(p.model, seed=i)))
    return out


PROBLEMS = default_problems(n_intervals=N)
PROBLEMS_WITH_EVIDENCE = _with_evidence(PROBLEMS)


def _equal(problem):
    return EqualStrategy().schedule(problem)


def _kernel_matrix(n, sigma, truncate=4.0):
    """Gaussian smoother with edge values repeated ('nearest'), as an explicit matrix."""
    radius = int(truncate * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    w = np.exp(-0.5 * (offsets / sigma) ** 2)
    w /= w.sum()
    k = np.zeros((n, n))
    for i in range(n):
        np.add.at(k[i], np.clip(i + offsets, 0, n - 1), w)
    return k


def _reference_shrink(estimate, days, bandwidth, confidence):
    """Matrix form of the two-scale shrinkage with the days' covariance from numpy.cov."""
    n = estimate.shape[0]
    d = days.shape[0]
    cov = np.cov(days, rowvar=False) / d  # covariance of the days' mean
    k = _kernel_matrix(n, bandwidth)
    center = np.eye(n) - np.full((n, n), 1.0 / n)
    maps = {"smooth": center @ k, "rough": np.eye(n) - k}
    level = float(np.mean(k @ estimate))
    out = np.full(n, level)
    kept, dims = {}, {}
    m = d - 1
    for scale, lmap in maps.items():
        c = lmap @ estimate
        cc = lmap @ cov @ lmap.T
        v = np.diag(cc)
        a, b = np.trace(cc) ** 2, np.trace(cc @ cc)
        b_hat = (b - a / m) / (1 + 1 / m - 2 / m**2)
        a_hat = a - 2 * b_hat / m
        dim = min(max(a_hat / b_hat, 1.0), n)
        q = stats.f.ppf(confidence, dim, dim * m)
        tau2 = max(0.0, np.mean(c**2) - np.mean(v) * q)
        w = tau2 / (tau2 + v)
        out = out + w * c
        kept[scale], dims[scale] = float(w.mean()), dim
    return out, kept, dims


# --------------------------------------------------------------------------- contract
@parametrize_with_checks(
    [RobustStrategy(), RobustStrategy(smoothing_fraction=0.0, confidence=0.6)],
    problems=PROBLEMS + PROBLEMS_WITH_EVIDENCE,
)
def test_contract_with_and_without_evidence(strategy, check):
    check(strategy)


def test_registered_with_validated_parameters():
    assert isinstance(get_strategy("robust"), RobustStrategy)
    assert get_strategy("robust", confidence=0.9).confidence == 0.9
    with pytest.raises(InvalidParameterError, match=r"'confidence'.*\(0, 1\); got 1\.5"):
        get_strategy("robust", confidence=1.5)
    with pytest.raises(InvalidParameterError, match=r"'smoothing_fraction'.*\[0, 1\]; got -0\.1"):
        RobustStrategy(smoothing_fraction=-0.1)
    with pytest.raises(InvalidParameterError, match="'confidence'.*number; got True"):
        RobustStrategy(confidence=True)
    with pytest.raises(InvalidParameterError, match="smoothing_fraction.*nan"):
        RobustStrategy(smoothing_fraction=float("nan"))


def test_book_models_are_not_supported():
    book = next(p for p in PROBLEMS if p.kind == "book")
    with pytest.raises(InvalidParameterError, match="model kind of strategy 'robust'.*'book'"):
        RobustStrategy().schedule(book)


# --------------------------------------------------------------------------- the estimator
@pytest.mark.parametrize("bandwidth", [1.5, 4.0])
@pytest.mark.parametrize("pattern", [0.0, 0.4, 3.0])
def test_shrink_profile_matches_the_matrix_reference(bandwidth, pattern):
    rng = np.random.default_rng(7)
    n, d = 50, 15
    t = np.linspace(-1, 1, n)
    days = pattern * t**4 + rng.standard_normal((d, n)) + 0.3 * rng.standard_normal((d, 1))
    estimate = days.mean(axis=0)
    got = shrink_profile(estimate, day_deviations(days), bandwidth, 0.9, noise_dof=d - 1)
    values, kept, dims = _reference_shrink(estimate, days, bandwidth, 0.9)
    np.testing.assert_allclose(got.values, values, rtol=1e-10, atol=1e-12)
    for scale in ("smooth", "rough"):
        assert got.kept[scale] == pytest.approx(kept[scale], rel=1e-9, abs=1e-12)
        assert got.effective_dims[scale] == pytest.approx(dims[scale], rel=1e-9)
    if pattern == 3.0:  # a strong pattern is kept almost entirely on the smooth scale
        assert got.kept["smooth"] > 0.95


def test_day_deviations_give_the_covariance_of_the_mean():
    rng = np.random.default_rng(1)
    days = rng.standard_normal((9, 6)) * np.arange(1, 7)
    e = day_deviations(days)
    np.testing.assert_allclose(e.T @ e, np.cov(days, rowvar=False) / 9, rtol=1e-12)
    # Missing days: each interval's variance is that of the mean of its own valid days; an
    # interval with one valid day gets the largest variance of the others.
    days[:4, 0] = np.nan
    days[1:, 5] = np.nan
    e = day_deviations(days)
    var = np.einsum("mn,mn->n", e, e)
    valid = ~np.isnan(days)
    expected = np.nanvar(days[:, :5], axis=0, ddof=1) / valid[:, :5].sum(axis=0)
    np.testing.assert_allclose(var[:5], expected, rtol=1e-12)
    assert var[5] == pytest.approx(expected.max(), rel=1e-12)


def test_effective_dims_known_and_sample_covariance():
    assert effective_dims(np.eye(30)) == pytest.approx(30.0)
    assert effective_dims(np.ones((1, 30))) == pytest.approx(1.0)
    assert effective_dims(np.zeros((3, 30))) == 0.0
    # From a sample covariance of m = 19 degrees of freedom the plug-in ratio is biased low
    # (about 12 of 30 directions); the corrected one is close to the truth.
    rng = np.random.default_rng(2)
    plug_in, corrected = [], []
    for _ in range(300):
        days = rng.standard_normal((20, 30))
        e = day_deviations(days)
        plug_in.append(effective_dims(e))
        corrected.append(effective_dims(e, noise_dof=19))
    assert np.mean(plug_in) < 0.5 * 30
    assert np.mean(corrected) == pytest.approx(30, rel=0.1)


def test_noise_quantiles_match_scipy():
    for conf, k in ((0.975, 7.3), (0.5, 40.0), (0.9, 1.0)):
        assert noise_quantile(conf, k) == pytest.approx(stats.chi2.ppf(conf, k) / k, rel=1e-10)
        assert noise_quantile(conf, k, 19) == pytest.approx(stats.f.ppf(conf, k, 19 * k), rel=1e-10)


@pytest.mark.parametrize("confidence", [0.9, 0.975])
def test_lower_confidence_bound_is_calibrated_under_pure_noise(confidence):
    # Pure noise (no pattern): a scale keeps something only when its mean square exceeds the
    # noise's `confidence` quantile, i.e. in about 1 - confidence of the windows.  Gaussian
    # noise, 40 days of 60 intervals, 600 windows: binomial sd about 0.012 at 10%.
    rng = np.random.default_rng(3)
    hits = {"smooth": 0, "rough": 0}
    trials = 600
    for _ in range(trials):
        days = rng.standard_normal((40, 60))
        out = shrink_profile(days.mean(axis=0), day_deviations(days), 3.0, confidence, 39)
        for scale in hits:
            hits[scale] += out.kept[scale] > 0
    nominal = 1 - confidence
    for scale, count in hits.items():
        assert 0.4 * nominal <= count / trials <= 1.6 * nominal + 0.01, (scale, count)


def test_higher_confidence_flattens_more():
    rng = np.random.default_rng(4)
    t = np.linspace(-1, 1, 80)
    days = 0.5 * t**2 + rng.standard_normal((20, 80))
    e = day_deviations(days)
    kept = [
        shrink_profile(days.mean(0), e, 4.0, c, 19).kept["smooth"] for c in (0.5, 0.8, 0.95, 0.99)
    ]
    assert kept == sorted(kept, reverse=True) and kept[0] > 0.5 and kept[-1] == 0.0


# --------------------------------------------------------------------------- schedules
def _linear_problem(beta, h, n_days=20, noise=0.3, seed=0, **kw):
    model = LinearImpact(beta=beta, h=h)
    ev = _evidence(model, n_days=n_days, noise=noise, seed=seed)
    return AllocationProblem(model, 5e4, evidence=ev, **kw)


@pytest.mark.parametrize("capped", [False, True])
def test_flat_profile_gives_equal(capped):
    n = 60
    volume = 2e3 * (1 + np.linspace(-1, 1, n) ** 2)
    kw = {"upper": 0.6 * volume} if capped else {}
    p = _linear_problem(np.full(n, 3e-6), np.full(n, 0.01), **kw)
    x = RobustStrategy().schedule(p)
    np.testing.assert_allclose(x, _equal(p), rtol=0, atol=1e-9 * p.total_shares)


def test_pure_noise_is_flattened_and_strong_pattern_kept():
    n = 90
    t = np.linspace(-1, 1, n)
    rng = np.random.default_rng(5)
    # Noise only: the pooled profile is the mean of the days; nothing persists.
    days = 3e-6 * np.exp(0.5 * rng.standard_normal((20, n)))
    model = LinearImpact(beta=days.mean(0), h=0.01)
    ev = TrainingEvidence(kind="linear", per_day={"beta": days, "h": np.full((20, n), 0.01)})
    noisy = AllocationProblem(model, 5e4, evidence=ev)
    shrunk = RobustStrategy().shrunk_model(noisy)
    assert max(shrunk.kept.values()) == 0.0
    assert shrunk.noise_source == {"beta": "per_day", "h": "per_day"}
    np.testing.assert_allclose(RobustStrategy().schedule(noisy), _equal(noisy), atol=1e-6)
    # A persistent U shape (depth three times larger at the ends) with the same noise.
    beta = 3e-6 / (1 + 2 * t**4)
    strong = _linear_problem(beta, 0.01 + 0.02 * np.exp(-np.arange(n) / 5), noise=0.5)
    x = RobustStrategy().schedule(strong)
    exact = solve_exact(strong.model, strong.total_shares)
    assert np.abs(x - exact).sum() < 0.03 * strong.total_shares
    saving_exact = strong.objective(_equal(strong)) - strong.objective(exact)
    saving_robust = strong.objective(_equal(strong)) - strong.objective(x)
    assert saving_robust > 0.97 * saving_exact


def test_without_evidence_uses_standard_errors_then_differences():
    books = synthesize_market("u_shape", days=6, intervals=40, levels=6, seed=3).books
    model = fit_impact_model(books, "linear")
    robust = RobustStrategy()
    # Fitted model: the slope's standard errors; h (observed half spreads) has none.
    shrunk = robust.shrunk_model(AllocationProblem(model, 2e4))
    assert shrunk.noise_source == {"beta": "stderr", "h": "differences"}
    # Hand-built model: no diagnostics at all.
    bare = AllocationProblem(LinearImpact(beta=model.beta, h=model.h), 2e4)
    assert robust.shrunk_model(bare).noise_source == {"beta": "differences", "h": "differences"}
    result = robust.solve(bare)
    assert result.success and "differences" in result.message
    # With evidence: the days' dispersion.
    ev = TrainingEvidence.from_per_day_fit(fit_per_day(books, "linear"))
    with_ev = AllocationProblem(model, 2e4, evidence=ev)
    assert robust.shrunk_model(with_ev).noise_source == {"beta": "per_day", "h": "per_day"}
    # Too few days: fall back.
    short = TrainingEvidence.from_per_day_fit(fit_per_day(books.select_days([0, 1]), "linear"))
    fallback = robust.shrunk_model(AllocationProblem(model, 2e4, evidence=short))
    assert fallback.noise_source["beta"] == "stderr"


def test_power_law_per_interval_exponent_and_sell_side():
    rng = np.random.default_rng(6)
    n = 50
    model = PowerLawImpact(
        alpha=rng.uniform(2e-4, 8e-4, n), delta=rng.uniform(0.4, 0.9, n), h=0.01, side="sell"
    )
    p = AllocationProblem(model, 3e4, evidence=_evidence(model, seed=2))
    shrunk = RobustStrategy().shrunk_model(p)
    assert shrunk.model.kind == "power" and shrunk.model.side == "sell"
    np.testing.assert_array_equal(shrunk.model.delta, model.delta)
    x = RobustStrategy().schedule(p)
    assert x.sum() == pytest.approx(p.total_shares, rel=1e-12) and np.all(x >= 0)
    assert p.objective(x) <= p.objective(_equal(p))


def test_guard_moves_toward_equal_when_the_shrunk_plan_is_costlier(monkeypatch):
    n = 40
    t = np.linspace(-1, 1, n)
    p = _linear_problem(2e-6 * (1 + t**2), 0.01)
    # A deliberately wrong "shrunk" model (the profile turned upside down): its optimum is
    # costlier than equal under the problem's model, so the guard must step back.
    wrong = LinearImpact(beta=2e-6 * (2 - t**2), h=0.01)
    original = RobustStrategy.shrunk_model

    def fake(self, problem):
        return dataclasses.replace(original(self, problem), model=wrong)

    monkeypatch.setattr(RobustStrategy, "shrunk_model", fake)
    strategy = RobustStrategy()
    result = strategy.solve(p)
    raw = solve_exact(wrong, p.total_shares)
    equal = _equal(p)
    assert p.objective(raw) > p.objective(equal)
    grid = np.linspace(0, 1, 20001)
    costs = [p.objective(equal + g * (raw - equal)) for g in grid]
    assert result.objective <= p.objective(equal)
    assert result.objective == pytest.approx(min(costs), rel=1e-9)
    assert "moved to" in result.message


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=hst.integers(0, 10_000),
    pattern=hst.floats(0.0, 2.0),
    capped=hst.booleans(),
    kind=hst.sampled_from(["linear", "power"]),
)
def test_between_exact_and_equal_under_the_model(seed, pattern, capped, kind):
    rng = np.random.default_rng(seed)
    n = 48
    t = np.linspace(-1, 1, n)
    shape = np.exp(-pattern * t**2)
    h = 0.01 * (1 + pattern * np.exp(-np.arange(n) / 4))
    if kind == "linear":
        model = LinearImpact(beta=3e-6 * shape * np.exp(0.2 * rng.standard_normal(n)), h=h)
    else:
        model = PowerLawImpact(alpha=4e-4 * shape, delta=0.5, h=h)
    volume = rng.uniform(1e3, 3e3, n)
    upper = 0.5 * volume if capped else None
    p = AllocationProblem(
        model, 2e4, upper=upper, evidence=_evidence(model, n_days=15, noise=0.4, seed=seed)
    )
    x = RobustStrategy().schedule(p)
    exact = solve_exact(model, p.total_shares, p.lower, p.upper)
    assert x.sum() == pytest.approx(p.total_shares, rel=1e-9)
    assert np.all(x >= -1e-9) and np.all(x <= p.upper + 1e-9)
    tol = 1e-9 * p.objective(exact)
    assert p.objective(exact) - tol <= p.objective(x) <= p.objective(_equal(p)) + tol


# --------------------------------------------------------------------------- evidence
def test_evidence_from_per_day_fit():
    books = synthesize_market("markov", days=8, intervals=30, levels=6, seed=1).books
    with pytest.warns(FitWarning, match="dropped 1 of 8 training days"):
        fit = fit_per_day(books, "power", drop_days=[2])
    ev = TrainingEvidence.from_per_day_fit(fit)
    keep = np.array([d != 2 for d in range(8)])
    assert ev.kind == "power" and ev.n_days == 7 and ev.n_intervals == 30
    np.testing.assert_array_equal(ev.dates, books.dates[keep])
    np.testing.assert_allclose(ev.per_day["alpha"], fit.params["alpha"][keep], rtol=1e-6)
    np.testing.assert_allclose(ev.per_day["h"], fit.params["h"][keep], rtol=1e-6)
    np.testing.assert_array_equal(ev.delta, fit.pooled.delta)
    np.testing.assert_array_equal(ev.stderr["alpha"], fit.pooled.diagnostics["stderr_alpha"])
    assert ev.per_day["alpha"].dtype == np.float32
    with pytest.raises(ValueError, match="read-only"):
        ev.per_day["h"][0, 0] = 1.0
    assert ev.nbytes == 2 * 7 * 30 * 4 + sum(a.nbytes for a in ev.stderr.values()) + 30 * 8 + 7 * 8
    clone = pickle.loads(pickle.dumps(ev))
    np.testing.assert_array_equal(clone.per_day["alpha"], ev.per_day["alpha"])
    with pytest.raises(InvalidTypeError, match="fit must be a models.PerDayFit"):
        TrainingEvidence.from_per_day_fit(fit.pooled)


def test_evidence_validation_names_the_field():
    beta = np.full((3, 4), 1e-6)
    h = np.full((3, 4), 0.01)
    TrainingEvidence(kind="linear", per_day={"beta": np.where(beta > 0, np.nan, 0), "h": h})
    cases = [
        (dict(kind="book", per_day={"beta": beta, "h": h}), "kind must be one of"),
        (dict(kind="linear", per_day={"alpha": beta, "h": h}), r"per_day must have exactly"),
        (dict(kind="linear", per_day={"beta": beta[0], "h": h}), r"per_day\['beta'\] must have"),
        (dict(kind="linear", per_day={"beta": -beta, "h": h}), r"per_day\['beta'\]\[0, 0\]"),
        (dict(kind="linear", per_day={"beta": beta, "h": h[:2]}), r"per_day\['h'\] must have"),
        (dict(kind="power", per_day={"alpha": beta, "h": h}), "delta must be given"),
        (dict(kind="power", per_day={"alpha": beta, "h": h}, delta=[1, 2]), "delta must be"),
        (dict(kind="linear", per_day={"beta": beta, "h": h}, delta=0.5), "delta must be None"),
        (dict(kind="linear", per_day={"beta": beta, "h": h}, dates=["2024-01-02"]), "dates"),
        (dict(kind="linear", per_day={"beta": beta, "h": h}, stderr={"h": [1.0]}), "stderr"),
    ]
    for kwargs, match in cases:
        with pytest.raises(InvalidParameterError, match=match):
            TrainingEvidence(**kwargs)
    with pytest.raises(InvalidTypeError, match="per_day must be a mapping"):
        TrainingEvidence(kind="linear", per_day=[beta, h])


def test_problem_checks_its_evidence():
    model = LinearImpact(beta=np.full(4, 1e-6))
    ev = TrainingEvidence(
        kind="linear", per_day={"beta": np.full((3, 4), 1e-6), "h": np.zeros((3, 4))}
    )
    assert AllocationProblem(model, 10).evidence is None
    assert AllocationProblem(model, 10, evidence=ev).evidence is ev
    with pytest.raises(InvalidTypeError, match="evidence must be a TrainingEvidence"):
        AllocationProblem(model, 10, evidence={"beta": 1})
    with pytest.raises(InvalidParameterError, match="evidence must have the model's 5 intervals"):
        AllocationProblem(LinearImpact(beta=np.full(5, 1e-6)), 10, evidence=ev)
    power = PowerLawImpact(alpha=np.full(4, 1e-4), delta=0.5)
    with pytest.raises(InvalidParameterError, match="evidence must belong to the model's kind"):
        AllocationProblem(power, 10, evidence=ev)
