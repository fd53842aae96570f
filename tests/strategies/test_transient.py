import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from models import BookImpact, BookSnapshots, InvalidParameterError, LinearImpact
from simulator.market import Market
from strategies import AllocationProblem, SolverError, get_strategy
from strategies.testing import check_strategy
from strategies.transient import (
    TransientOptimalStrategy,
    depletion,
    ow_schedule,
    recovery_factor,
    solve_transient_qp,
    transient_cost,
    transient_hessian_weights,
)


def _kernel(n, r):
    t = np.arange(n)
    return r ** np.abs(t[:, None] - t[None, :])


def _cost_matrix(beta, r):
    """Symmetric P with x'Px = sum_t beta_t (x_t^2 + 2 D_t x_t), built from the market's
    definition D_t = sum_{s<t} r^(t-s) x_s (independent of the solver's telescoping)."""
    n = beta.size
    t = np.arange(n)
    lag = t[:, None] - t[None, :]
    carry = np.where(lag > 0, r ** np.maximum(lag, 0), 0.0)
    q = beta[:, None] * (np.eye(n) + 2 * carry)
    return 0.5 * (q + q.T)


def _direct_cost(beta, h, x, r):
    """Loop over intervals, exactly as the issue states it (no vectorisation)."""
    d, total = 0.0, 0.0
    for t in range(x.size):
        total += h[t] * x[t] + beta[t] * (x[t] ** 2 + 2 * d * x[t])
        d = r * (d + x[t])
    return total


# ----------------------------------------------------------------------------- OW closed form
@pytest.mark.parametrize(
    "n, half_life", [(1, 3.0), (2, 1.0), (3, 0.5), (10, 3.0), (60, 10.0), (390, 5.0), (50, 0.0)]
)
def test_ow_schedule_closed_form_and_dense_qp(n, half_life):
    s = 12_345.0
    x = ow_schedule(s, n, half_life)
    r = 0.0 if half_life == 0 else 2 ** (-1 / half_life)
    assert recovery_factor(half_life) == r
    # Closed form by hand: ends S / (2 + (N - 2)(1 - r)), interior (1 - r) times that.
    if n == 1:
        np.testing.assert_array_equal(x, [s])
    else:
        end = s / (2 + (n - 2) * (1 - r))
        np.testing.assert_allclose(x[[0, -1]], end, rtol=1e-12)
        np.testing.assert_allclose(x[1:-1], (1 - r) * end, rtol=1e-12)
    # Dense QP: min x'Mx s.t. sum x = S via the KKT system [2M -1; 1' 0].
    m = _kernel(n, r)
    kkt = np.block([[2 * m, -np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
    ref = np.linalg.solve(kkt, np.concatenate([np.zeros(n), [s]]))[:n]
    np.testing.assert_allclose(x, ref, rtol=1e-9, atol=1e-9 * s)
    assert x.sum() == pytest.approx(s, rel=1e-12)


def test_ow_schedule_limits_and_validation():
    np.testing.assert_allclose(ow_schedule(100.0, 5, 0.0), 20.0)
    np.testing.assert_allclose(ow_schedule(100.0, 5, np.inf), [50, 0, 0, 0, 50])
    with pytest.raises(InvalidParameterError, match="half_life"):
        ow_schedule(100.0, 5, -1.0)
    with pytest.raises(InvalidParameterError, match="total_shares"):
        ow_schedule(0.0, 5, 1.0)
    with pytest.raises(InvalidParameterError, match="n_intervals"):
        ow_schedule(10.0, 0, 1.0)


# ----------------------------------------------------------------------------- cost function
def test_transient_cost_matches_definitions():
    rng = np.random.default_rng(0)
    n = 25
    beta = rng.uniform(1e-6, 5e-6, n)
    h = rng.uniform(0, 0.02, n)
    model = LinearImpact(beta=beta, h=h)
    x = rng.uniform(0, 500, (3, 4, n))
    for half_life in (0.0, 0.7, 4.0, np.inf):
        r = recovery_factor(half_life)
        got = transient_cost(model, x, half_life)
        assert got.shape == (3, 4)
        direct = np.array([_direct_cost(beta, h, xi, r) for xi in x.reshape(-1, n)])
        np.testing.assert_allclose(got.ravel(), direct, rtol=1e-12)
        quad = np.einsum("...i,ij,...j->...", x, _cost_matrix(beta, r), x) + x @ h
        np.testing.assert_allclose(got, quad, rtol=1e-12)
    # Depletion state: D_1 = 0, D_t = r (D_{t-1} + x_{t-1}).
    d = depletion(x[0, 0], 2.0)
    r = recovery_factor(2.0)
    assert d[0] == 0 and d[3] == pytest.approx(r * (d[2] + x[0, 0, 2]), rel=1e-14)
    # Convex exactly when every c_t = beta_t - r^2 beta_{t+1} > 0: P is congruent to diag(c).
    c = transient_hessian_weights(beta, 2.0)
    eig = np.linalg.eigvalsh(_cost_matrix(beta, r))
    assert np.sum(eig < 0) == np.sum(c < 0) > 0


# ----------------------------------------------------------------------------- exact solver
def test_strategy_reproduces_ow_schedule():
    for n, half_life in ((390, 5.0), (60, 10.0), (2, 3.0), (1560, 0.8)):
        model = LinearImpact(beta=np.full(n, 3e-5))
        p = AllocationProblem(model, 50_000.0)
        res = get_strategy("transient-optimal", half_life=half_life).solve(p)
        assert res.success and res.message.startswith("exact")
        np.testing.assert_allclose(res.x, ow_schedule(50_000.0, n, half_life), rtol=1e-9)
        assert res.objective == pytest.approx(
            float(transient_cost(model, res.x, half_life)), rel=1e-12
        )


def _random_problem(rng, n, log_sd, capped=True):
    s = float(rng.uniform(1e3, 1e5))
    t = np.linspace(-1, 1, n)
    beta = 1e-5 / (1 + t**2) * np.exp(rng.normal(0, log_sd, n))
    h = rng.uniform(0.0, 0.02, n) * rng.integers(0, 2)
    up = np.full(n, np.inf)
    lo = np.zeros(n)
    if capped:
        up = np.where(rng.uniform(size=n) < 0.5, rng.uniform(0.3, 2.0, n) * s / n, np.inf)
        lo = np.where(rng.uniform(size=n) < 0.2, 0.3 * s / n, 0.0)
        lo = np.minimum(lo, up)
        if up.sum() < s:
            up = up * (1.3 * s / up.sum())
    return beta, h, s, lo, up


def _cvxpy_reference(beta, h, half_life, s, lo, up):
    cp = pytest.importorskip("cvxpy")
    n = beta.size
    var = cp.Variable(n)
    cons = [cp.sum(var) == s, var >= lo]
    fin = np.isfinite(up)
    if fin.any():
        cons.append(var[np.flatnonzero(fin)] <= up[fin])
    p_mat = _cost_matrix(beta, recovery_factor(half_life))
    prob = cp.Problem(cp.Minimize(cp.quad_form(var, cp.psd_wrap(p_mat)) + h @ var), cons)
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert prob.status == "optimal"
    x = np.clip(var.value, lo, up)
    return x, float(x @ p_mat @ x + h @ x)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=hst.integers(0, 2**32 - 1),
    n=hst.integers(2, 80),
    half_life=hst.sampled_from([0.5, 2.0, 5.0, 10.0]),
)
def test_agrees_with_cvxpy_with_caps_and_varying_depth(seed, n, half_life):
    rng = np.random.default_rng(seed)
    beta, h, s, lo, up = _random_problem(rng, n, 0.0)
    # Depth varies from minute to minute as a random walk, thinning by at most half of what
    # convexity allows (beta_{t+1} < beta_t / r^2) and by at most 30% a minute.
    step = min(0.3, -np.log(recovery_factor(half_life)))
    beta = 1e-5 * np.exp(np.cumsum(rng.uniform(-step, step, n)))
    out = solve_transient_qp(beta, h, half_life, s, lo, up)
    assert out.convex and out.converged
    x_ref, f_ref = _cvxpy_reference(beta, h, half_life, s, lo, up)
    f = _direct_cost(beta, h, out.x, recovery_factor(half_life))
    assert f == pytest.approx(out.objective, rel=1e-10)
    # Ours is exact: never above CLARABEL's answer, and within 1e-7 relative of it.
    assert f <= f_ref * (1 + 1e-9)
    assert f == pytest.approx(f_ref, rel=1e-7)
    np.testing.assert_allclose(out.x, x_ref, atol=1e-4 * s)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=hst.integers(0, 2**32 - 1),
    n=hst.integers(1, 60),
    half_life=hst.sampled_from([0.0, 0.3, 2.0, 5.0, 30.0, np.inf]),
    log_sd=hst.sampled_from([0.0, 0.05, 0.5]),
    capped=hst.booleans(),
)
def test_invariants(seed, n, half_life, log_sd, capped):
    rng = np.random.default_rng(seed)
    beta, h, s, lo, up = _random_problem(rng, n, log_sd, capped)
    model = LinearImpact(beta=beta, h=h)
    p = AllocationProblem(model, s, lower=lo, upper=up)
    strat = TransientOptimalStrategy(half_life=half_life)
    res = strat.solve(p)
    assert res.success
    x = res.x
    assert x.shape == (n,)
    assert x.sum() == pytest.approx(s, rel=1e-9)
    assert np.all(x >= lo - 1e-9 * s) and np.all(x <= up + 1e-9 * s)
    equal = get_strategy("equal").schedule(p)
    f, f_eq = transient_cost(model, np.stack([x, equal]), half_life)
    assert f <= f_eq * (1 + 1e-9) + 1e-12
    assert res.objective == pytest.approx(float(f), rel=1e-9)


def _global_minimum(beta, h, half_life, s, lo, up):
    """Brute force over all 3^N active sets of the KKT systems (non-convex QPs, small N)."""
    n = beta.size
    p_mat = _cost_matrix(beta, recovery_factor(half_life))
    best = np.inf
    for state in itertools.product((0, 1, 2), repeat=n):
        state = np.array(state)
        if np.any((state == 2) & ~np.isfinite(up)):
            continue
        b = np.where(state == 1, lo, np.where(state == 2, up, 0.0))
        fixed = state > 0
        free = np.flatnonzero(~fixed)
        x = b.copy()
        if free.size:
            m = free.size
            kkt = np.zeros((m + 1, m + 1))
            kkt[:m, :m] = 2 * p_mat[np.ix_(free, free)]
            kkt[:m, m], kkt[m, :m] = -1.0, 1.0
            rhs = np.concatenate(
                [-(h[free] + 2 * p_mat[free][:, fixed] @ b[fixed]), [s - b[fixed].sum()]]
            )
            try:
                x[free] = np.linalg.solve(kkt, rhs)[:m]
            except np.linalg.LinAlgError:
                continue
        if abs(x.sum() - s) > 1e-9 * s or np.any(x < lo - 1e-9 * s) or np.any(x > up + 1e-9 * s):
            continue
        best = min(best, float(x @ p_mat @ x + h @ x))
    return best


def test_nonconvex_local_solution_matches_brute_force_on_small_problems():
    rng = np.random.default_rng(7)
    n_nonconvex = 0
    for _ in range(40):
        n = int(rng.integers(3, 7))
        half_life = float(rng.choice([5.0, 30.0, np.inf]))
        s = 1e3
        beta = 1e-5 * np.exp(rng.normal(0, 1.0, n))
        h = rng.uniform(0, 0.02, n) * rng.integers(0, 2)
        up = np.where(rng.uniform(size=n) < 0.4, rng.uniform(0.3, 2, n) * s / n, np.inf)
        if up.sum() < s:
            up = up * (1.3 * s / up.sum())
        lo = np.zeros(n)
        out = solve_transient_qp(beta, h, half_life, s, lo, up)
        f_global = _global_minimum(beta, h, half_life, s, lo, up)
        assert out.objective >= f_global - 1e-9 * abs(f_global)
        assert out.objective == pytest.approx(f_global, rel=1e-7)
        n_nonconvex += not out.convex
        if not out.convex:
            assert "not convex" in out.message and "not certified" in out.message
    assert n_nonconvex >= 20


def test_nonconvex_raise_mode_and_message():
    beta = np.array([1e-6, 1e-5, 1e-6, 1e-5])  # depth thins 10x from one minute to the next
    p = AllocationProblem(LinearImpact(beta=beta), 1000.0)
    strat = TransientOptimalStrategy(half_life=5.0, nonconvex="raise")
    with pytest.raises(SolverError, match=r"not convex .* at interval 0"):
        strat.schedule(p)
    res = TransientOptimalStrategy(half_life=5.0).solve(p)
    assert res.success and "not convex" in res.message


# ----------------------------------------------------------------------------- strategy contract
@pytest.mark.parametrize(
    "strategy",
    [
        TransientOptimalStrategy(),
        TransientOptimalStrategy(half_life=5.0),
        TransientOptimalStrategy(half_life=np.inf),
        TransientOptimalStrategy(half_life=2),
    ],
)
def test_contract_checks(strategy):
    assert len(check_strategy(strategy)) == 9


def test_half_life_validation_and_placeholders():
    assert TransientOptimalStrategy(half_life=3).half_life == 3.0
    assert TransientOptimalStrategy(half_life=float("inf")).half_life == np.inf
    for bad in (-0.5, float("nan"), "median", True, None, [1.0]):
        with pytest.raises(InvalidParameterError, match="half_life"):
            get_strategy("transient-optimal", half_life=bad)
    with pytest.raises(InvalidParameterError, match="nonconvex"):
        get_strategy("transient-optimal", nonconvex="ignore")
    p = AllocationProblem(LinearImpact(beta=np.full(10, 1e-5)), 1000.0)
    for placeholder in ("market", "fit"):
        strat = get_strategy("transient-optimal", half_life=placeholder)
        with pytest.raises(InvalidParameterError, match=f"half_life .* got '{placeholder}'"):
            strat.schedule(p)
        resolved = dataclasses.replace(strat, half_life=5.0)
        np.testing.assert_allclose(resolved.schedule(p), ow_schedule(1000.0, 10, 5.0))
    book = BookImpact(
        offsets=np.full((10, 1), 0.01), sizes=np.full((10, 1), 100.0), reference_mid=50.0
    )
    with pytest.raises(InvalidParameterError, match="model kind"):
        TransientOptimalStrategy(half_life=1.0).schedule(AllocationProblem(book, 10.0))


# ----------------------------------------------------------------------------- the market
DENSITY = 10_000.0  # shares per dollar
TICK = 0.01
LOT = DENSITY * TICK  # 100 shares per level
HALF = 0.02  # dollars per share: price of the u-th share is HALF + u / DENSITY


def _flat_books(n, levels=400, mid=50.0):
    """One day of identical block-shaped books: LOT shares every tick, levels priced at the
    middle of their tick so the staircase averages the continuous book exactly."""
    offsets = HALF + (np.arange(levels) + 0.5) * TICK
    shape = (1, n, levels)
    return BookSnapshots(
        bid_px=np.broadcast_to(mid - offsets, shape).copy(),
        bid_sz=np.full(shape, LOT),
        ask_px=np.broadcast_to(mid + offsets, shape).copy(),
        ask_sz=np.full(shape, LOT),
        volume=np.full((1, n), 1e5),
        dates=np.array(["2024-01-02"], dtype="datetime64[D]"),
        interval_starts=np.arange(n) * np.timedelta64(60, "s"),
    )


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_market_realises_the_ow_cost_on_a_flat_book(side):
    n, s, half_life = 60, 30_000.0, 10.0
    books = _flat_books(n)
    market = Market(books, transient_half_life=half_life)
    rng = np.random.default_rng(3)
    random = rng.dirichlet(np.ones(n)) * s
    ow = ow_schedule(s, n, half_life)
    equal = np.full(n, s / n)
    batch = np.stack([equal, ow, random])
    realised = np.asarray(market.realize(0, batch, side=side).total_impact_usd)
    r = recovery_factor(half_life)
    kappa = 1.0 / DENSITY
    formula = HALF * s + 0.5 * kappa * np.einsum("ki,ij,kj->k", batch, _kernel(n, r), batch)
    # Each walk differs from the continuous book by at most TICK * LOT / 8 dollars (the
    # staircase's partial levels at both ends), so N of them by N times that.
    bound = n * TICK * LOT / 8
    assert np.all(np.abs(realised - formula) <= bound)
    assert bound < 1e-3 * formula.min()
    # The OW schedule realises less than equal, by about what the formula predicts.
    assert realised[1] < realised[0] - 10 * bound
    # The planner's transient cost of the equivalent linear model is the same formula, and
    # of the book model itself exactly what the market charges.
    linear = LinearImpact(beta=np.full(n, 0.5 * kappa), h=HALF, side=side)
    np.testing.assert_allclose(transient_cost(linear, batch, half_life), formula, rtol=1e-12)
    book = BookImpact.from_snapshots(books, side=side)
    np.testing.assert_allclose(transient_cost(book, batch, half_life), realised, rtol=1e-10)
    # transient-optimal on the linear model is the OW schedule and beats equal in the market.
    x = TransientOptimalStrategy(half_life=half_life).schedule(
        AllocationProblem(linear, s, side=side)
    )
    np.testing.assert_allclose(x, ow, rtol=1e-9)


def test_market_and_planner_agree_on_a_varying_book():
    """transient_cost of a book model equals the market's charge, depth varying per minute."""
    n = 30
    books = _flat_books(n, levels=300)
    rng = np.random.default_rng(11)
    scale = rng.uniform(0.5, 2.0, n)[None, :, None]
    books = dataclasses.replace(books, ask_sz=books.ask_sz * scale, bid_sz=books.bid_sz * scale)
    x = rng.dirichlet(np.ones(n), size=4) * 20_000
    for half_life in (0.0, 1.5, 10.0):
        realised = Market(books, transient_half_life=half_life).realize(0, x).total_impact_usd
        planner = transient_cost(BookImpact.from_snapshots(books), x, half_life)
        np.testing.assert_allclose(planner, realised, rtol=1e-10)
