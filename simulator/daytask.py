"""One evaluation task: fit on the training window, schedule every size, realise on the test day.

A task carries only its own days' books, so a cluster run ships no whole dataset and the
driver's memory does not grow with the number of days.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models import BookImpact, BookSnapshots, fit_impact_model
from strategies import AllocationProblem, Strategy, get_strategy, round_schedule, solve_exact

from .market import Market
from .settings import EvaluationSettings

__all__ = [
    "DayTask",
    "DayOutcome",
    "run_day_task",
    "normalize_result_types",
    "RESULT_COLUMNS",
    "BASELINE",
    "ORACLE",
]

BASELINE = "equal"
ORACLE = "oracle"

RESULT_COLUMNS = (
    "scenario",
    "regime",
    "day_index",
    "date",
    "size_spec",
    "size_unit",
    "size_shares",
    "strategy",
    "strategy_name",
    "side",
    "model_kind",
    "success",
    "message",
    "predicted_cost_usd",
    "realized_cost_usd",
    "shortfall_usd",
    "predicted_bps",
    "realized_bps",
    "shortfall_bps",
    "error_bps",
    "improvement_vs_equal_bps",
    "captured_saving",
    "solve_ms",
    "max_participation",
    "peak_participation",
    "exhausted_intervals",
    "arrival_mid_usd",
    "adv_shares",
    "train_start",
    "train_end",
)


@dataclass(frozen=True, eq=False)
class DayTask:
    """Inputs of one (market, test day) task.

    Parameters
    ----------
    scenario : str
        Scenario name, copied into every row.
    regime : str
        Market label (a synthetic regime or the data source), copied into every row.
    day_index : int
        Position of the test day in the full market.
    train : BookSnapshots
        Training window the model is fitted on (the test day itself in-sample).
    test : BookSnapshots
        The single test day the schedules are realised on.
    strategies : tuple of (str, Strategy)
        Labelled strategies to run.
    settings : EvaluationSettings
        Sizes, constraints, model and simulation settings.
    keep_schedules : bool, default False
        Return every schedule (for the allocations output of a representative day).
    """

    scenario: str
    regime: str
    day_index: int
    train: BookSnapshots
    test: BookSnapshots
    strategies: tuple[tuple[str, Strategy], ...]
    settings: EvaluationSettings
    keep_schedules: bool = False


@dataclass(frozen=True, eq=False)
class DayOutcome:
    """Rows of one task, the fitted model and optionally the schedules.

    Attributes
    ----------
    rows : DataFrame
        One row per (size, strategy), columns :data:`RESULT_COLUMNS`.
    model : BaseImpact
        The model fitted on the training window.
    schedules : DataFrame or None
        Long table ``size_spec, strategy, interval, shares`` when requested.
    """

    rows: pd.DataFrame
    model: object
    schedules: pd.DataFrame | None


def _bounds(settings: EvaluationSettings, expected_volume: np.ndarray):
    n = expected_volume.shape[0]
    lower = np.full(n, float(settings.min_shares_per_interval))
    if settings.max_participation is None:
        upper = None
    else:
        upper = np.maximum(settings.max_participation * expected_volume, lower)
    return lower, upper


_FIT_CACHE: OrderedDict[str, object] = OrderedDict()
_FIT_CACHE_SIZE = 4
_FIT_CACHE_LOCK = threading.Lock()


def _books_fingerprint(books: BookSnapshots) -> hashlib.blake2b:
    digest = hashlib.blake2b(digest_size=20)
    for name in ("bid_px", "bid_sz", "ask_px", "ask_sz", "volume", "repaired"):
        digest.update(np.ascontiguousarray(getattr(books, name)).tobytes())
    digest.update(books.dates.tobytes())
    return digest


def fit_cached(books: BookSnapshots, kind: str, side: str, options: dict):
    """:func:`models.fit_impact_model`, remembered for the last few training windows.

    With ``refit_every = k`` the k test days of a block share one training window, so a
    worker that runs several of them fits once.  The key is a hash of the books' contents
    and the fit settings, so equal inputs give the same (immutable) model and nothing else.
    """
    digest = _books_fingerprint(books)
    digest.update(repr((kind, side, sorted(options.items()))).encode())
    key = digest.hexdigest()
    with _FIT_CACHE_LOCK:
        if key in _FIT_CACHE:
            _FIT_CACHE.move_to_end(key)
            return _FIT_CACHE[key]
    model = fit_impact_model(books, kind, side=side, **options)
    with _FIT_CACHE_LOCK:
        _FIT_CACHE[key] = model
        while len(_FIT_CACHE) > _FIT_CACHE_SIZE:
            _FIT_CACHE.popitem(last=False)
    return model


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


def _timed_schedule(strategy: Strategy, problem: AllocationProblem, lot: float):
    start = time.perf_counter()
    x = np.asarray(strategy.schedule(problem), dtype=float)
    if lot > 0:
        x = round_schedule(x, lot=lot, lower=problem.lower, upper=problem.upper)
    return x, 1e3 * (time.perf_counter() - start)


def run_day_task(task: DayTask) -> DayOutcome:
    """Run every strategy and size of one test day.

    A strategy that raises yields rows with ``success=False`` and its message; an infeasible
    size (for example a participation cap below the order) does the same for every strategy
    of that size.  The run goes on either way.

    Parameters
    ----------
    task : DayTask

    Returns
    -------
    DayOutcome
    """
    s = task.settings
    # The planner's model and the market share one beyond-depth rule unless the scenario
    # says otherwise in model.options.
    options = {"beyond_depth_bps": s.beyond_depth_bps, **s.model_options}
    model = fit_cached(task.train, s.model_kind, s.side, options)
    expected_volume = task.train.volume.mean(axis=0)
    volatility = price_volatility(task.train)
    adv = float(task.train.volume.sum(axis=1).mean())
    lower, upper = _bounds(s, expected_volume)
    market = Market(
        task.test,
        transient_half_life=s.transient_half_life,
        permanent_impact=s.permanent_impact,
        beyond_depth_bps=s.beyond_depth_bps,
    )
    arrival_mid = float(task.test.mid[0, 0])
    test_volume = task.test.volume[0]
    oracle_model = (
        BookImpact.from_snapshots(task.test, side=s.side, beyond_depth_bps=s.beyond_depth_bps)
        if s.oracle
        else None
    )
    labelled = list(task.strategies)
    if BASELINE not in {label for label, _ in labelled}:
        labelled.insert(0, (BASELINE, get_strategy(BASELINE)))

    rows, schedule_parts = [], []
    sizes = s.sizes.to_shares(adv)
    for spec, size in zip(s.sizes.values, sizes, strict=True):
        base = {
            "scenario": task.scenario,
            "regime": task.regime,
            "day_index": task.day_index,
            "date": pd.Timestamp(task.test.dates[0]),
            "size_spec": spec,
            "size_unit": s.sizes.unit,
            "size_shares": size,
            "side": s.side,
            "model_kind": s.model_kind,
            "max_participation": np.nan if s.max_participation is None else s.max_participation,
            "arrival_mid_usd": arrival_mid,
            "adv_shares": adv,
            "train_start": pd.Timestamp(task.train.dates[0]),
            "train_end": pd.Timestamp(task.train.dates[-1]),
        }
        schedules, names, failures = {}, {}, []
        try:
            problem = AllocationProblem(
                model=model,
                total_shares=size,
                lower=lower,
                upper=upper,
                side=s.side,
                volume_profile=expected_volume,
                price_volatility=volatility,
            )
        except Exception as exc:  # an infeasible size fails its rows, not the run
            if s.max_participation is not None:
                exc = type(exc)(
                    f"size_shares={size:.6g} with max_participation={s.max_participation:g}: {exc}"
                )
            failures = [(label, strat, exc) for label, strat in labelled]
            problem = None
        if problem is not None:
            for label, strat in labelled:
                try:
                    x, ms = _timed_schedule(strat, problem, s.lot_size)
                    schedules[label] = (x, ms)
                    names[label] = getattr(strat, "name", type(strat).__name__)
                except Exception as exc:  # a failing plugin yields success=False rows
                    failures.append((label, strat, exc))
            if oracle_model is not None:
                try:
                    x, ms = _timed_oracle(oracle_model, size, lower, upper, s.lot_size)
                    schedules[ORACLE], names[ORACLE] = (x, ms), ORACLE
                except Exception as exc:
                    failures.append((ORACLE, None, exc))
        labels = list(schedules)
        if labels:
            batch = np.stack([schedules[label][0] for label in labels])
            real = market.realize(0, batch, side=s.side)
            predicted = model.total_cost(batch)
            notional = size * arrival_mid
            with np.errstate(divide="ignore", invalid="ignore"):
                peak = np.max(batch / np.maximum(test_volume, 1.0), axis=1)
            realized_bps = 1e4 * np.asarray(real.total_impact_usd, dtype=float) / notional
            relative = _relative(labels, realized_bps)
            for i, label in enumerate(labels):
                rows.append(
                    {
                        **base,
                        "strategy": label,
                        "strategy_name": names[label],
                        "success": True,
                        "message": "",
                        "predicted_cost_usd": float(predicted[i]),
                        "realized_cost_usd": float(real.total_impact_usd[i]),
                        "shortfall_usd": float(real.total_shortfall_usd[i]),
                        "predicted_bps": 1e4 * float(predicted[i]) / notional,
                        "realized_bps": float(realized_bps[i]),
                        "error_bps": float(realized_bps[i]) - 1e4 * float(predicted[i]) / notional,
                        "improvement_vs_equal_bps": relative[0][i],
                        "captured_saving": relative[1][i],
                        "shortfall_bps": 1e4 * float(real.total_shortfall_usd[i]) / notional,
                        "solve_ms": schedules[label][1],
                        "peak_participation": float(peak[i]),
                        "exhausted_intervals": int(real.exhausted_intervals[i]),
                    }
                )
            if task.keep_schedules:
                schedule_parts.append(
                    pd.DataFrame(
                        {
                            "size_spec": spec,
                            "size_shares": size,
                            "strategy": np.repeat(labels, batch.shape[1]),
                            "interval": np.tile(np.arange(batch.shape[1]), len(labels)),
                            "shares": batch.reshape(-1),
                        }
                    )
                )
        for label, strat, exc in failures:
            rows.append(
                {
                    **base,
                    "strategy": label,
                    "strategy_name": getattr(strat, "name", type(strat).__name__)
                    if strat
                    else ORACLE,
                    "success": False,
                    "message": f"{type(exc).__name__}: {exc}".splitlines()[0],
                    "solve_ms": np.nan,
                    "exhausted_intervals": 0,
                }
            )
    frame = normalize_result_types(pd.DataFrame(rows, columns=list(RESULT_COLUMNS)))
    schedules_frame = pd.concat(schedule_parts, ignore_index=True) if schedule_parts else None
    return DayOutcome(rows=frame, model=model, schedules=schedules_frame)


def _timed_oracle(oracle_model, size, lower, upper, lot):
    start = time.perf_counter()
    x = solve_exact(oracle_model, size, lower=lower, upper=upper)
    if lot > 0:
        x = round_schedule(x, lot=lot, lower=lower, upper=upper)
    return x, 1e3 * (time.perf_counter() - start)


def normalize_result_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Fixed column dtypes, so rows computed now and rows read back from Parquet agree."""
    frame = frame.reindex(columns=list(RESULT_COLUMNS))
    for col in ("date", "train_start", "train_end"):
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
    frame["success"] = frame["success"].astype(bool)
    frame["message"] = frame["message"].fillna("").astype(str)
    frame["exhausted_intervals"] = frame["exhausted_intervals"].fillna(0).astype("int64")
    frame["day_index"] = frame["day_index"].astype("int64")
    for col in (
        "scenario",
        "regime",
        "size_unit",
        "strategy",
        "strategy_name",
        "side",
        "model_kind",
    ):
        frame[col] = frame[col].astype(str)
    return frame


def _relative(labels: list[str], realized_bps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Improvement over ``equal`` (bps) and the share of the achievable saving (equal to
    oracle) each schedule captured; NaN where the reference is missing or the saving is 0."""
    nan = np.full(len(labels), np.nan)
    if BASELINE not in labels:
        return nan, nan
    equal = realized_bps[labels.index(BASELINE)]
    improvement = equal - realized_bps
    if ORACLE not in labels:
        return improvement, nan
    achievable = equal - realized_bps[labels.index(ORACLE)]
    if abs(achievable) <= 1e-12:
        return improvement, nan
    return improvement, improvement / achievable
