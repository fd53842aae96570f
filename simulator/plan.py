"""Planning one test day: everything decided before the open, from the training window only.

:func:`prepare_inputs` fits the impact model (with each training day's own parameters, the
training evidence of robust planning) and derives the caps, the volume profile, the
volatility and the average daily volume from the training days; it never sees the test day,
so no plan can depend on it.  :func:`plan_size` then asks every strategy for a schedule of
one order size, each call isolated (:mod:`simulator.isolation`) and every answer checked
(:func:`strategies.check_schedule`) before it may be realised; for an adaptive policy the
answer is its plan at the open, and the policy is kept to be executed by stepping.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass

import numpy as np

from models import BookSnapshots, fit_impact_model, fit_per_day, load_model
from models.errors import DataError, InvalidParameterError
from models.frozen import frozen_array
from strategies import (
    AdaptivePolicy,
    AllocationProblem,
    Strategy,
    TrainingEvidence,
    check_schedule,
    is_adaptive,
    round_schedule,
)

from .isolation import StrategyFailure, call_isolated
from .settings import EvaluationSettings

__all__ = [
    "DayInputs",
    "Planned",
    "SizePlan",
    "prepare_inputs",
    "plan_size",
    "plan_window",
    "price_volatility",
]


@dataclass(frozen=True, eq=False)
class DayInputs:
    """What the strategies of one test day may know: derived from the training days only.

    Attributes
    ----------
    model : models.BaseImpact
        Impact model fitted on the training window.
    expected_volume : ndarray, shape (N,)
        Mean continuous volume per interval over the training days, shares.
    volatility : ndarray, shape (N,)
        Expected absolute mid move per interval, dollars per share (:func:`price_volatility`).
    adv_shares : float
        Average daily (continuous) volume of the training days, shares.
    lower, upper : ndarray, shape (N,)
        Per-interval bounds in shares (``upper`` is +inf without a participation cap).
    sizes : tuple of (float, float)
        ``(size_spec, size_shares)`` for every configured order size.
    train_start, train_end : numpy.datetime64
        First and last date of the training window.
    fit_seconds : float
        Wall time of the model fit (the per-day fits of the evidence included), seconds.
    resilience_half_life : float
        Median of the training days' estimated book-recovery half-lives, intervals (NaN when
        the books carry none, e.g. synthetic days); used by ``half_life: fit``.
    evidence : TrainingEvidence or None
        Each training day's own parameters and the pooled fit's standard errors
        (:class:`strategies.evidence.TrainingEvidence`), for strategies that guard against
        the fit's noise (``robust``); None for ``book`` models and saved models.
    plans : tuple of SizePlan or None
        Every strategy's plan of every size, made once for the window
        (:func:`plan_window`): the test days of one refit block share their inputs, so they
        share their plans.  None: each test day plans for itself.
    """

    model: object
    expected_volume: np.ndarray
    volatility: np.ndarray
    adv_shares: float
    lower: np.ndarray
    upper: np.ndarray
    sizes: tuple[tuple[float, float], ...]
    train_start: np.datetime64
    train_end: np.datetime64
    fit_seconds: float = 0.0
    resilience_half_life: float = np.nan
    evidence: TrainingEvidence | None = None
    plans: tuple[SizePlan, ...] | None = None


@dataclass(frozen=True, eq=False)
class Planned:
    """One strategy's answer for one order size.

    Attributes
    ----------
    label : str
        The strategy's label in results.
    name : str
        The strategy's registry name (or class name).
    schedule : ndarray of shape (N,) or None
        The checked (and lot-rounded) schedule in shares; None when it failed.
    solve_ms : float
        Wall time of the strategy's call, milliseconds (NaN when it failed).
    error : str
        Why it failed (one line naming the strategy and the rule); '' on success.
    predicted_usd : float
        The cost the strategy's own planning model predicts for its schedule
        (:meth:`strategies.Strategy.predicted_cost`), dollars; NaN when it failed.
    policy : strategies.AdaptivePolicy or None
        For an adaptive policy, the policy itself (placeholders resolved), to be executed by
        stepping; ``schedule`` is then its plan at the open.  None for a static strategy.
    """

    label: str
    name: str
    schedule: np.ndarray | None
    solve_ms: float
    error: str = ""
    predicted_usd: float = np.nan
    policy: AdaptivePolicy | None = None

    @property
    def ok(self) -> bool:
        """Whether a valid schedule was produced."""
        return self.schedule is not None


@dataclass(frozen=True, eq=False)
class SizePlan:
    """Every strategy's plan for one order size of one test day.

    Attributes
    ----------
    size_spec : float
        The configured size (shares or fraction of ADV).
    size_shares : float
        The order size S in shares.
    problem : AllocationProblem or None
        None when the size is infeasible under the constraints (see ``error``).
    planned : tuple of Planned
        One entry per strategy, in the order given.
    error : str
        Why the problem itself could not be built (e.g. caps below the order); '' otherwise.
    """

    size_spec: float
    size_shares: float
    problem: AllocationProblem | None
    planned: tuple[Planned, ...]
    error: str = ""


def price_volatility(books: BookSnapshots, window: int = 15) -> np.ndarray:
    """Expected absolute mid move per interval: RMS over days of the within-day mid change,
    smoothed over ``window`` neighbouring intervals, dollars per share, shape (intervals,).

    The last interval (no next snapshot) repeats the one before; a one-interval day gives 0.
    """
    mid = books.mid
    n = mid.shape[1]
    if n < 2:
        return np.zeros(n)
    rms = np.sqrt(np.mean(np.diff(mid, axis=1) ** 2, axis=0))
    rms = np.append(rms, rms[-1])
    w = max(1, min(window, n))
    padded = np.pad(rms, (w // 2, w - 1 - w // 2), mode="edge")
    return np.convolve(padded, np.full(w, 1.0 / w), mode="valid")


def _bounds(settings: EvaluationSettings, expected_volume: np.ndarray):
    n = expected_volume.shape[0]
    lower = np.full(n, float(settings.min_shares_per_interval))
    if settings.max_participation is None:
        upper = np.full(n, np.inf)
    else:
        upper = np.maximum(settings.max_participation * expected_volume, lower)
    return lower, upper


def prepare_inputs(train: BookSnapshots, settings: EvaluationSettings) -> DayInputs:
    """Fit the model and derive caps, profiles and sizes from the training days alone.

    Parameters
    ----------
    train : BookSnapshots
        The training window (the test day itself only in in-sample mode).
    settings : EvaluationSettings

    Returns
    -------
    DayInputs

    Notes
    -----
    The evaluator calls this once per training window (a refit block shares one), whatever
    the number of workers or the backend, and ships the small result with each test day.
    For ``linear`` and ``power`` models the fit is :func:`models.fit_per_day`: the pooled
    model is the one :func:`models.fit_impact_model` returns, and the same pass gives every
    training day's own parameters, shipped as the problem's ``evidence`` (2 x D x N float32
    values, 62 kB for 20 days of 390 intervals).
    """
    s = settings
    # The planner's model and the market share one beyond-depth rule unless the scenario
    # says otherwise in model.options.
    options = {"beyond_depth_bps": s.beyond_depth_bps, **s.model_options}
    start = time.perf_counter()
    evidence = None
    if s.model_path is not None:
        model = saved_model(s.model_path, train.n_intervals, s.model_kind, s.side)
    elif s.model_kind in ("linear", "power"):
        per_day = fit_per_day(train, s.model_kind, side=s.side, **options)
        model = per_day.pooled
        evidence = TrainingEvidence.from_per_day_fit(per_day)
    else:
        model = fit_impact_model(train, s.model_kind, side=s.side, **options)
    fit_seconds = time.perf_counter() - start
    expected_volume = train.volume.mean(axis=0)
    adv = float(train.volume.sum(axis=1).mean())
    lower, upper = _bounds(s, expected_volume)
    sizes = tuple(zip(s.sizes.values, s.sizes.to_shares(adv), strict=True))
    return DayInputs(
        model=model,
        expected_volume=expected_volume,
        volatility=price_volatility(train),
        adv_shares=adv,
        lower=lower,
        upper=upper,
        sizes=sizes,
        train_start=train.dates[0],
        train_end=train.dates[-1],
        fit_seconds=fit_seconds,
        resilience_half_life=_training_resilience(train),
        evidence=evidence,
    )


def saved_model(path: str, n_intervals: int, kind: str, side: str):
    """The model saved at ``path``, checked against the market it will plan for.

    Raises
    ------
    DataError
        If the file is missing or not a model, or its intervals, kind or side differ.
    """
    model = _load_saved(str(path))
    checks = (
        ("intervals", int(model.n_intervals), int(n_intervals)),
        ("kind", model.kind, kind),
        ("side", model.side, side),
    )
    for what, saved, wanted in checks:
        if saved != wanted:
            raise DataError(
                f"model file {str(path)!r} must match the market; got {what} {saved!r}, the "
                f"run needs {wanted!r}"
            )
    return model


@functools.lru_cache(maxsize=4)
def _load_saved(path: str):
    return load_model(path)


def _training_resilience(train: BookSnapshots) -> float:
    """Median of the training days' resilience half-lives (intervals), NaN if none."""
    per_day = np.asarray(getattr(train, "resilience_half_life", np.full(train.n_days, np.nan)))
    per_day = per_day[np.isfinite(per_day)]
    return float(np.median(per_day)) if per_day.size else np.nan


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if not isinstance(exc, StrategyFailure) else str(exc)
    return " ".join(text.split())


def build_problem(
    inputs: DayInputs, size_shares: float, settings: EvaluationSettings
) -> AllocationProblem:
    """The allocation problem of one order size (raises when the size is infeasible); it
    carries the window's training evidence."""
    return AllocationProblem(
        model=inputs.model,
        total_shares=size_shares,
        lower=inputs.lower,
        upper=inputs.upper,
        side=settings.side,
        volume_profile=inputs.expected_volume,
        price_volatility=inputs.volatility,
        evidence=inputs.evidence,
    )


def resolve_placeholders(strategy: Strategy, inputs: DayInputs, settings: EvaluationSettings):
    """The strategy with evaluator-supplied parameters filled in.

    A ``half_life`` field set to ``'market'`` becomes the scenario market's
    ``transient_half_life`` (the known-model case: the planner is told the market's true
    resilience); ``'fit'`` becomes the resilience half-life estimated on the training window
    (``DayInputs.resilience_half_life``).  Other strategies are returned unchanged.

    Raises
    ------
    InvalidParameterError
        If ``'fit'`` is asked for but the training days carry no resilience estimate
        (synthetic markets, or books loaded without order-book events).
    """
    value = getattr(strategy, "half_life", None)
    if not isinstance(value, str) or not dataclasses.is_dataclass(strategy):
        return strategy
    if value == "market":
        return dataclasses.replace(strategy, half_life=float(settings.transient_half_life))
    if value == "fit":
        estimate = float(inputs.resilience_half_life)
        if not np.isfinite(estimate):
            raise InvalidParameterError(
                "half_life 'fit' needs a resilience estimate from the training days; got none "
                "(the market has no order-book events: synthetic days, or files loaded without "
                "them); give a number or 'market'"
            )
        return dataclasses.replace(strategy, half_life=estimate)
    return strategy


def _plan_one(
    label: str,
    strategy: Strategy,
    problem: AllocationProblem,
    inputs: DayInputs,
    settings: EvaluationSettings,
) -> Planned:
    name = getattr(strategy, "name", "") or type(strategy).__name__
    timeout = settings.strategy_timeout_s
    try:
        strategy = resolve_placeholders(strategy, inputs, settings)
    except InvalidParameterError as exc:
        return Planned(label, name, None, np.nan, f"strategy {label!r}: {_one_line(exc)}")
    start = time.perf_counter()
    try:
        raw = call_isolated(label, lambda: strategy.schedule(problem), timeout)
    except StrategyFailure as exc:
        return Planned(label, name, None, np.nan, _one_line(exc))
    ms = 1e3 * (time.perf_counter() - start)
    try:
        x = check_schedule(raw, problem)
        if settings.lot_size > 0:
            x = round_schedule(x, lot=settings.lot_size, lower=problem.lower, upper=problem.upper)
    except Exception as exc:  # an invalid answer fails this strategy's row only
        return Planned(label, name, None, np.nan, f"strategy {label!r}: {_one_line(exc)}")
    x = frozen_array(x)
    try:
        predicted = call_isolated(label, lambda: strategy.predicted_cost(problem, x), timeout)
        predicted = float(predicted)
    except (StrategyFailure, TypeError, ValueError) as exc:
        message = f"strategy {label!r}: predicted_cost failed: {_one_line(exc)}"
        return Planned(label, name, None, np.nan, message)
    policy = strategy if is_adaptive(strategy) else None
    return Planned(label, name, x, ms, predicted_usd=predicted, policy=policy)


def plan_size(
    inputs: DayInputs,
    size_spec: float,
    size_shares: float,
    strategies: tuple[tuple[str, Strategy], ...],
    settings: EvaluationSettings,
) -> SizePlan:
    """Ask every strategy for a schedule of one order size, each call isolated and checked.

    Parameters
    ----------
    inputs : DayInputs
        Training-window inputs of the day.
    size_spec, size_shares : float
        The configured size and the order size S in shares.
    strategies : tuple of (label, Strategy)
    settings : EvaluationSettings

    Returns
    -------
    SizePlan
        An infeasible size (e.g. caps below the order) fails every strategy of that size
        with the same message; a strategy that raises, exits, times out or returns an
        invalid schedule fails only its own entry.
    """
    try:
        problem = build_problem(inputs, size_shares, settings)
    except Exception as exc:  # an infeasible size fails its rows, not the run
        message = _one_line(exc)
        if settings.max_participation is not None:
            message = (
                f"size_shares={size_shares:.6g} with max_participation="
                f"{settings.max_participation:g}: {message}"
            )
        planned = tuple(
            Planned(label, getattr(st, "name", "") or type(st).__name__, None, np.nan, message)
            for label, st in strategies
        )
        return SizePlan(size_spec, size_shares, None, planned, message)
    planned = tuple(_plan_one(label, st, problem, inputs, settings) for label, st in strategies)
    return SizePlan(size_spec, size_shares, problem, planned)


def plan_window(
    inputs: DayInputs,
    strategies: tuple[tuple[str, Strategy], ...],
    settings: EvaluationSettings,
) -> DayInputs:
    """``inputs`` with every size planned by every strategy (:func:`plan_size`), once.

    A plan depends on the training window only (the inputs, the strategies and the
    settings), never on the test day, so the days of a refit block can share it: planning
    once per window instead of once per day divides the planning work by ``refit_every``
    and gives those days identical schedules by construction.  Each strategy's
    ``solve_ms`` is then the time of that one call.

    Parameters
    ----------
    inputs : DayInputs
        The window's inputs (from :func:`prepare_inputs`).
    strategies : tuple of (label, Strategy)
        Every strategy of the run, the baseline included, in row order.
    settings : EvaluationSettings

    Returns
    -------
    DayInputs
        The same inputs with ``plans`` set.
    """
    plans = tuple(
        plan_size(inputs, spec, size, strategies, settings) for spec, size in inputs.sizes
    )
    return dataclasses.replace(inputs, plans=plans)
