"""Tests of the adaptive-policy protocol (strategies.policy), its contract checks and the
built-in ``adaptive`` policy (strategies.adaptive).

References: the feasible range against its defining invariant (hypothesis), the running
statistics against numpy on the whole series (hypothesis), the re-solve against CVXPY, and
the whole day against the exact plan when the day's books are exactly what the model
expected.
"""

from __future__ import annotations

import copy
import itertools
import pickle
from dataclasses import dataclass
from typing import ClassVar

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from models import LinearImpact, PowerLawImpact
from models.errors import InvalidParameterError, InvalidTypeError
from strategies import (
    AdaptivePolicy,
    AdaptiveStrategy,
    AllocationProblem,
    IntervalSnapshot,
    Observation,
    feasible_range,
    get_strategy,
    is_adaptive,
    solve_exact,
)
from strategies.adaptive import SignalStats
from strategies.builtin import EqualStrategy
from strategies.testing import (
    CHECKS,
    POLICY_CHECKS,
    check_policy_deterministic,
    check_policy_pure,
    check_policy_state_picklable,
    check_strategy,
    default_problems,
    run_policy,
)

PROBLEMS = default_problems(n_intervals=16)
MID = 50.0


# ---------------------------------------------------------------- observation types


def test_snapshot_holds_read_only_copies():
    bid_px = np.array([49.99, 49.98])
    ask_px = np.array([50.01, 50.02])
    size = np.array([100.0, 200.0])
    volume = np.arange(10.0)
    snap = IntervalSnapshot(
        interval=3, bid_px=bid_px, bid_sz=size, ask_px=ask_px, ask_sz=size, past_volume=volume[:3]
    )
    for got, source in ((snap.bid_px, bid_px), (snap.ask_sz, size), (snap.past_volume, volume)):
        assert not np.shares_memory(got, source)
        assert not got.flags.writeable
        with pytest.raises(ValueError):
            got.setflags(write=True)
    bid_px[0] = 1.0  # the caller's array changes; the snapshot does not
    assert snap.bid_px[0] == 49.99
    assert snap.mid_usd == pytest.approx(50.0)
    assert snap.spread_usd == pytest.approx(0.02)
    assert snap.side_levels("buy")[0] is snap.ask_px
    assert snap.side_levels("sell")[1] is snap.bid_sz


def test_snapshot_rejects_inconsistent_shapes():
    one = np.ones(2)
    with pytest.raises(InvalidParameterError, match=r"past_volume must have shape \(3,\)"):
        IntervalSnapshot(3, one, one, one, one, np.ones(4))
    with pytest.raises(InvalidParameterError, match="must have one shape"):
        IntervalSnapshot(0, one, np.ones(3), one, one, np.ones(0))
    with pytest.raises(InvalidParameterError, match="interval must be >= 0"):
        IntervalSnapshot(-1, one, one, one, one, np.ones(0))


def test_observation_counts_the_intervals_left():
    snap = IntervalSnapshot(9, np.ones(1), np.ones(1), np.ones(1) * 2, np.ones(1), np.ones(9))
    obs = Observation(9, 10, snap, 5.0, 95.0, 1.0)
    assert obs.intervals_left == 1 and obs.is_last
    assert not Observation(8, 10, snap, 5.0, 95.0, 1.0).is_last


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 8),
    seed=st.integers(0, 2**31 - 1),
    fill=st.floats(0.0, 1.0),
    capped=st.booleans(),
)
def test_feasible_range_keeps_the_rest_feasible(n, seed, fill, capped):
    rng = np.random.default_rng(seed)
    lower = rng.uniform(0, 5, n) * (rng.uniform(size=n) < 0.5)
    upper = lower + (rng.uniform(1, 20, n) if capped else np.inf)
    t = int(rng.integers(0, n))
    later_lower, later_upper = lower[t + 1 :].sum(), upper[t + 1 :].sum()
    # A remainder that intervals t .. N-1 can hold.
    lo_total, hi_total = lower[t:].sum(), min(upper[t:].sum(), lower[t:].sum() + 50.0)
    remaining = lo_total + fill * (hi_total - lo_total)
    lo, hi = feasible_range(remaining, lower[t], upper[t], later_lower, later_upper)
    assert lo <= hi <= remaining + 1e-12
    for x in np.linspace(lo, hi, 5):
        assert lower[t] - 1e-9 <= x <= upper[t] + 1e-9
        rest = remaining - x
        assert later_lower - 1e-9 <= rest <= later_upper + 1e-9
    # Nothing outside [lo, hi] is feasible (when the range is not pinned by rounding).
    for x in (lo - 1e-6, hi + 1e-6):
        rest = remaining - x
        ok = (
            x >= lower[t] - 1e-12
            and x <= upper[t] + 1e-12
            and later_lower - 1e-12 <= rest <= later_upper + 1e-12
        )
        assert not ok
    if t == n - 1:
        assert lo == hi == remaining


def test_feasible_range_works_on_arrays():
    lo, hi = feasible_range(
        np.array([10.0, 10.0]),
        np.array([0.0, 1.0]),
        np.array([4.0, np.inf]),
        np.array([0.0, 0.0]),
        np.array([8.0, 0.0]),
    )
    np.testing.assert_array_equal(lo, [2.0, 10.0])
    np.testing.assert_array_equal(hi, [4.0, 10.0])


# ---------------------------------------------------------------- protocol and checks


@dataclass(frozen=True)
class Twap(AdaptivePolicy):
    """Equal shares of what is left over the intervals left."""

    name: ClassVar[str] = "twap-policy"

    def schedule(self, problem):
        return EqualStrategy().schedule(problem)

    def start(self, problem):
        return problem.total_shares

    def decide(self, state, observation):
        return observation.remaining_shares / observation.intervals_left, state


@dataclass(frozen=True)
class Mutating(Twap):
    def start(self, problem):
        return []

    def decide(self, state, observation):
        state.append(observation.interval)
        return observation.remaining_shares / observation.intervals_left, state


_counter = itertools.count()


@dataclass(frozen=True)
class Restless(Twap):
    def decide(self, state, observation):
        jitter = 1.0 + 0.1 * (next(_counter) % 3)
        return jitter * observation.remaining_shares / observation.intervals_left, state


@dataclass(frozen=True)
class Unpicklable(Twap):
    def start(self, problem):
        return lambda: None


@dataclass(frozen=True)
class Forgetful(Twap):
    """Keeps part of what it learnt outside its state: a restored state differs."""

    def start(self, problem):
        return {"seen": 0}

    def decide(self, state, observation):
        memo = self.__dict__.setdefault("_memo", {})
        memo[observation.interval] = True
        weight = 2.0 if len(memo) > observation.interval + 1 else 1.0
        return weight * observation.remaining_shares / observation.intervals_left, state


def test_is_adaptive_and_start_checks_the_problem():
    assert is_adaptive(get_strategy("adaptive")) and is_adaptive(Twap())
    assert not is_adaptive(get_strategy("exact"))
    with pytest.raises(InvalidTypeError, match="must be an AllocationProblem"):
        Twap().start(np.ones(3))
    book = [p for p in PROBLEMS if p.kind == "book"][0]
    with pytest.raises(InvalidParameterError, match="model kind of strategy 'adaptive'"):
        get_strategy("adaptive").start(book)


def test_policies_get_the_policy_checks():
    names = check_strategy(get_strategy("adaptive"), PROBLEMS)
    assert names == [c.__name__ for c in CHECKS + POLICY_CHECKS]
    assert len(check_strategy(Twap(), PROBLEMS)) == len(CHECKS) - 1 + len(POLICY_CHECKS)


@pytest.mark.parametrize(
    "policy, check, message",
    [
        (Mutating(), check_policy_pure, "mutated the state"),
        (Restless(), check_policy_deterministic, "decisions differ"),
        (Unpicklable(), check_policy_state_picklable, "the state must pickle"),
        (Forgetful(), check_policy_state_picklable, "restored state decides differently"),
    ],
)
def test_policy_checks_catch_bad_policies(policy, check, message):
    with pytest.raises(AssertionError, match=message):
        check(policy, PROBLEMS[:2])


# ---------------------------------------------------------------- the adaptive policy


def _model_books(model, spread_log=None, depth_log=None, visible=400.0, side="buy"):
    """Books whose touch offset is h_t exp(spread_log_t) and whose slippage beyond the touch
    at the visible depth V is a_t V^delta_t exp(depth_log_t): two levels of V/2 shares."""
    n = model.n_intervals
    h = np.asarray(model.h, dtype=float)
    if model.kind == "linear":
        scale, delta = np.asarray(model.beta, dtype=float), np.ones(n)
    else:
        scale, delta = np.asarray(model.alpha), np.broadcast_to(model.delta, (n,))
    a = np.zeros(n) if spread_log is None else np.asarray(spread_log, dtype=float)
    b = np.zeros(n) if depth_log is None else np.asarray(depth_log, dtype=float)
    touch = h * np.exp(a)
    gap = 2.0 * scale * visible**delta * np.exp(b)
    out = []
    for t in range(n):
        offsets = np.array([touch[t], touch[t] + gap[t]])
        sizes = np.full(2, visible / 2)
        out.append(
            IntervalSnapshot(
                interval=t,
                bid_px=MID - offsets,
                bid_sz=sizes,
                ask_px=MID + offsets,
                ask_sz=sizes,
                past_volume=np.ones(t),
            )
        )
    return out


def _linear_problem(n=24, seed=0, cap=None, side="buy"):
    rng = np.random.default_rng(seed)
    model = LinearImpact(beta=rng.uniform(1e-6, 4e-6, n), h=rng.uniform(0.01, 0.03, n), side=side)
    upper = None if cap is None else np.full(n, cap)
    return AllocationProblem(model, 20_000.0, upper=upper, side=side)


def _power_problem(n=24, seed=1):
    rng = np.random.default_rng(seed)
    model = PowerLawImpact(
        alpha=rng.uniform(2e-4, 6e-4, n), delta=0.5, h=rng.uniform(0.01, 0.03, n)
    )
    return AllocationProblem(model, 20_000.0)


@pytest.mark.parametrize("tolerance", [0.0, AdaptiveStrategy.resolve_tolerance])
@pytest.mark.parametrize(
    "problem",
    [_linear_problem(), _linear_problem(cap=1500.0), _power_problem()],
    ids=["linear", "linear-capped", "power"],
)
def test_a_day_as_the_model_expected_executes_the_exact_plan(problem, tolerance):
    policy = get_strategy("adaptive", resolve_tolerance=tolerance)
    plan = solve_exact(problem.model, problem.total_shares, problem.lower, problem.upper)
    np.testing.assert_allclose(policy.schedule(problem), plan, rtol=1e-12)
    _, executed = run_policy(policy, problem, _model_books(problem.model))
    np.testing.assert_allclose(executed, plan, rtol=0, atol=1e-7 * problem.total_shares)


def test_the_re_solve_matches_cvxpy():
    n, t_check, phi = 12, 4, 0.6
    problem = _linear_problem(n=n, seed=3, cap=3000.0)
    rng = np.random.default_rng(8)
    y_h, y_a = rng.normal(0, 0.4, n), rng.normal(0, 0.4, n)
    snaps = _model_books(problem.model, y_h, y_a)
    policy = get_strategy("adaptive", persistence=phi, prior_intervals=0.0, resolve_tolerance=0.0)
    state = policy.start(problem)
    remaining = problem.total_shares
    for t in range(t_check + 1):
        obs = Observation(t, n, snaps[t], remaining, problem.total_shares - remaining, 0.0)
        x, state = policy.decide(state, obs)
        if t < t_check:
            remaining -= x
    # Reference: the rest of the day under the forecast, solved by CVXPY.
    lags = np.arange(n - t_check)
    h = problem.model.h[t_check:] * np.exp(y_h[t_check] * phi**lags)
    beta = problem.model.beta[t_check:] * np.exp(y_a[t_check] * phi**lags)
    z = cp.Variable(n - t_check)
    cp.Problem(
        cp.Minimize(h @ z + cp.sum(cp.multiply(beta, cp.square(z)))),
        [cp.sum(z) == remaining, z >= 0, z <= problem.upper[t_check:]],
    ).solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    assert x == pytest.approx(float(z.value[0]), rel=1e-6, abs=1e-6)
    assert state.solves == t_check + 1


def test_it_trades_less_in_a_wide_or_thin_book_and_more_in_a_cheap_one():
    n = 24
    problem = AllocationProblem(LinearImpact(beta=np.full(n, 2e-6), h=np.full(n, 0.02)), 20_000.0)
    policy = get_strategy("adaptive")
    state = policy.start(problem)

    def first(spread_log, depth_log):
        a, b = np.zeros(n), np.zeros(n)
        a[0], b[0] = spread_log, depth_log
        snap = _model_books(problem.model, a, b)[0]
        return policy.decide(state, Observation(0, n, snap, problem.total_shares, 0.0, 0.0))[0]

    normal = first(0.0, 0.0)
    assert first(np.log(2.0), 0.0) < normal < first(np.log(0.5), 0.0)
    assert first(0.0, np.log(3.0)) < normal < first(0.0, np.log(0.3))


def test_a_sell_on_mirrored_books_decides_like_a_buy():
    n = 20
    rng = np.random.default_rng(2)
    y_h, y_a = rng.normal(0, 0.5, n), rng.normal(0, 0.5, n)
    decided = {}
    for side in ("buy", "sell"):
        problem = _linear_problem(n=n, seed=9, side=side)
        snaps = _model_books(problem.model, y_h, y_a)
        decided[side], _ = run_policy(get_strategy("adaptive"), problem, snaps)
    np.testing.assert_allclose(decided["sell"], decided["buy"], rtol=1e-12)


def test_decisions_depend_on_the_past_only():
    problem = _linear_problem(n=30, seed=4)
    rng = np.random.default_rng(6)
    y_h, y_a = rng.normal(0, 0.5, 30), rng.normal(0, 0.5, 30)
    base, _ = run_policy(get_strategy("adaptive"), problem, _model_books(problem.model, y_h, y_a))
    y_h2, y_a2 = y_h.copy(), y_a.copy()
    y_h2[20:] += 1.0
    y_a2[20:] -= 1.0
    moved, _ = run_policy(
        get_strategy("adaptive"), problem, _model_books(problem.model, y_h2, y_a2)
    )
    np.testing.assert_array_equal(moved[:20], base[:20])
    assert not np.allclose(moved[20:], base[20:])


def test_the_state_pickles_and_the_policy_does_not_change():
    problem = _power_problem()
    policy = get_strategy("adaptive")
    before = pickle.dumps(policy)
    a, _ = run_policy(policy, problem, resume_at=7)
    b, _ = run_policy(copy.deepcopy(policy), problem)
    np.testing.assert_array_equal(a, b)
    assert pickle.dumps(policy) == before


@pytest.mark.parametrize(
    "params, name",
    [
        ({"persistence": 1.0}, "persistence"),
        ({"prior_persistence": -0.1}, "prior_persistence"),
        ({"prior_intervals": -1.0}, "prior_intervals"),
        ({"resolve_tolerance": float("nan")}, "resolve_tolerance"),
        ({"max_log_ratio": 0.0}, "max_log_ratio"),
    ],
)
def test_bad_parameters_are_named(params, name):
    with pytest.raises(InvalidParameterError, match=name):
        AdaptiveStrategy(**params)


@settings(max_examples=100, deadline=None)
@given(
    ys=st.lists(st.floats(-3, 3), min_size=2, max_size=40),
    weight=st.sampled_from([0.0, 5.0, 30.0]),
    prior=st.sampled_from([0.0, 0.5, 0.9]),
)
def test_running_persistence_matches_least_squares(ys, weight, prior):
    stats = SignalStats()
    for y in ys:
        stats = stats.add(y)
    y = np.asarray(ys, dtype=float)
    assume(float(y[:-1] @ y[:-1]) > 1e-6)
    # AR(1) through the origin by numpy's least squares on the whole series.
    rho = np.linalg.lstsq(y[:-1, None], y[1:], rcond=None)[0][0]
    pairs = y.size - 1
    want = min(max((pairs * rho + weight * prior) / (pairs + weight), 0.0), 0.999)
    assert stats.persistence(prior, weight) == pytest.approx(want, abs=1e-9)


def test_running_persistence_falls_back_to_the_prior():
    assert SignalStats().persistence(0.7, 5.0) == 0.7
    assert SignalStats().add(0.3).persistence(0.7, 0.0) == 0.7
    assert SignalStats().add(0.0).add(0.0).add(0.4).persistence(0.8, 0.0) == 0.8


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_side_summary_matches_walking_the_visible_book(side):
    from models.book_walk import walk_levels

    rng = np.random.default_rng(3)
    levels = np.arange(6) * 0.01
    sizes = rng.uniform(50, 500, 6)
    sizes[4:] = 0.0  # two empty levels at the back
    bid = np.where(sizes > 0, 49.97 - levels, np.nan)
    ask = np.where(sizes > 0, 50.02 + levels, np.nan)
    snap = IntervalSnapshot(0, bid, sizes, ask, sizes, np.ones(0))
    touch, visible, mean = snap.side_summary(side)
    px, sz = snap.side_levels(side)
    walked = walk_levels(px, sz, np.array(snap.mid_usd), np.array([sizes.sum()]), side)
    assert visible == pytest.approx(sizes.sum())
    assert mean == pytest.approx(float(walked.slippage[0]), rel=1e-12)
    assert touch == pytest.approx(0.025)
