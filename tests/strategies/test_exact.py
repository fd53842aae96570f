import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from models import (
    BookImpact,
    InfeasibleProblemError,
    InvalidParameterError,
    LinearImpact,
    PowerLawImpact,
)
from strategies import (
    AllocationProblem,
    get_strategy,
    solve_cvxpy,
    solve_exact,
    solve_exact_batch,
)
from strategies.exact import waterfill_piecewise_linear

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _bounds(rng, n, s, bind):
    if not bind:
        return None, None
    up = rng.uniform(0.5, 3.0, n) * s / n
    up = np.where(rng.uniform(size=n) < 0.3, np.inf, up)
    lo = np.where(rng.uniform(size=n) < 0.2, 0.3 * s / n, 0.0)
    lo = np.minimum(lo, np.where(np.isfinite(up), up, lo))
    if np.sum(up) < s:
        up = up * (1.2 * s / np.sum(up))
    return lo, up


def _kkt_gap(model, x, lo, up):
    """Max violation of the KKT conditions, relative to the multiplier."""
    mc = model.marginal_cost(x)
    tol = 1e-9 * max(1.0, x.max())
    free = (x > lo + tol) & (x < up - tol)
    lam = np.median(mc[free])
    gap = np.abs(mc[free] - lam).max()
    at_lo = (x <= lo + tol) & ~free
    at_up = (x >= up - tol) & ~free
    if at_lo.any():
        gap = max(gap, np.maximum(lam - mc[at_lo], 0).max())
    if at_up.any():
        gap = max(gap, np.maximum(mc[at_up] - lam, 0).max())
    return gap / lam


@settings(max_examples=40, **SETTINGS)
@given(
    seed=hst.integers(0, 2**32 - 1),
    n=hst.integers(2, 390),
    bind=hst.booleans(),
    kind=hst.sampled_from(["linear", "power", "power-vec"]),
    with_h=hst.booleans(),
)
def test_exact_vs_analytical(seed, n, bind, kind, with_h):
    rng = np.random.default_rng(seed)
    s = float(rng.uniform(1e3, 1e6))
    h = rng.uniform(0, 0.02, n) if with_h else 0.0
    if kind == "linear":
        model = LinearImpact(beta=rng.uniform(1e-7, 1e-5, n), h=h)
    else:
        delta = 0.5 if kind == "power" else rng.uniform(0.3, 1.5, n)
        model = PowerLawImpact(alpha=rng.uniform(1e-4, 1e-2, n), delta=delta, h=h)
    lo, up = _bounds(rng, n, s, bind)
    p = AllocationProblem(model, s, lower=lo, upper=up)
    x = solve_exact(model, s, p.lower, p.upper)
    assert abs(x.sum() - s) <= 1e-12 * s
    assert np.all(x >= p.lower) and np.all(x <= p.upper)
    ana = get_strategy("analytical").solve(p)
    assert ana.objective == pytest.approx(p.objective(x), rel=1e-9)
    # Independent reference: the KKT conditions of the problem itself.
    assert _kkt_gap(model, x, p.lower, p.upper) < 1e-8


def test_closed_forms_match_exact_unbounded():
    rng = np.random.default_rng(3)
    beta = rng.uniform(1e-6, 1e-5, 390)
    p = AllocationProblem(LinearImpact(beta=beta), 1e5)
    ana = get_strategy("analytical").solve(p)
    assert ana.message == "closed form"
    np.testing.assert_allclose(ana.x, 1e5 * (1 / beta) / np.sum(1 / beta), rtol=1e-12)
    np.testing.assert_allclose(solve_exact(p.model, 1e5), ana.x, rtol=1e-10)
    alpha = rng.uniform(1e-4, 1e-3, 390)
    p = AllocationProblem(PowerLawImpact(alpha=alpha, delta=0.6), 1e5)
    ana = get_strategy("analytical").solve(p)
    w = alpha ** (-1 / 0.6)
    np.testing.assert_allclose(ana.x, 1e5 * w / w.sum(), rtol=1e-10)
    np.testing.assert_allclose(solve_exact(p.model, 1e5), ana.x, rtol=1e-10)


@settings(max_examples=12, **SETTINGS)
@given(
    seed=hst.integers(0, 2**32 - 1),
    n=hst.integers(2, 60),
    kind=hst.sampled_from(["linear", "power"]),
)
def test_exact_vs_cvxpy(seed, n, kind):
    rng = np.random.default_rng(seed)
    s = float(rng.uniform(1e3, 1e5))
    h = rng.uniform(0, 0.02, n)
    if kind == "linear":
        model = LinearImpact(beta=rng.uniform(1e-6, 1e-5, n), h=h)
        rtol = 1e-7
    else:
        model = PowerLawImpact(
            alpha=rng.uniform(1e-4, 1e-3, n), delta=rng.choice([0.5, 0.7], n), h=h
        )
        rtol = 1e-5
    lo, up = _bounds(rng, n, s, True)
    p = AllocationProblem(model, s, lower=lo, upper=up)
    x = solve_exact(model, s, p.lower, p.upper)
    ref = solve_cvxpy(p)
    assert ref.success, ref.message
    assert p.objective(x) <= ref.objective * (1 + 1e-9)
    assert p.objective(x) == pytest.approx(ref.objective, rel=rtol)


def _greedy_book(model, s, lo, up):
    """Brute force: buy one share at a time where the next share is cheapest."""
    x = lo.astype(float).copy()
    for _ in range(int(s - lo.sum())):
        nxt = model.cost(x + 1) - model.cost(x)
        nxt = np.where(x + 1 <= up, nxt, np.inf)
        x[int(np.argmin(nxt))] += 1
    return x


def _random_book(rng, n, levels, mid=20.0):
    offsets = np.cumsum(rng.integers(1, 4, (n, levels)), axis=1) * 0.01
    sizes = rng.integers(1, 6, (n, levels)).astype(float)
    shown = rng.integers(1, levels + 1, n)
    empty = np.arange(levels)[None, :] >= shown[:, None]
    offsets[empty], sizes[empty] = np.nan, 0.0
    return BookImpact(
        offsets=offsets,
        sizes=sizes,
        reference_mid=np.full(n, mid),
        beyond_depth_bps=float(rng.choice([0.0, 25.0, 400.0])),
    )


@settings(max_examples=25, **SETTINGS)
@given(seed=hst.integers(0, 2**32 - 1))
def test_book_vs_greedy_within_visible_depth(seed):
    # Inside the visible depth the cost is piecewise linear with integer breakpoints, so
    # taking whole shares greedily is optimal.
    rng = np.random.default_rng(seed)
    n, levels = int(rng.integers(2, 5)), 3
    model = _random_book(rng, n, levels)
    up = np.minimum(rng.integers(1, 20, n).astype(float), model.visible_depth)
    s = float(rng.integers(1, int(up.sum()) + 1))
    lo = np.minimum(rng.integers(0, 2, n).astype(float), up)
    if lo.sum() > s:
        lo[:] = 0
    x = solve_exact(model, s, lo, up)
    ref = _greedy_book(model, s, lo, up)
    assert x.sum() == pytest.approx(s, rel=1e-12)
    assert np.all(x >= lo) and np.all(x <= up)
    assert float(model.total_cost(x)) == pytest.approx(float(model.total_cost(ref)), rel=1e-12)


@settings(max_examples=40, **SETTINGS)
@given(seed=hst.integers(0, 2**32 - 1))
def test_book_tail_vs_brute_force(seed):
    # Two intervals: the cost of x_0 = S - x_1 is convex in one variable, so a dense grid
    # over the feasible segment brackets the optimum; orders run deep into the tails.
    rng = np.random.default_rng(seed)
    model = _random_book(rng, 2, int(rng.integers(1, 4)))
    depth = model.visible_depth
    s = float(rng.uniform(0.5, 6.0) * depth.sum())
    up = np.where(rng.uniform(size=2) < 0.5, np.inf, rng.uniform(0.3, 1.5, 2) * s)
    if up.sum() < s:
        up = np.full(2, np.inf)
    lo = np.minimum(np.where(rng.uniform(size=2) < 0.3, rng.uniform(0, 0.4, 2) * s, 0.0), up)
    x = solve_exact(model, s, lo, up)
    assert x.sum() == pytest.approx(s, rel=1e-12)
    assert np.all(x >= lo) and np.all(x <= up)
    a, b = max(lo[0], s - up[1]), min(up[0], s - lo[1])
    grid = np.linspace(a, b, 200_001)
    cand = np.stack([grid, s - grid], axis=1)
    costs = model.total_cost(cand)
    best = costs.min()
    f = float(model.total_cost(x))
    # Optimal: never above any grid point (the optimum need not be unique: equal prices).
    assert f <= best * (1 + 1e-12)
    # KKT with the tail: equal marginal costs where both intervals are free.
    free = (x > lo + 1e-9 * s) & (x < up - 1e-9 * s)
    if free.all() and np.all(x > depth):
        mc = model.marginal_cost(x)
        assert mc[0] == pytest.approx(mc[1], rel=1e-9)


def _cvxpy_book_reference(model, s, lo, up):
    """Independent CVXPY formulation: max of the level lines plus the quadratic tail."""
    import cvxpy as cp

    n = model.n_intervals
    off = np.where(np.isfinite(model.offsets), model.offsets, 0.0)
    sz = model.sizes
    start = np.cumsum(sz, axis=1) - sz
    cost_start = np.cumsum(sz * off, axis=1) - sz * off
    x = cp.Variable(n)
    t = cp.Variable(n)
    cons = [cp.sum(x) == s, x >= lo, x <= up]
    for lvl in range(model.n_levels):
        shown = np.isfinite(model.offsets[:, lvl])
        idx = np.flatnonzero(shown)
        # Level line: cost at the level's start plus its offset per share beyond it.
        line = cost_start[idx, lvl] + cp.multiply(off[idx, lvl], x[idx] - start[idx, lvl])
        cons.append(t[idx] >= line)
    tail = 0.5 * model.tail_slope @ cp.square(cp.pos(x - model.visible_depth))
    prob = cp.Problem(cp.Minimize(cp.sum(t) + tail), cons)
    prob.solve(solver=cp.CLARABEL)
    return np.clip(x.value, lo, up), prob.value


def test_book_vs_cvxpy_with_tails():
    rng = np.random.default_rng(5)
    n, levels = 30, 5
    offsets = 0.01 + np.cumsum(rng.uniform(0.005, 0.02, (n, levels)), axis=1)
    offsets[3, 3:] = np.nan
    offsets[7, 1:] = np.nan  # one-level book: the floor sets its tail
    sizes = rng.uniform(100, 900, (n, levels))
    sizes[~np.isfinite(offsets)] = 0.0
    model = BookImpact(offsets=offsets, sizes=sizes, reference_mid=np.full(n, 40.0))
    for total in (60_000.0, 250_000.0):  # inside the books, then deep into the tails
        up = rng.uniform(1000, 20_000, n)
        x = solve_exact(model, total, None, up)
        ref_x, ref_obj = _cvxpy_book_reference(model, total, np.zeros(n), up)
        f = float(model.total_cost(x))
        assert f == pytest.approx(ref_obj, rel=1e-6)
        assert f <= float(model.total_cost(ref_x)) * (1 + 1e-9)
        if total > model.visible_depth.sum():
            assert np.any(x > model.visible_depth + 1.0)


def test_book_batch_with_tails_matches_single():
    rng = np.random.default_rng(8)
    n = 40
    books = [_random_book(rng, n, 4, mid=30.0) for _ in range(3)]
    sizes = np.array([20.0, 400.0, 3000.0])
    got = solve_exact_batch(books, sizes)
    for i, m in enumerate(books):
        np.testing.assert_allclose(got[i], solve_exact(m, sizes[i]), rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(got[i].sum(), sizes[i], rtol=1e-13)


def test_batch_matches_single_and_days():
    rng = np.random.default_rng(9)
    n = 50
    days = [LinearImpact(beta=rng.uniform(1e-6, 1e-5, n), h=0.01) for _ in range(4)]
    sizes = np.array([1e3, 5e3, 2e4, 4e4])
    up = np.full(n, 1000.0)
    batch = solve_exact_batch(days, sizes, upper=up)
    for i, m in enumerate(days):
        np.testing.assert_allclose(batch[i], solve_exact(m, sizes[i], upper=up), rtol=1e-12)
    many = solve_exact_batch(days[0], sizes)
    assert many.shape == (4, n)
    np.testing.assert_allclose(many.sum(axis=1), sizes, rtol=1e-13)
    pw = [PowerLawImpact(alpha=rng.uniform(1e-4, 1e-3, n), delta=0.5, h=0.01) for _ in range(3)]
    got = solve_exact_batch(pw, 1e4, upper=up)
    for i, m in enumerate(pw):
        np.testing.assert_allclose(got[i], solve_exact(m, 1e4, upper=up), rtol=1e-9)


def test_batch_infeasible_row_named():
    m = LinearImpact(beta=np.full(3, 1e-6))
    with pytest.raises(InfeasibleProblemError, match="row 1.*shortfall 100"):
        solve_exact_batch(m, [100.0, 400.0], upper=np.full(3, 100.0))


def _pl_problem(rng, b, n):
    """Random rows of x = clip(k (mu - m), lo, up) with lower and upper bounds that bind."""
    k = rng.uniform(0.5, 2.0, (b, n)) * 10 ** rng.uniform(3, 6, (b, 1))
    m = rng.uniform(0, 0.02, (b, n)) * rng.integers(0, 2, (b, 1))  # h >= 0, sometimes 0
    s = rng.uniform(1e3, 1e6, b)
    up = rng.uniform(0.3, 3.0, (b, n)) * (s / n)[:, None]
    up = np.where(rng.uniform(size=(b, n)) < 0.2, np.inf, up)
    lo = np.where(rng.uniform(size=(b, n)) < 0.3, rng.uniform(0.1, 1.5, (b, n)), 0.0)
    lo = np.minimum(lo * (s / n)[:, None], up)
    lo *= np.minimum(1.0, 0.9 * s / np.maximum(lo.sum(axis=1), 1e-300))[:, None]
    short = up.sum(axis=1) < s
    up[short] *= (1.2 * s[short] / up[short].sum(axis=1))[:, None]
    return k, m, s, lo, up


@settings(max_examples=60, **SETTINGS)
@given(seed=hst.integers(0, 2**32 - 1), n=hst.integers(1, 390), b=hst.sampled_from([1, 2, 7]))
def test_fixing_equals_breakpoints(seed, n, b):
    rng = np.random.default_rng(seed)
    k, m, s, lo, up = _pl_problem(rng, b, n)
    fast = waterfill_piecewise_linear(k, m, s, lo, up)
    ref = waterfill_piecewise_linear(k, m, s, lo, up, method="breakpoints")
    scale = np.maximum(np.abs(ref).max(axis=1, keepdims=True), 1e-300)
    assert np.all(np.abs(fast - ref) <= 1e-12 * scale)
    np.testing.assert_allclose(fast.sum(axis=1), s, rtol=1e-12)
    assert np.all(fast >= lo) and np.all(fast <= up)
    # The single-problem fast path of solve_exact (linear model: k = 1/(2 beta), m = h).
    model = LinearImpact(beta=0.5 / k[0], h=m[0])
    x = solve_exact(model, s[0], lo[0], up[0])
    assert np.all(np.abs(x - ref[0]) <= 1e-12 * scale[0])
    np.testing.assert_array_equal(x, solve_exact(model, s[0], lo[0], up[0], validate=False))


@settings(max_examples=30, **SETTINGS)
@given(seed=hst.integers(0, 2**32 - 1), n=hst.integers(2, 390))
def test_power_fast_path_equals_breakpoints(seed, n):
    rng = np.random.default_rng(seed)
    k, _, s, lo, up = _pl_problem(rng, 1, n)
    delta = float(rng.uniform(0.2, 1.5))
    alpha = rng.uniform(1e-4, 1e-2, n)
    model = PowerLawImpact(alpha=alpha, delta=delta)
    x = solve_exact(model, s[0], lo[0], up[0])
    ref = waterfill_piecewise_linear(
        (alpha * (1 + delta)) ** (-1 / delta), np.zeros(n), s, lo, up, method="breakpoints"
    )[0]
    assert np.all(np.abs(x - ref) <= 1e-12 * np.abs(ref).max())
    assert x.sum() == pytest.approx(s[0], rel=1e-12)


def test_fixing_pass_cap_falls_back_to_breakpoints(monkeypatch):
    import strategies.exact as exact_mod

    rng = np.random.default_rng(11)
    k, m, s, lo, up = _pl_problem(rng, 5, 200)
    ref = waterfill_piecewise_linear(k, m, s, lo, up, method="breakpoints")
    monkeypatch.setattr(exact_mod, "_MAX_FIXING_PASSES", 1)
    got = waterfill_piecewise_linear(k, m, s, lo, up)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-9)
    model = LinearImpact(beta=0.5 / k[0], h=m[0])
    np.testing.assert_allclose(solve_exact(model, s[0], lo[0], up[0]), ref[0], rtol=1e-12)


def test_single_problem_validation():
    model = LinearImpact(beta=np.full(3, 1e-6), h=0.01)
    with pytest.raises(InfeasibleProblemError, match="shortfall 100 shares"):
        solve_exact(model, 400.0, upper=np.full(3, 100.0))
    with pytest.raises(InfeasibleProblemError, match="excess 50 shares"):
        solve_exact(model, 100.0, lower=np.full(3, 50.0))
    with pytest.raises(InvalidParameterError, match="total_shares"):
        solve_exact(model, -1.0)
    with pytest.raises(InvalidParameterError, match="upper must have shape"):
        solve_exact(model, 1.0, upper=np.ones(4))
    with pytest.raises(InvalidParameterError, match="lower <= upper"):
        solve_exact(model, 1.0, upper=np.array([1.0, np.nan, 1.0]))
    with pytest.raises(InvalidParameterError, match="lower <= upper"):
        solve_exact(model, 1.0, lower=np.array([-1.0, 0.0, 0.0]))
    with pytest.raises(InvalidParameterError, match="method"):
        waterfill_piecewise_linear(np.ones(3), np.zeros(3), 1.0, method="sort")


def test_power_newton_converges_fast_on_extreme_exponents(monkeypatch):
    # Fitted models can put delta at its bounds: totals then grow like lambda^(1/0.05), where a
    # plain Newton step shrinks lambda by ~5% (it used to run out of its 200 iterations).
    import strategies.exact as exact

    rng = np.random.default_rng(3)
    n = 390
    delta = rng.choice([0.05, 0.7, 3.0], n)
    alpha = np.where(delta == 3.0, 3e-13, rng.uniform(1e-5, 1e-4, n))
    model = PowerLawImpact(alpha=alpha, delta=delta, h=rng.uniform(0.03, 0.06, n))
    calls = []
    real = exact._power_inverse
    monkeypatch.setattr(exact, "_power_inverse", lambda *a: calls.append(1) or real(*a))
    for upper in (None, rng.uniform(200, 900, n)):
        up = np.full(n, np.inf) if upper is None else upper
        # The single-problem path (1-D Newton) and the batch path (vectorised Newton).
        x1, n_eval = exact._power_1d(alpha, delta, model.h, 100_000.0, np.zeros(n), up)
        assert n_eval < 40
        calls.clear()
        xb = solve_exact_batch(model, [100_000.0, 100_000.0], upper=upper)
        assert 0 < len(calls) < 40
        np.testing.assert_allclose(xb[0], x1, rtol=1e-9, atol=1e-9)
        x = solve_exact(model, 100_000.0, upper=upper)
        np.testing.assert_array_equal(x, x1)
        assert x.sum() == pytest.approx(100_000.0, rel=1e-14)
        free = (x > 1e-9) & (x < up - 1e-9)
        mc = model.marginal_cost(x)
        # KKT: one multiplier on the free intervals, no cheaper capacity left elsewhere.
        lam = np.median(mc[free])
        assert np.allclose(mc[free], lam, rtol=1e-9)
        assert np.all(mc[x <= 1e-9] >= lam * (1 - 1e-9))
        assert np.all(mc[x >= up - 1e-9] <= lam * (1 + 1e-9))


@settings(max_examples=60, **SETTINGS)
@given(
    seed=hst.integers(0, 2**32 - 1),
    n=hst.integers(1, 390),
    one_delta=hst.booleans(),
    bind=hst.booleans(),
)
def test_power_single_path_equals_batch_path(seed, n, one_delta, bind):
    # Two independent implementations of the same KKT solve (1-D loop and vectorised batch).
    rng = np.random.default_rng(seed)
    s = float(rng.uniform(1e3, 1e6))
    delta = 0.5 if one_delta else rng.uniform(0.2, 2.0, n)
    model = PowerLawImpact(
        alpha=rng.uniform(1e-5, 1e-2, n), delta=delta, h=rng.uniform(0.001, 0.03, n)
    )
    lo, up = _bounds(rng, n, s, bind)
    x = solve_exact(model, s, lo, up)
    ref = solve_exact_batch(model, s, lo, up)[0]
    assert x.sum() == pytest.approx(s, rel=1e-13)
    lo_ = np.zeros(n) if lo is None else lo
    up_ = np.full(n, np.inf) if up is None else up
    assert np.all(x >= lo_) and np.all(x <= up_)
    np.testing.assert_allclose(x, ref, rtol=1e-8, atol=1e-9 * s)


def test_power_tiny_exponent_over_many_decades_of_alpha():
    # (alpha / min alpha)^(-1/delta) spans hundreds of decades at delta = 0.05: the closed
    # form loses the total there, and both paths fall back to Newton (found by a stress run).
    rng = np.random.default_rng(845)
    n = 130
    alpha = 10 ** rng.uniform(-12, -1, n)
    model = PowerLawImpact(alpha=alpha, delta=0.0516)
    s = 8124.8
    up = rng.uniform(0.3, 3, n) * s / n
    up *= max(1.0, 1.2 * s / up.sum())
    x = solve_exact(model, s, upper=up)
    xb = solve_exact_batch(model, s, upper=up)[0]
    assert x.sum() == pytest.approx(s, rel=1e-12) and xb.sum() == pytest.approx(s, rel=1e-12)
    assert np.all(x <= up)
    np.testing.assert_allclose(x, xb, rtol=1e-8, atol=1e-9 * s)
    assert _kkt_gap(model, x, np.zeros(n), up) < 1e-8
