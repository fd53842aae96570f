import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from models import BookImpact, InvalidParameterError, LinearImpact, PowerLawImpact
from strategies import (
    AllocationProblem,
    almgren_chriss_trajectory,
    get_strategy,
    project_capped_simplex,
    solve_exact,
)
from strategies.almgren_chriss import (
    _primal_active_set,
    risk_objective,
    solve_box_qp,
    solve_risk,
    solve_risk_qp,
)

# Almgren & Chriss (2000), section 4 worked example (time unit: days).
X, S0 = 1e6, 50.0
SIGMA = 0.3 * S0 / np.sqrt(250)  # 0.95 $/share/sqrt(day)
PAPER = dict(
    total_shares=X, horizon=5.0, n_periods=5, sigma=SIGMA, eta=2.5e-6, epsilon=0.0625, gamma=2.5e-7
)


def _brute_force(n, tau, sigma, eta_t, lam, x_total):
    """Minimise E + lambda V over holdings x_1..x_{N-1} by solving the normal equations."""
    a = eta_t / tau
    m = n - 1
    hess = np.zeros((m, m))
    idx = np.arange(m)
    hess[idx, idx] = 2 * (2 * a) + 2 * lam * sigma**2 * tau
    hess[idx[:-1], idx[:-1] + 1] = hess[idx[:-1] + 1, idx[:-1]] = -2 * a
    rhs = np.zeros(m)
    rhs[0] = 2 * a * x_total
    return np.concatenate([[x_total], np.linalg.solve(hess, rhs), [0.0]])


def test_paper_example():
    tr = almgren_chriss_trajectory(**PAPER, risk_aversion=1e-6)
    assert SIGMA == pytest.approx(0.95, abs=0.01)
    assert tr.eta_tilde == pytest.approx(2.375e-6)
    assert tr.kappa == pytest.approx(0.6, abs=0.01)  # "kappa ≈ 0.6/day"
    assert np.cosh(tr.kappa) == pytest.approx(1 + 1e-6 * SIGMA**2 / 2.375e-6 / 2)
    ref = _brute_force(5, 1.0, SIGMA, tr.eta_tilde, 1e-6, X)
    np.testing.assert_allclose(tr.holdings, ref, rtol=1e-10)
    n = -np.diff(ref)
    e = 0.5 * 2.5e-7 * X**2 + 0.0625 * X + 2.375e-6 * np.sum(n**2)
    v = SIGMA**2 * np.sum(ref[1:] ** 2)
    assert tr.expected_cost == pytest.approx(e, rel=1e-10)
    assert tr.variance == pytest.approx(v, rel=1e-10)
    twap = almgren_chriss_trajectory(**PAPER, risk_aversion=0.0)
    np.testing.assert_allclose(twap.trades, X / 5)
    # Risk aversion buys lower variance with higher expected cost, front-loading the trades.
    assert tr.variance < twap.variance and tr.expected_cost > twap.expected_cost
    assert np.all(np.diff(tr.trades) < 0)
    # TWAP by hand: gamma X^2/2 + epsilon X + eta_tilde N (X/N)^2 = 125,000 + 62,500 + 475,000.
    assert twap.expected_cost == pytest.approx(662_500.0, rel=1e-12)
    assert twap.variance == pytest.approx(SIGMA**2 * X**2 * (0.8**2 + 0.6**2 + 0.4**2 + 0.2**2))


def test_risk_seeking():
    lam = -2e-7
    tr = almgren_chriss_trajectory(**PAPER, risk_aversion=lam)
    ref = _brute_force(5, 1.0, SIGMA, tr.eta_tilde, lam, X)
    np.testing.assert_allclose(tr.holdings, ref, rtol=1e-9)
    assert np.all(np.diff(tr.trades) > 0)
    with pytest.raises(InvalidParameterError, match="risk_aversion"):
        almgren_chriss_trajectory(**PAPER, risk_aversion=-1e-4)


def test_validation():
    with pytest.raises(InvalidParameterError, match="eta - gamma"):
        almgren_chriss_trajectory(**{**PAPER, "gamma": 1.0}, risk_aversion=1e-6)
    with pytest.raises(InvalidParameterError, match="n_periods"):
        almgren_chriss_trajectory(**{**PAPER, "n_periods": 0}, risk_aversion=1e-6)
    with pytest.raises(InvalidParameterError, match="risk_aversion"):
        get_strategy("almgren-chriss", risk_aversion=-1.0)


def test_strategy_matches_closed_form():
    n = 20
    eta, sigma, lam = 2.5e-6, 0.95, 1e-6
    model = LinearImpact(beta=np.full(n, eta))
    p = AllocationProblem(model, X)
    x = get_strategy("almgren-chriss", risk_aversion=lam, sigma=sigma).schedule(p)
    tr = almgren_chriss_trajectory(X, n, n, sigma, eta, 0.0, 0.0, lam)
    np.testing.assert_allclose(x, tr.trades, rtol=1e-8)


def test_strategy_bounds_and_zero_risk():
    rng = np.random.default_rng(1)
    n = 30
    model = LinearImpact(beta=rng.uniform(1e-6, 5e-6, n), h=0.01)
    up = np.full(n, 600.0)
    p = AllocationProblem(model, 1e4, upper=up)
    x0 = get_strategy("almgren-chriss").schedule(p)
    np.testing.assert_allclose(x0, solve_exact(model, 1e4, upper=up), rtol=1e-9, atol=1e-8)
    sig = tuple(rng.uniform(0.01, 0.05, n))
    res = get_strategy("almgren-chriss", risk_aversion=1e-3, sigma=sig).solve(p)
    assert res.success
    assert res.x.sum() == pytest.approx(1e4, rel=1e-12) and np.all(res.x <= up + 1e-9)
    assert res.x[:5].sum() > x0[:5].sum()


def _risk_problem(rng, n):
    """Random bounded risk QP: impact eta x^2 + h x, risk weights comparable to eta."""
    s = float(rng.uniform(1e3, 1e5))
    eta = rng.uniform(1e-6, 1e-5, n)
    h = rng.uniform(0, 0.02, n) * rng.integers(0, 2)
    w = rng.uniform(0, 1, n) * 1e-6 * 10 ** rng.uniform(-4, 1)
    up = rng.uniform(0.3, 3.0, n) * s / n
    up = np.where(rng.uniform(size=n) < 0.3, np.inf, up)
    lo = np.where(rng.uniform(size=n) < 0.2, 0.3 * s / n, 0.0)
    lo = np.minimum(lo, up)
    if np.sum(up) < s:
        up = up * (1.2 * s / np.sum(up))
    return eta, h, w, s, lo, up


def _risk_objective(x, eta, h, w, s):
    held = s - np.cumsum(x)
    return float(np.sum(eta * x**2 + h * x) + np.sum(w * held**2))


def _dense_reference(eta, h, w, s, lo, up):
    n = eta.size
    tail = np.cumsum(w[::-1])[::-1]
    idx = np.arange(n)
    hess = 2 * np.diag(eta) + 2 * tail[np.maximum(idx[:, None], idx[None, :])]
    x0 = project_capped_simplex(np.full(n, s / n), s, lo, up)[0]
    x, _, ok = solve_box_qp(hess, h - 2 * s * tail, s, lo, up, x0)
    assert ok
    return x


def _cvxpy_objective(eta, h, w, s, lo, up):
    cp = pytest.importorskip("cvxpy")
    var = cp.Variable(eta.size)
    held = s - cp.cumsum(var)
    cons = [cp.sum(var) == s, var >= lo]
    fin = np.isfinite(up)
    if fin.any():
        cons.append(var[np.flatnonzero(fin)] <= up[fin])
    prob = cp.Problem(cp.Minimize(eta @ cp.square(var) + h @ var + w @ cp.square(held)), cons)
    prob.solve(solver=cp.CLARABEL)
    assert prob.status == "optimal"
    ref = np.clip(var.value, lo, up)
    ref *= s / ref.sum()
    return _risk_objective(ref, eta, h, w, s)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=hst.integers(0, 2**32 - 1), n=hst.integers(2, 40))
def test_risk_qp_matches_cvxpy_and_dense(seed, n):
    rng = np.random.default_rng(seed)
    eta, h, w, s, lo, up = _risk_problem(rng, n)
    x, _, ok = solve_risk_qp(eta, h, w, s, lo, up)
    assert ok
    assert x.sum() == pytest.approx(s, rel=1e-12)
    assert np.all(x >= lo) and np.all(x <= up)
    f = _risk_objective(x, eta, h, w, s)
    f_ref = _cvxpy_objective(eta, h, w, s, lo, up)
    assert f <= f_ref * (1 + 1e-9)
    # CLARABEL stops at ~1e-8 relative gap; seen up to 1.2e-7 here (always above ours).
    assert f == pytest.approx(f_ref, rel=1e-6)
    # The dense primal active-set method is exact: agreement to rounding.
    f_dense = _risk_objective(_dense_reference(eta, h, w, s, lo, up), eta, h, w, s)
    assert f == pytest.approx(f_dense, rel=1e-10)


@settings(max_examples=15, deadline=None)
@given(seed=hst.integers(0, 2**32 - 1), n=hst.integers(2, 40))
def test_primal_fallback_matches_dense(seed, n):
    rng = np.random.default_rng(seed)
    eta, h, w, s, lo, up = _risk_problem(rng, n)
    x0 = project_capped_simplex(np.full(n, s / n), s, lo, up)[0]
    x, _, ok = _primal_active_set(x0, eta, h, w, s, lo, up)
    assert ok
    f_dense = _risk_objective(_dense_reference(eta, h, w, s, lo, up), eta, h, w, s)
    assert _risk_objective(x, eta, h, w, s) == pytest.approx(f_dense, rel=1e-10)


def test_strategy_n390_binding_caps():
    rng = np.random.default_rng(4)
    n = 390
    t = np.linspace(-1, 1, n)
    volume = 3e4 * (1 + 2 * t**2) * rng.uniform(0.7, 1.3, n)
    model = LinearImpact(beta=2e-5 / (1 + 2 * t**2) * rng.uniform(0.5, 1.5, n), h=0.01)
    cap = 0.1 * volume
    p = AllocationProblem(model, 0.05 * volume.sum(), upper=cap)
    for lam in (1e-7, 1e-5, 1e-3):
        res = get_strategy("almgren-chriss", risk_aversion=lam, sigma=0.05).solve(p)
        assert res.success
        assert np.sum(res.x >= cap) > 0
        eta, h, w = model.beta, model.h, lam * np.full(n, 0.05**2)
        f = _risk_objective(res.x, eta, h, w, p.total_shares)
        f_ref = _cvxpy_objective(eta, h, w, p.total_shares, p.lower, p.upper)
        assert f <= f_ref * (1 + 1e-9)
        assert f == pytest.approx(f_ref, rel=1e-7)


def test_strategy_takes_sigma_from_the_problem():
    n = 60
    model = LinearImpact(beta=np.full(n, 2e-5), h=np.full(n, 0.01))
    vol = np.full(n, 0.05)
    with_vol = AllocationProblem(model, 20_000.0, price_volatility=vol)
    without = AllocationProblem(model, 20_000.0)
    averse = get_strategy("almgren-chriss", risk_aversion=1e-5)
    from_problem = averse.solve(with_vol)
    explicit = get_strategy("almgren-chriss", risk_aversion=1e-5, sigma=0.05).solve(without)
    np.testing.assert_allclose(from_problem.x, explicit.x, rtol=1e-12)
    # Risk aversion front-loads: more than a TWAP share traded in the first half.
    assert from_problem.x[: n // 2].sum() > 0.55 * 20_000
    neutral = averse.solve(without)
    assert "risk-neutral" in neutral.message
    np.testing.assert_allclose(neutral.x, np.full(n, 20_000 / n), rtol=1e-9)
    with pytest.raises(ValueError, match="price_volatility must have shape"):
        AllocationProblem(model, 20_000.0, price_volatility=np.ones(3))
    with pytest.raises(ValueError, match="price_volatility must be finite and >= 0"):
        AllocationProblem(model, 20_000.0, price_volatility=-vol)


# ----------------------------------------------------------------------------- any model
def _tail(model, probe):
    """(p0, k) of the tail read off marginal_cost far past the visible depth: the reference
    asks the model, so it follows whatever beyond-depth rule the model uses (if affine)."""
    depth = model.sizes.sum(axis=1)
    e1, e2 = depth + probe, depth + 2 * probe
    m1, m2 = model.marginal_cost(e1), model.marginal_cost(e2)
    k = (m2 - m1) / (e2 - e1)
    return m1 - k * (e1 - depth), k


def _cvxpy_book(model, w, s, lo, up):
    cp = pytest.importorskip("cvxpy")
    n, levels = model.offsets.shape
    present = np.isfinite(model.offsets)
    off = np.where(present, model.offsets, 0.0)
    size = np.where(present, model.sizes, 0.0)
    p0, k = _tail(model, s)
    z, e = cp.Variable((n, levels)), cp.Variable(n)
    x = cp.sum(z, axis=1) + e
    held = s - cp.cumsum(x)
    cost = cp.sum(cp.multiply(off, z)) + p0 @ e + 0.5 * cp.sum(cp.multiply(k, cp.square(e)))
    cons = [z >= 0, z <= size, e >= 0, x >= lo, cp.sum(x) == s]
    fin = np.isfinite(up)
    if fin.any():
        cons.append(x[np.flatnonzero(fin)] <= up[fin])
    prob = cp.Problem(cp.Minimize(cost + w @ cp.square(held)), cons)
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert prob.status == "optimal"
    return np.clip(x.value, lo, up)


def _random_book(rng, n, levels):
    half = rng.uniform(0.005, 0.03, n)
    gaps = rng.uniform(0.005, 0.02, (n, levels))
    offsets = half[:, None] + np.cumsum(gaps, axis=1) - gaps[:, :1]
    sizes = rng.uniform(100, 2000, (n, levels))
    # Some intervals show fewer levels (empty levels trail).
    shown = rng.integers(1, levels + 1, n)
    empty = np.arange(levels)[None, :] >= shown[:, None]
    offsets = np.where(empty, np.nan, offsets)
    sizes = np.where(empty, 0.0, sizes)
    return BookImpact(offsets=offsets, sizes=sizes, reference_mid=50.0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=hst.integers(0, 2**32 - 1),
    n=hst.integers(2, 30),
    risk=hst.sampled_from([0.0, 1e-6, 1e-4, 1e-2]),
    capped=hst.booleans(),
)
def test_book_solver_matches_cvxpy(seed, n, risk, capped):
    rng = np.random.default_rng(seed)
    model = _random_book(rng, n, 5)
    depth = model.sizes.sum(axis=1)
    # Uncapped orders reach past the visible depth of some intervals (the tail is used).
    s = float(rng.uniform(0.2, 1.5) * depth.sum() if not capped else 0.5 * depth.sum())
    up = depth if capped else np.full(n, np.inf)
    lo = np.where(rng.uniform(size=n) < 0.2, 0.05 * s / n, 0.0)
    w = risk * rng.uniform(0.01, 0.05, n) ** 2
    x, method, ok = solve_risk(model, w, s, lo, up)
    assert ok and method.startswith("dynamic programming")
    assert x.sum() == pytest.approx(s, rel=1e-12)
    assert np.all(x >= lo - 1e-9 * s) and np.all(x <= up + 1e-9 * s)
    f = float(risk_objective(model, x, s, w))
    f_ref = float(risk_objective(model, _cvxpy_book(model, w, s, lo, up), s, w))
    assert f <= f_ref * (1 + 1e-9)
    assert f == pytest.approx(f_ref, rel=1e-7)
    if risk == 0.0:
        f_exact = float(risk_objective(model, solve_exact(model, s, lo, up), s, w))
        assert f == pytest.approx(f_exact, rel=1e-12)


def _cvxpy_power(model, w, s, lo, up):
    """CVXPY with power cones, in units of the order (u = x / S) and of equal's cost."""
    cp = pytest.importorskip("cvxpy")
    n = model.n_intervals
    scale = float(risk_objective(model, np.full(n, s / n), s, w))
    u = cp.Variable(n)
    a = model.alpha * s ** (1 + model.delta) / scale
    impact = sum(a[t] * cp.power(u[t], 1 + model.delta[t], approx=False) for t in range(n))
    risk = (w * s**2 / scale) @ cp.square(1 - cp.cumsum(u))
    cons = [cp.sum(u) == 1, u >= lo / s]
    fin = np.isfinite(up)
    if fin.any():
        cons.append(u[np.flatnonzero(fin)] <= up[fin] / s)
    prob = cp.Problem(cp.Minimize(impact + (model.h * s / scale) @ u + risk), cons)
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert prob.status == "optimal"
    return np.clip(s * u.value, lo, up)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=hst.integers(0, 2**32 - 1),
    n=hst.integers(2, 30),
    risk=hst.sampled_from([1e-6, 1e-4, 1e-2]),
    per_interval_delta=hst.booleans(),
)
def test_power_solver_matches_cvxpy(seed, n, risk, per_interval_delta):
    rng = np.random.default_rng(seed)
    delta = rng.uniform(0.4, 0.9, n) if per_interval_delta else 0.5
    model = PowerLawImpact(alpha=rng.uniform(2e-4, 8e-4, n), delta=delta, h=rng.uniform(0, 0.02, n))
    s = 5e4
    up = np.where(rng.uniform(size=n) < 0.4, rng.uniform(0.3, 2.0, n) * s / n, np.inf)
    if up.sum() < s:
        up = up * (1.3 * s / up.sum())
    lo = np.zeros(n)
    w = risk * np.full(n, 0.03**2)
    x, method, ok = solve_risk(model, w, s, lo, up)
    assert ok and method.startswith("Newton-SQP")
    assert x.sum() == pytest.approx(s, rel=1e-12)
    assert np.all(x >= lo) and np.all(x <= up + 1e-9 * s)
    f = float(risk_objective(model, x, s, w))
    f_ref = float(risk_objective(model, _cvxpy_power(model, w, s, lo, up), s, w))
    assert f <= f_ref * (1 + 1e-9)
    assert f == pytest.approx(f_ref, rel=1e-7)


def test_urgency_sets_lambda_from_the_equal_schedule():
    n, beta, sigma, s = 390, 2e-5, 0.03, 50_000.0
    model = LinearImpact(beta=np.full(n, beta))
    p = AllocationProblem(model, s, price_volatility=np.full(n, sigma))
    held = s - np.cumsum(np.full(n, s / n))
    e_eq, v_eq = n * beta * (s / n) ** 2, sigma**2 * np.sum(held**2)
    for urgency, strat in ((2.0, get_strategy("almgren-chriss")), (0.5, None)):
        strat = strat or get_strategy("almgren-chriss", urgency=urgency)
        lam = strat.lambda_(p)
        assert lam == pytest.approx(urgency * e_eq / v_eq, rel=1e-12)
        # kappa T ~ sqrt(3 urgency) for a constant linear model: the closed-form trajectory.
        tr = almgren_chriss_trajectory(s, n, n, sigma, beta, 0.0, 0.0, lam)
        assert tr.kappa * n == pytest.approx(np.sqrt(3 * urgency), rel=0.01)
        np.testing.assert_allclose(strat.schedule(p), tr.trades, rtol=1e-8)
    # Scale-free: the same schedule at 100x the price (beta, sigma x100) and in lots of 100.
    scaled = AllocationProblem(
        LinearImpact(beta=np.full(n, 100 * beta)), s, price_volatility=np.full(n, 100 * sigma)
    )
    lots = AllocationProblem(
        LinearImpact(beta=np.full(n, 1e4 * beta)), s / 100, price_volatility=np.full(n, 100 * sigma)
    )
    base = get_strategy("almgren-chriss").schedule(p)
    np.testing.assert_allclose(get_strategy("almgren-chriss").schedule(scaled), base, rtol=1e-9)
    np.testing.assert_allclose(100 * get_strategy("almgren-chriss").schedule(lots), base, rtol=1e-9)


def test_parameter_validation():
    for params in ({"urgency": -1.0}, {"urgency": float("nan")}, {"risk_aversion": np.inf}):
        with pytest.raises(InvalidParameterError, match=next(iter(params))):
            get_strategy("almgren-chriss", **params)
    with pytest.raises(InvalidParameterError, match="urgency must be None when risk_aversion"):
        get_strategy("almgren-chriss", risk_aversion=1e-6, urgency=1.0)
    assert get_strategy("almgren-chriss", urgency=0).urgency == 0.0


def test_never_a_single_block_on_a_book():
    """The failure the linearisation caused: a TWAP-sized slice inside the touch level made
    the model look linear, and the whole order went into the cheapest minute."""
    rng = np.random.default_rng(3)
    n = 60
    model = _random_book(rng, n, 5)
    s = 0.3 * model.sizes.sum()
    p = AllocationProblem(model, s, price_volatility=np.full(n, 0.02))
    res = get_strategy("almgren-chriss").solve(p)
    assert res.success and "dynamic programming" in res.message
    assert res.x.max() <= 0.25 * s
    exact = solve_exact(model, s)
    held = lambda x: s - np.cumsum(x)  # noqa: E731
    # Risk aversion front-loads relative to the model optimum.
    assert held(res.x)[: n // 2].sum() < held(exact)[: n // 2].sum()


@pytest.mark.data
def test_frog_book_model_spreads_and_costs_grow_with_size(shared_data_dir):
    from simulator.daytask import price_volatility
    from simulator.loaders.databento import load_databento_mbp10
    from simulator.market import Market

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loader's data-quality note about the first snapshot
        books = load_databento_mbp10(
            shared_data_dir / "databento_mbp10" / "FROG_2025-04-03_mbp10.csv.gz"
        )
    model = BookImpact.from_snapshots(books, side="buy")
    volume = books.volume.mean(axis=0)
    adv = float(books.volume.sum(axis=1).mean())
    market = Market(books)
    strat = get_strategy("almgren-chriss")
    realised = []
    for fraction in (0.01, 0.05, 0.1):
        s = fraction * adv
        p = AllocationProblem(
            model, s, upper=volume, volume_profile=volume, price_volatility=price_volatility(books)
        )
        res = strat.solve(p)
        assert res.success
        assert res.x.max() <= 0.25 * s
        realised.append(float(market.realize(0, res.x).impact_bps))
    assert realised[0] <= realised[1] <= realised[2]
