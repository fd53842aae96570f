"""Shipped contract checks every strategy must pass (like scikit-learn's estimator checks).

Use ``check_strategy(MyStrategy)`` in a test, or ``parametrize_with_checks([...])`` to get one
pytest case per (strategy, check). A failed check raises ``AssertionError`` naming the check.
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
from .problem import AllocationProblem
from .registry import make_strategy
from .validation import SUM_RTOL, ScheduleError, check_schedule

__all__ = [
    "default_problems",
    "check_strategy",
    "parametrize_with_checks",
    "applicable_checks",
    "CHECKS",
    "SUM_RTOL",
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


def applicable_checks(strategy) -> tuple[Callable, ...]:
    """The checks that apply to ``strategy``: every check, except
    :func:`check_not_worse_than_equal` for strategies that do not optimise the model."""
    if getattr(strategy, "optimizes_model", False):
        return CHECKS
    return tuple(c for c in CHECKS if c is not check_not_worse_than_equal)


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
