"""Shipped contract checks every strategy must pass (like scikit-learn's estimator checks).

Use ``check_strategy(MyStrategy)`` in a test, or ``parametrize_with_checks([...])`` to get one
pytest case per (strategy, check). A failed check raises ``AssertionError`` naming the check.
Adaptive policies (:class:`strategies.AdaptivePolicy`) also get :data:`POLICY_CHECKS`: they
are stepped through a small synthetic day (:func:`run_policy`) and must decide finite
numbers, deterministically, purely (no input or state mutated) and with picklable states.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable, Iterable

import numpy as np

from models import BookImpact, LinearImpact, PowerLawImpact
from models.errors import InvalidParameterError, TradeallocError

from .base import Strategy
from .builtin import EqualStrategy
from .policy import IntervalSnapshot, Observation, feasible_range, is_adaptive
from .problem import AllocationProblem
from .registry import make_strategy
from .validation import SUM_RTOL, ScheduleError, check_schedule

__all__ = [
    "default_problems",
    "check_strategy",
    "parametrize_with_checks",
    "applicable_checks",
    "CHECKS",
    "POLICY_CHECKS",
    "SUM_RTOL",
    "run_policy",
    "synthetic_snapshots",
]


def default_problems(n_intervals: int = 24, seed: int = 0) -> list[AllocationProblem]:
    """Small deterministic problems: linear, power law and book, free and with binding caps.

    Parameters
    ----------
    n_intervals : int, default 24
        N of every problem.
    seed : int, default 0
        Seed of the numpy Generator that draws the parameters.

    Returns
    -------
    list of AllocationProblem
        Each carries a ``volume_profile`` (shares per interval).
    """
    rng = np.random.default_rng(seed)
    n = n_intervals
    t = np.linspace(-1, 1, n)
    volume = 2e4 * (1 + 1.5 * t**2) * rng.uniform(0.8, 1.2, n)
    s = 5e4
    cap = 0.15 * volume
    floor = np.where(rng.uniform(size=n) < 0.2, 0.01 * volume, 0.0)
    beta = rng.uniform(1e-6, 6e-6, n) / (1 + t**2)
    half = rng.uniform(0.005, 0.02, n)
    levels = 6
    tick = 0.01
    offsets = half[:, None] + tick * np.arange(levels)[None, :]
    sizes = rng.uniform(200, 3000, (n, levels))
    models = [
        LinearImpact(beta=beta),
        LinearImpact(beta=beta, h=half),
        PowerLawImpact(alpha=rng.uniform(2e-4, 8e-4, n), delta=0.5, h=half),
        PowerLawImpact(alpha=rng.uniform(2e-4, 8e-4, n), delta=rng.uniform(0.4, 0.9, n)),
        BookImpact(offsets=offsets, sizes=sizes, reference_mid=np.full(n, 50.0)),
    ]
    problems = []
    for model in models:
        problems.append(AllocationProblem(model, s, volume_profile=volume))
        problems.append(AllocationProblem(model, s, lower=floor, upper=cap, volume_profile=volume))
    return problems


def _instance(strategy) -> Strategy:
    return make_strategy(strategy) if isinstance(strategy, type) else strategy


def _supported(strategy: Strategy, problems):
    kinds = getattr(strategy, "supported_kinds", ("linear", "power", "book"))
    return [p for p in problems if p.kind in kinds]


def _fail(check: str, strategy: Strategy, problem, detail: str) -> None:
    raise AssertionError(f"{check} failed for {type(strategy).__name__} on {problem!r}: {detail}")


def check_sums_to_total(strategy, problems) -> None:
    """Every schedule sums to S within SUM_RTOL relative."""
    for p in problems:
        x = strategy.schedule(p)
        if abs(float(np.sum(x)) - p.total_shares) > SUM_RTOL * p.total_shares:
            _fail("check_sums_to_total", strategy, p, f"sum {np.sum(x)!r} != {p.total_shares!r}")


def check_valid_schedule(strategy, problems) -> None:
    """Every schedule passes :func:`strategies.check_schedule`, the evaluator's own gate
    (shape, finite, >= 0, sum within SUM_RTOL, bounds within BOUND_RTOL * S)."""
    for p in problems:
        try:
            check_schedule(strategy.schedule(p), p)
        except ScheduleError as exc:
            _fail("check_valid_schedule", strategy, p, str(exc))


def check_within_bounds(strategy, problems) -> None:
    """Every schedule has shape (N,) and lies within [lower, upper] (1e-9 S slack)."""
    for p in problems:
        x = np.asarray(strategy.schedule(p))
        if x.shape != (p.n_intervals,):
            _fail("check_within_bounds", strategy, p, f"shape {x.shape}")
        slack = 1e-9 * p.total_shares
        if np.any(x < p.lower - slack) or np.any(x > p.upper + slack):
            _fail("check_within_bounds", strategy, p, "bound violated")


def check_finite(strategy, problems) -> None:
    """Every entry is finite."""
    for p in problems:
        if not np.all(np.isfinite(strategy.schedule(p))):
            _fail("check_finite", strategy, p, "non-finite entries")


def check_nonnegative(strategy, problems) -> None:
    """No entry is negative."""
    for p in problems:
        if np.any(np.asarray(strategy.schedule(p)) < 0):
            _fail("check_nonnegative", strategy, p, "negative entries")


def check_deterministic(strategy, problems) -> None:
    """Two calls (and a copy of the strategy) give identical schedules."""
    for p in problems:
        a = strategy.schedule(p)
        b = copy.deepcopy(strategy).schedule(p)
        if not np.array_equal(a, b):
            _fail("check_deterministic", strategy, p, "schedules differ between calls")


def check_inputs_not_mutated(strategy, problems) -> None:
    """The problem (bounds, profile, model parameters) and the strategy are unchanged."""
    for p in problems:
        before = pickle.dumps((p.model, p.lower, p.upper, p.volume_profile, p.total_shares))
        strat_before = pickle.dumps(strategy)
        strategy.schedule(p)
        after = pickle.dumps((p.model, p.lower, p.upper, p.volume_profile, p.total_shares))
        if before != after:
            _fail("check_inputs_not_mutated", strategy, p, "problem was mutated")
        if pickle.dumps(strategy) != strat_before:
            _fail("check_inputs_not_mutated", strategy, p, "strategy parameters were mutated")


def check_picklable(strategy, problems) -> None:
    """The strategy pickles, and the copy schedules identically."""
    clone = pickle.loads(pickle.dumps(strategy))
    for p in problems:
        if not np.array_equal(clone.schedule(p), strategy.schedule(p)):
            _fail("check_picklable", strategy, p, "unpickled copy schedules differently")


def check_bad_parameters(strategy, problems) -> None:
    """Unknown and invalid parameters raise InvalidParameterError naming the parameter."""
    cls = type(strategy)
    cases = [{"not_a_parameter": 1}, *getattr(cls, "invalid_params", ())]
    for params in cases:
        try:
            make_strategy(cls, **params)
        except InvalidParameterError as exc:
            name = next(iter(params))
            if name not in str(exc):
                raise AssertionError(
                    f"check_bad_parameters failed for {cls.__name__}: error for {params!r} "
                    f"does not name {name!r}: {exc}"
                ) from exc
        else:
            raise AssertionError(
                f"check_bad_parameters failed for {cls.__name__}: {params!r} was accepted"
            )
    try:
        strategy.schedule(np.ones(3))
        accepted = True
    except TradeallocError:
        accepted = False
    if accepted:
        raise AssertionError(
            f"check_bad_parameters failed for {cls.__name__}: a non-problem input was accepted"
        )


def check_not_worse_than_equal(strategy, problems) -> None:
    """Optimising strategies cost no more than ``equal`` under the problem's model.

    Applies only to strategies with ``optimizes_model = True`` (see :func:`applicable_checks`);
    calling it on another strategy is an error rather than a silent pass.
    """
    if not getattr(strategy, "optimizes_model", False):
        raise TypeError(
            f"check_not_worse_than_equal applies to strategies with optimizes_model = True; "
            f"got {type(strategy).__name__}"
        )
    equal = EqualStrategy()
    for p in problems:
        ours = p.objective(strategy.schedule(p))
        base = p.objective(equal.schedule(p))
        if ours > base * (1 + 1e-9) + 1e-12:
            _fail("check_not_worse_than_equal", strategy, p, f"{ours!r} > equal {base!r}")


CHECKS: tuple[Callable, ...] = (
    check_sums_to_total,
    check_valid_schedule,
    check_within_bounds,
    check_finite,
    check_nonnegative,
    check_deterministic,
    check_inputs_not_mutated,
    check_picklable,
    check_bad_parameters,
    check_not_worse_than_equal,
)
"""The contract checks, in the order :func:`check_strategy` runs them."""


def synthetic_snapshots(problem: AllocationProblem, seed: int = 0) -> list[IntervalSnapshot]:
    """A deterministic test day for ``problem``: one book per interval, 5 levels a side.

    Mid $50; the touch offset is the model's ``h_t`` (1 cent where it has none) times a
    wandering factor in [0.5, 2]; levels one cent apart; the walked side holds about a
    tenth of the order per level times another wandering factor, so that a policy that
    reacts to the book has something to react to.
    """
    rng = np.random.default_rng(seed)
    n = problem.n_intervals
    h = np.asarray(getattr(problem.model, "h", np.zeros(n)), dtype=float)
    h = np.where(h > 0, h, 0.01) * np.exp(np.clip(np.cumsum(rng.normal(0, 0.2, n)), -0.7, 0.7))
    depth = 0.1 * problem.total_shares * np.exp(np.cumsum(rng.normal(0, 0.2, n)))
    levels = np.arange(5) * 0.01
    volume = rng.uniform(0.5, 1.5, n) * problem.total_shares / n * 5
    out = []
    for t in range(n):
        sizes = np.full(5, max(depth[t], 1.0))
        out.append(
            IntervalSnapshot(
                interval=t,
                bid_px=50.0 - h[t] - levels,
                bid_sz=sizes,
                ask_px=50.0 + h[t] + levels,
                ask_sz=sizes,
                past_volume=volume[:t],
            )
        )
    return out


def _pickled_state(state, t: int) -> bytes:
    try:
        return pickle.dumps(state)
    except Exception as exc:  # noqa: BLE001 - any pickling failure is the finding
        raise AssertionError(
            f"the state must pickle; got {type(exc).__name__}: {exc} at interval {t}"
        ) from None


def run_policy(policy, problem: AllocationProblem, snapshots=None, *, resume_at=None):
    """Step ``policy`` through a day as the evaluator does, without a market.

    Each decision is checked (a finite number) and clipped into
    :func:`strategies.feasible_range`; executed costs are the problem's model costs.

    Parameters
    ----------
    policy : AdaptivePolicy
    problem : AllocationProblem
    snapshots : list of IntervalSnapshot, optional
        The day's books; default :func:`synthetic_snapshots`.
    resume_at : int, optional
        Pickle and unpickle the state before this interval (to check that the state
        carries everything).

    Returns
    -------
    (decided, executed)
        ndarrays of shape (N,): what the policy returned and what was executed, shares.

    Raises
    ------
    AssertionError
        If a decision is not ``(finite number, state)`` or the state passed in was mutated.
    """
    n = problem.n_intervals
    snapshots = synthetic_snapshots(problem) if snapshots is None else snapshots
    later_lower = np.concatenate([np.cumsum(problem.lower[::-1])[::-1], [0.0]])
    later_upper = np.concatenate([np.cumsum(problem.upper[::-1])[::-1], [0.0]])
    state = policy.start(problem)
    remaining = problem.total_shares
    spent = last_x = last_c = 0.0
    decided = np.zeros(n)
    executed = np.zeros(n)
    for t in range(n):
        if resume_at is not None and t == resume_at:
            state = pickle.loads(_pickled_state(state, t))
        obs = Observation(
            t, n, snapshots[t], remaining, problem.total_shares - remaining, spent, last_x, last_c
        )
        before = _pickled_state(state, t)
        out = policy.decide(state, obs)
        if _pickled_state(state, t) != before:
            raise AssertionError(f"decide mutated the state passed to it at interval {t}")
        if not (isinstance(out, tuple) and len(out) == 2):
            raise AssertionError(f"decide must return (shares, state); got {out!r} at {t}")
        value, state = out
        if np.ndim(value) != 0 or not np.isfinite(float(value)):
            raise AssertionError(f"decide must return finite shares; got {value!r} at {t}")
        decided[t] = float(value)
        lo, hi = feasible_range(
            remaining, problem.lower[t], problem.upper[t], later_lower[t + 1], later_upper[t + 1]
        )
        x = float(min(max(decided[t], lo), hi))
        executed[t] = x
        cost = np.zeros(n)
        cost[t] = x
        last_c = float(problem.model.cost(cost)[t]) if x > 0 else 0.0
        spent += last_c
        last_x = x
        remaining = max(remaining - x, 0.0)
    return decided, executed


def check_policy_decides_finite(policy, problems) -> None:
    """Every decision is ``(finite number, state)``; the executed schedule is valid."""
    for p in problems:
        try:
            _, executed = run_policy(policy, p)
            check_schedule(executed, p)
        except (AssertionError, ScheduleError) as exc:
            _fail("check_policy_decides_finite", policy, p, str(exc))


def check_policy_deterministic(policy, problems) -> None:
    """Two runs, and a run of a copy, decide identically."""
    for p in problems:
        try:
            a, _ = run_policy(policy, p)
            b, _ = run_policy(copy.deepcopy(policy), p)
        except AssertionError as exc:
            _fail("check_policy_deterministic", policy, p, str(exc))
        if not np.array_equal(a, b):
            _fail("check_policy_deterministic", policy, p, "decisions differ between runs")


def check_policy_state_picklable(policy, problems) -> None:
    """A state pickled mid-day and restored decides the rest of the day identically."""
    for p in problems:
        try:
            a, _ = run_policy(policy, p)
            b, _ = run_policy(policy, p, resume_at=p.n_intervals // 2)
        except AssertionError as exc:
            _fail("check_policy_state_picklable", policy, p, str(exc))
        if not np.array_equal(a, b):
            _fail("check_policy_state_picklable", policy, p, "restored state decides differently")


def check_policy_pure(policy, problems) -> None:
    """Stepping changes neither the policy nor the problem (states are not mutated either:
    :func:`run_policy` checks every call)."""
    for p in problems:
        before = pickle.dumps((policy, p.model, p.lower, p.upper, p.total_shares))
        try:
            run_policy(policy, p)
        except AssertionError as exc:
            _fail("check_policy_pure", policy, p, str(exc))
        if pickle.dumps((policy, p.model, p.lower, p.upper, p.total_shares)) != before:
            _fail("check_policy_pure", policy, p, "policy or problem was mutated")


POLICY_CHECKS: tuple[Callable, ...] = (
    check_policy_decides_finite,
    check_policy_deterministic,
    check_policy_state_picklable,
    check_policy_pure,
)
"""The extra checks of adaptive policies, run after :data:`CHECKS`."""


def applicable_checks(strategy) -> tuple[Callable, ...]:
    """The checks that apply to ``strategy``: every check, except
    :func:`check_not_worse_than_equal` for strategies that do not optimise the model, and
    :data:`POLICY_CHECKS` for adaptive policies."""
    checks = CHECKS
    if not getattr(strategy, "optimizes_model", False):
        checks = tuple(c for c in CHECKS if c is not check_not_worse_than_equal)
    if is_adaptive(strategy):
        checks = checks + POLICY_CHECKS
    return checks


def check_strategy(
    strategy_or_class, problems: Iterable[AllocationProblem] | None = None
) -> list[str]:
    """Run every contract check on a strategy (instance, or class built with defaults).

    Parameters
    ----------
    strategy_or_class : Strategy or type
        The strategy to check.
    problems : iterable of AllocationProblem, optional
        Problems to use; default :func:`default_problems`. Problems whose model kind the
        strategy does not support are skipped.

    Returns
    -------
    list of str
        Names of the checks that ran (all passed): :func:`applicable_checks`.

    Raises
    ------
    AssertionError
        At the first failed check, naming it, the strategy and the problem.
    """
    strategy = _instance(strategy_or_class)
    selected = _supported(strategy, list(default_problems() if problems is None else problems))
    if not selected:
        raise AssertionError(f"no problem of a kind supported by {type(strategy).__name__}")
    checks = applicable_checks(strategy)
    for check in checks:
        check(strategy, selected)
    return [c.__name__ for c in checks]


def parametrize_with_checks(strategies: Iterable, problems=None):
    """Return a ``pytest.mark.parametrize`` over (strategy, check) pairs.

    The decorated test takes ``strategy`` and ``check`` and should call ``check(strategy)``.
    """
    import functools

    import pytest

    cases, ids = [], []
    for item in strategies:
        strategy = _instance(item)
        selected = _supported(strategy, list(default_problems() if problems is None else problems))
        for check in applicable_checks(strategy):
            cases.append((strategy, functools.partial(check, problems=selected)))
            ids.append(f"{type(strategy).__name__}-{check.__name__}")
    return pytest.mark.parametrize("strategy, check", cases, ids=ids)
