import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from models import InvalidParameterError, LinearImpact, PowerLawImpact
from strategies import AllocationProblem, SolverError, get_strategy, solve_exact, solve_slsqp


@settings(max_examples=6, deadline=None)
@given(seed=hst.integers(0, 2**32 - 1), n=hst.integers(3, 30), ftol=hst.sampled_from([1e-6, 1e-10]))
def test_slsqp_converges_within_1e4_of_the_exact_optimum(seed, n, ftol):
    rng = np.random.default_rng(seed)
    s = 1e4
    model = PowerLawImpact(alpha=rng.uniform(1e-4, 1e-3, n), delta=0.5, h=rng.uniform(0, 0.02, n))
    up = rng.uniform(0.5, 2.5, n) * s / n
    up *= max(1.0, 1.1 * s / up.sum())
    p = AllocationProblem(model, s, upper=up)
    res = solve_slsqp(p, ftol=ftol)
    best = p.objective(solve_exact(model, s, upper=up))
    # These smooth, well-scaled problems are within SLSQP's reach: failure is a bug.
    assert res.success, res.message
    assert res.objective == pytest.approx(best, rel=1e-4)
    assert abs(res.x.sum() - s) <= 1e-9 * s
    assert np.all(res.x <= up) and np.all(res.x >= 0)


def test_violation_reported_and_schedule_raises():
    model = LinearImpact(beta=np.linspace(1e-6, 1e-5, 20))
    up = np.full(20, 60.0)
    p = AllocationProblem(model, 1000.0, upper=up)
    strategy = get_strategy("linear-optimal", solver="slsqp", maxiter=1)
    res = strategy.solve(p)
    assert strategy.last_result is res
    # One iteration cannot reach the capped optimum: the failure is reported, not hidden.
    assert not res.success and res.message
    with pytest.raises(SolverError, match="linear-optimal"):
        strategy.schedule(p)


def test_cvxpy_other_solver_and_linear_path():
    rng = np.random.default_rng(2)
    model = LinearImpact(beta=rng.uniform(1e-6, 1e-5, 40), h=0.01)
    p = AllocationProblem(model, 5e3, upper=200.0)
    best = p.objective(solve_exact(model, 5e3, upper=np.full(40, 200.0)))
    for solver in ("CLARABEL", "OSQP"):
        res = get_strategy("linear-optimal", cvxpy_solver=solver).solve(p)
        assert res.success, res.message
        assert res.objective == pytest.approx(best, rel=1e-5)
    res = get_strategy("linear-optimal", solver="slsqp").solve(p)
    assert res.success, res.message
    assert res.objective == pytest.approx(best, rel=1e-4)


def test_nonlinear_exact_path_and_kind_check():
    model = PowerLawImpact(alpha=np.full(5, 1e-3), delta=0.5)
    p = AllocationProblem(model, 100.0)
    x = get_strategy("nonlinear-optimal", solver="exact").schedule(p)
    np.testing.assert_allclose(x, 20.0)
    with pytest.raises(InvalidParameterError, match="model kind"):
        get_strategy("linear-optimal").schedule(p)


def test_cached_parametrised_qp_matches_a_fresh_build():
    from strategies import solve_cvxpy

    rng = np.random.default_rng(42)
    n = 50
    for capped in (False, True):
        for _ in range(3):  # re-solves reuse the cached problem with new values
            model = LinearImpact(beta=rng.uniform(1e-5, 3e-5, n), h=rng.uniform(0.0, 0.01, n))
            upper = np.where(rng.random(n) < 0.5, rng.uniform(50, 150, n), np.inf)
            problem = AllocationProblem(model, 4000.0, upper=upper if capped else None)
            cached = solve_cvxpy(problem)
            fresh = solve_cvxpy(problem, reuse=False)
            exact = solve_exact(model, 4000.0, upper=problem.upper)
            assert cached.success and fresh.success
            ref = model.total_cost(exact)
            assert abs(cached.objective - ref) <= 1e-7 * ref
            assert abs(fresh.objective - ref) <= 1e-7 * ref


def test_cached_qp_result_does_not_depend_on_earlier_solves():
    # Warm starts would make a re-solve depend on the previous problem, hence on n_jobs and on
    # the order tasks reach a worker.
    from strategies import solve_cvxpy

    rng = np.random.default_rng(0)
    n = 390
    problems = [
        AllocationProblem(
            LinearImpact(beta=rng.uniform(1e-5, 3e-5, n), h=rng.uniform(0.005, 0.01, n)),
            100_000.0,
            upper=rng.uniform(200, 600, n),
        )
        for _ in range(2)
    ]
    first = solve_cvxpy(problems[0]).x
    solve_cvxpy(problems[1])
    again = solve_cvxpy(problems[0]).x
    fresh = solve_cvxpy(problems[0], reuse=False).x
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, fresh)


def test_cvxpy_book_objective_prices_the_tail_past_the_visible_depth():
    # An order 1.5x the visible depth: CVXPY's LP-plus-tail formulation must reach the exact
    # water-filling optimum (a flat tail would put the excess wherever the deepest level is
    # cheapest and undercut it).
    from models import BookImpact

    rng = np.random.default_rng(0)
    n, levels = 20, 4
    offsets = 0.01 + 0.01 * np.arange(levels)[None, :] + rng.uniform(0, 0.005, (n, 1))
    sizes = rng.uniform(100, 300, (n, levels))
    model = BookImpact(offsets=offsets, sizes=sizes, reference_mid=np.full(n, 30.0))
    total = 1.5 * sizes.sum()
    p = AllocationProblem(model, total)
    res = get_strategy("nonlinear-optimal", solver="cvxpy").solve(p)
    assert res.success, res.message
    best = p.objective(solve_exact(model, total))
    assert res.objective == pytest.approx(best, rel=1e-7)
    assert np.all(res.x > model.visible_depth * 0.99)
