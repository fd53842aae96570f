import numpy as np
import pytest

from models import InvalidParameterError, LinearImpact
from strategies import AllocationProblem, almgren_chriss_trajectory, get_strategy, solve_exact

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
