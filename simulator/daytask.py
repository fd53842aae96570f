"""One evaluation task: plan every size before the open, execute on the test day, score.

A task carries only its own days' books, so a cluster run ships no whole dataset and the
driver's memory does not grow with the number of days.  :func:`run_day_task` is three
small steps, each in its own module:

1. plan (:mod:`simulator.plan`) - with the inputs prepared once per training window (fitted
   model, caps, sizes), ask every strategy for a schedule, isolated and checked; the test
   day is not used;
2. execute (:mod:`simulator.execute`) - step the adaptive policies of every size through
   the test day together (each decision checked and clipped into what is still feasible),
   then charge the valid fixed schedules and the hindsight oracle (which gets every executed
   schedule as a candidate) their realised impact on the test day's market;
3. score (:mod:`simulator.score`) - one tidy row per (size, strategy), with failures and
   sanity warnings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models import BookImpact, BookSnapshots
from strategies import Strategy, get_strategy

from .execute import (
    Execution,
    PolicyOrder,
    concat_executions,
    execute_schedules,
    step_policies,
)
from .isolation import StrategyFailure, call_isolated
from .market import Market
from .oracle import hindsight_oracle, static_optima
from .plan import DayInputs, SizePlan, plan_size, price_volatility
from .score import (
    BASELINE,
    ORACLE,
    RESULT_COLUMNS,
    RowContext,
    failure_rows,
    normalize_result_types,
    score_execution,
    size_warnings,
)
from .settings import EvaluationSettings

__all__ = [
    "DayTask",
    "DayOutcome",
    "run_day_task",
    "normalize_result_types",
    "price_volatility",
    "RESULT_COLUMNS",
    "BASELINE",
    "ORACLE",
]


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
    inputs : DayInputs
        What the training window says (fitted model, caps, profiles, sizes), prepared once
        per window by :func:`simulator.plan.prepare_inputs`; the test day is not in it
        (except in-sample, where the window is the test day).
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
    inputs: DayInputs
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
    model : BaseImpact or None
        The model fitted on the training window (None for a day read back from a part
        other than the representative day's, whose model is not stored).
    schedules : DataFrame or None
        Long table ``size_spec, strategy, interval, shares`` when requested.
    """

    rows: pd.DataFrame
    model: object
    schedules: pd.DataFrame | None


def _base_columns(task: DayTask, inputs: DayInputs, spec: float, size: float) -> dict:
    s = task.settings
    return {
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
        "transient_half_life": s.transient_half_life,
        "permanent_impact": s.permanent_impact,
        "arrival_mid_usd": float(task.test.mid[0, 0]),
        "adv_shares": inputs.adv_shares,
        "train_start": pd.Timestamp(inputs.train_start),
        "train_end": pd.Timestamp(inputs.train_end),
    }


def labelled_strategies(
    strategies: tuple[tuple[str, Strategy], ...],
) -> tuple[tuple[str, Strategy], ...]:
    """The run's labelled strategies with the baseline ``equal`` first when it is absent."""
    labelled = list(strategies)
    if BASELINE not in {label for label, _ in labelled}:
        labelled.insert(0, (BASELINE, get_strategy(BASELINE)))
    return tuple(labelled)


def _labelled(task: DayTask) -> tuple[tuple[str, Strategy], ...]:
    return labelled_strategies(task.strategies)


def _oracle(
    task: DayTask,
    market: Market,
    book,
    plan: SizePlan,
    candidates: list[np.ndarray],
    candidate_costs: np.ndarray,
    static: np.ndarray | None = None,
):
    """The oracle's (OracleResult, ms) or (None, message)."""
    s = task.settings
    start = time.perf_counter()
    try:
        result = call_isolated(
            ORACLE,
            lambda: hindsight_oracle(
                market,
                s.side,
                plan.size_shares,
                plan.problem.lower,
                plan.problem.upper,
                s.lot_size,
                np.stack(candidates) if candidates else None,
                book,
                candidate_costs if candidates else None,
                static,
            ),
            None,
        )
    except StrategyFailure as exc:
        return None, str(exc)
    return result, 1e3 * (time.perf_counter() - start)


def _step_adaptive(task: DayTask, market: Market, plans: list[SizePlan]):
    """Execute every adaptive policy of every size together; (SteppedOrders, index).

    ``index`` maps (size position, label) to the order's row in the SteppedOrders.
    """
    orders, index = [], {}
    for j, plan in enumerate(plans):
        for p in plan.planned:
            if p.ok and p.policy is not None:
                index[(j, p.label)] = len(orders)
                orders.append(PolicyOrder(p.label, p.policy, plan.problem))
    if not orders:
        return None, index
    s = task.settings
    stepped = step_policies(
        market, 0, s.side, orders, timeout_s=s.strategy_timeout_s, lot_size=s.lot_size
    )
    return stepped, index


def _static_optima(book, plans: list[SizePlan]) -> dict[int, np.ndarray]:
    """Every feasible size's static book optimum in one batch, by size position; empty when
    the batch fails (each size's oracle then solves its own and reports its own failure)."""
    feasible = [j for j, plan in enumerate(plans) if plan.problem is not None]
    if book is None or not feasible:
        return {}
    sizes = np.array([plans[j].size_shares for j in feasible])
    lower = np.stack([plans[j].problem.lower for j in feasible])
    upper = np.stack([plans[j].problem.upper for j in feasible])
    try:
        batch = call_isolated(ORACLE, lambda: static_optima(book, sizes, lower, upper), None)
    except StrategyFailure:
        return {}
    return dict(zip(feasible, batch, strict=True))


def _execute_size(
    task: DayTask, market: Market, book, plan: SizePlan, j: int, stepped, index, optimum=None
):
    """Execute one size's orders; (execution or None, names, solve_ms, predictions, oracle,
    failures)."""
    s = task.settings
    failures = [(p.label, p.name, p.error) for p in plan.planned if not p.ok]
    static = [p for p in plan.planned if p.ok and p.policy is None]
    adaptive, rows = [], []
    for p in plan.planned:
        if p.ok and p.policy is not None:
            row = index[(j, p.label)]
            if stepped.errors[row]:
                failures.append((p.label, p.name, stepped.errors[row]))
            else:
                adaptive.append(p)
                rows.append(row)
    names = {p.label: p.name for p in (*static, *adaptive)}
    solve_ms = {p.label: p.solve_ms for p in static}
    for p, row in zip(adaptive, rows, strict=True):
        solve_ms[p.label] = p.solve_ms + float(stepped.decide_ms[row])
    predicted = {p.label: p.predicted_usd for p in (*static, *adaptive)}
    parts = []
    if static:
        schedules = np.stack([p.schedule for p in static])
        labels = tuple(p.label for p in static)
        parts.append(execute_schedules(market, 0, labels, schedules, s.side))
    if adaptive:
        parts.append(stepped.execution(rows, [p.label for p in adaptive]))
    oracle = None
    if plan.problem is not None and s.oracle:
        # The oracle sees every executed schedule, the policies' included, with the costs
        # their rows report: never beaten.
        candidates = [x for part in parts for x in part.schedules]
        costs = np.concatenate(
            [np.asarray(part.realization.total_impact_usd, dtype=float) for part in parts]
            or [np.empty(0)]
        )
        oracle, ms = _oracle(task, market, book, plan, candidates, costs, optimum)
        if oracle is None:
            failures.append((ORACLE, ORACLE, ms))
        else:
            if oracle.realization is not None:  # realised by the oracle on this market
                parts.append(Execution((ORACLE,), oracle.schedule[None, :], oracle.realization))
            else:
                x = oracle.schedule[None, :]
                parts.append(execute_schedules(market, 0, (ORACLE,), x, s.side))
            names[ORACLE], solve_ms[ORACLE] = ORACLE, ms
            predicted[ORACLE] = float(task.inputs.model.total_cost(oracle.schedule))
    elif plan.problem is None and s.oracle:
        failures.append((ORACLE, ORACLE, plan.error))
    if not parts:
        return None, names, solve_ms, predicted, oracle, failures
    order = [p.label for p in plan.planned if p.label in names] + (
        [ORACLE] if ORACLE in names else []
    )
    execution = concat_executions(parts, order)
    return execution, names, solve_ms, predicted, oracle, failures


def run_day_task(task: DayTask) -> DayOutcome:
    """Run every strategy and size of one test day: plan, execute, score.

    A strategy that raises, exits, times out or returns an invalid schedule yields rows
    with ``success=False`` and a message naming it and the rule; an infeasible size (for
    example a participation cap below the order) does the same for every strategy of that
    size.  Such schedules are never realised.  An adaptive policy that fails while stepping
    fails its own rows the same way.  The run goes on either way.

    Parameters
    ----------
    task : DayTask

    Returns
    -------
    DayOutcome
    """
    s = task.settings
    inputs = task.inputs
    strategies = _labelled(task)
    market = Market(
        task.test,
        transient_half_life=s.transient_half_life,
        permanent_impact=s.permanent_impact,
        beyond_depth_bps=s.beyond_depth_bps,
    )
    test_volume = task.test.volume[0]
    # 1. plan every size before the open (training window only), unless the window's
    # plans came with the inputs (plan_window).
    if inputs.plans is not None:
        plans = list(inputs.plans)
    else:
        plans = [plan_size(inputs, spec, size, strategies, s) for spec, size in inputs.sizes]
    # 2. execute: the adaptive policies of every size step through the day together ...
    stepped, index = _step_adaptive(task, market, plans)
    # The test day's book as a model, built once for every size's oracle.
    book = (
        BookImpact.from_snapshots(task.test, side=s.side, beyond_depth_bps=s.beyond_depth_bps)
        if s.oracle
        else None
    )
    statics = _static_optima(book, plans)
    rows, schedule_parts = [], []
    for j, plan in enumerate(plans):
        spec, size = plan.size_spec, plan.size_shares
        ctx = RowContext(
            base=_base_columns(task, inputs, spec, size),
            test_volume=test_volume,
            size_warnings=size_warnings(size, inputs.adv_shares, inputs.upper),
        )
        # ... then the fixed schedules and the oracle of each size.
        execution, names, solve_ms, predicted, oracle, failures = _execute_size(
            task, market, book, plan, j, stepped, index, statics.get(j)
        )
        if execution is not None:
            # 3. score.
            predictions = np.array([predicted[label] for label in execution.labels], float)
            rows += score_execution(ctx, execution, names, solve_ms, predictions, oracle)
            if task.keep_schedules:
                batch = execution.schedules
                schedule_parts.append(
                    pd.DataFrame(
                        {
                            "size_spec": spec,
                            "size_shares": size,
                            "strategy": np.repeat(execution.labels, batch.shape[1]),
                            "interval": np.tile(np.arange(batch.shape[1]), len(execution.labels)),
                            "shares": batch.reshape(-1),
                        }
                    )
                )
        rows += failure_rows(ctx, failures)
    frame = normalize_result_types(pd.DataFrame(rows, columns=list(RESULT_COLUMNS)))
    schedules_frame = pd.concat(schedule_parts, ignore_index=True) if schedule_parts else None
    return DayOutcome(rows=frame, model=inputs.model, schedules=schedules_frame)
