"""Walk-forward (and in-sample) evaluation of strategies across days, sizes and markets.

``evaluate`` is the one code path: serial, joblib (loky or threading) and a Dask cluster all
run the same :func:`simulator.daytask.run_day_task` on the same tasks, and results are sorted
by task key, so they do not depend on ``n_jobs`` or the backend.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from models import BookSnapshots
from models.errors import InvalidParameterError
from strategies import Strategy

from .daytask import DayOutcome, DayTask, normalize_result_types, run_day_task
from .parts import PartStore
from .settings import BACKENDS, EvaluationSettings
from .workers import check_scheduler, effective_n_jobs, shutdown_loky, watch_parent

__all__ = ["Evaluation", "evaluate", "plan_test_days"]


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Outcome of :func:`evaluate`.

    Attributes
    ----------
    results : DataFrame
        One row per (regime, day, size, strategy), columns
        :data:`simulator.daytask.RESULT_COLUMNS`, sorted by task.
    allocations : DataFrame
        Every strategy's schedule on the representative (last) test day of each market:
        ``regime, date, size_spec, size_shares, strategy, interval, shares``.
    models : dict
        Model fitted for the representative day of each market, keyed by regime.
    elapsed_s : float
        Wall time of the evaluation, in seconds.
    """

    results: pd.DataFrame
    allocations: pd.DataFrame
    models: dict
    elapsed_s: float

    def __repr__(self) -> str:
        ok = self.results[self.results["success"]]
        table = ok.groupby(["strategy"])["realized_bps"].agg(["mean", "std", "count"])
        return f"Evaluation({len(self.results)} rows, {self.elapsed_s:.1f} s)\n{table}"


def plan_test_days(n_days: int, settings: EvaluationSettings) -> list[tuple[int, int, int]]:
    """Test days and their training windows.

    Parameters
    ----------
    n_days : int
        Days in the market.
    settings : EvaluationSettings

    Returns
    -------
    list of (test_day, train_start, train_stop)
        Day positions; training days are ``train_start <= d < train_stop``.  Walk-forward:
        the window is the ``training_days`` days before the refit day, where refits happen
        every ``refit_every`` test days.  In-sample: the window is the test day itself.

    Raises
    ------
    InvalidParameterError
        If the market has too few days for one walk-forward test day.
    """
    if settings.mode == "in_sample":
        days = list(range(n_days))
        plan = [(d, d, d + 1) for d in days]
    else:
        w = settings.training_days
        if n_days <= w:
            raise InvalidParameterError(
                f"training_days must be smaller than the number of days for walk-forward "
                f"evaluation; got training_days={w} with {n_days} day(s) (use mode in_sample "
                "or more days)"
            )
        first = w
        plan = []
        for d in range(first, n_days):
            refit = first + ((d - first) // settings.refit_every) * settings.refit_every
            plan.append((d, refit - w, refit))
    if settings.test_days is not None:
        plan = plan[-settings.test_days :]
    return plan


def _tasks(
    markets: Mapping[str, BookSnapshots],
    strategies: Sequence[tuple[str, Strategy]],
    settings: EvaluationSettings,
    scenario: str,
    skip: set[tuple[str, int]],
) -> Iterator[DayTask]:
    for regime, books in markets.items():
        plan = plan_test_days(books.n_days, settings)
        last = plan[-1][0]
        for d, start, stop in plan:
            if (regime, d) in skip:
                continue
            yield DayTask(
                scenario=scenario,
                regime=regime,
                day_index=d,
                train=books.select_days(slice(start, stop)),
                test=books.select_days([d]),
                strategies=tuple(strategies),
                settings=settings,
                keep_schedules=(d == last),
            )


def _keyed(task: DayTask) -> tuple[str, int, DayOutcome]:
    return task.regime, task.day_index, run_day_task(task)


@contextlib.contextmanager
def _backend(backend: str, n_jobs: int, scheduler: str | None):
    """joblib backend context; a Dask client (given or a local cluster) for 'dask'.

    Every exit path (success, error, interrupt, SIGTERM) shuts the workers down: loky's
    reusable executor is terminated and a local Dask cluster closed.  loky workers also end
    themselves when the driver dies (:func:`simulator.workers.watch_parent`).
    """
    import joblib

    if backend not in BACKENDS:
        raise InvalidParameterError(
            f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}"
        )
    if backend != "dask":
        options = {}
        if backend == "loky":
            options = {"initializer": watch_parent, "initargs": (os.getpid(),)}
        try:
            with joblib.parallel_config(backend=backend, n_jobs=n_jobs, **options):
                yield
        finally:
            if backend == "loky" and n_jobs != 1:
                shutdown_loky()
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # optional extra
        raise InvalidParameterError(
            "backend 'dask' needs dask.distributed; install it with pip install -e '.[dask]'"
        ) from exc
    cluster = None
    if scheduler:
        check_scheduler(scheduler)
        client = Client(scheduler, timeout="10s")
    else:
        cluster = LocalCluster(
            n_workers=n_jobs, threads_per_worker=1, processes=True, dashboard_address=None
        )
        try:
            client = Client(cluster)
        except BaseException:
            cluster.close()
            raise
    try:
        with joblib.parallel_config(backend="dask"):
            yield
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def evaluate(
    markets: Mapping[str, BookSnapshots] | BookSnapshots,
    strategies: Sequence[tuple[str, Strategy]] | Sequence[Strategy],
    settings: EvaluationSettings,
    *,
    scenario: str = "",
    n_jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    parts_dir: str | Path | None = None,
    quiet: bool = True,
) -> Evaluation:
    """Evaluate strategies on one or more markets, one parallel task per test day.

    Parameters
    ----------
    markets : BookSnapshots or mapping of str to BookSnapshots
        Multi-day books per market (keys label the ``regime`` column).
    strategies : sequence of Strategy or of (label, Strategy)
        Strategies to compare; ``equal`` is added as the baseline when absent.
    settings : EvaluationSettings
        Protocol, sizes, constraints and simulation settings.
    scenario : str, default ''
        Name copied into the ``scenario`` column.
    n_jobs : int, default 1
        Parallel workers (-1 = all cores); capped at the available cores with a
        :class:`simulator.workers.ResourceCapWarning`.
    backend : {'loky', 'threading', 'dask'}, default 'loky'
        joblib backend; 'dask' uses ``scheduler`` or starts a local cluster for the run.
    scheduler : str, optional
        Address of a running Dask scheduler.
    parts_dir : path, optional
        Directory where each finished task is stored atomically; tasks already stored there
        are skipped (resume) and their rows reused.
    quiet : bool, default True
        Hide the progress bar (shown on stderr after two seconds otherwise).

    Returns
    -------
    Evaluation
    """
    import joblib
    from tqdm.auto import tqdm

    start = time.perf_counter()
    if not (backend == "dask" and scheduler):  # a remote cluster has its own workers
        n_jobs = effective_n_jobs(n_jobs)
    if isinstance(markets, BookSnapshots):
        markets = {markets.symbol or "market": markets}
    labelled = [
        item if isinstance(item, tuple) else (getattr(item, "name", type(item).__name__), item)
        for item in strategies
    ]
    labels = [label for label, _ in labelled]
    if len(set(labels)) != len(labels):
        raise InvalidParameterError(f"strategy labels must be unique; got {labels}")
    store = PartStore(parts_dir) if parts_dir is not None else None
    done = store.finished() if store is not None else {}
    # Tasks are built lazily as joblib dispatches them, so the driver never holds every
    # day's training window at once.
    n_tasks = sum(
        1
        for regime, books in markets.items()
        for d, _, _ in plan_test_days(books.n_days, settings)
        if (regime, d) not in done
    )
    tasks = _tasks(markets, labelled, settings, scenario, set(done))
    outcomes: dict[tuple[str, int], DayOutcome] = dict(done)
    if n_tasks:
        with _backend(backend, n_jobs, scheduler):
            runner = joblib.Parallel(
                n_jobs=n_jobs if backend != "dask" else -1, return_as="generator_unordered"
            )
            stream = runner(joblib.delayed(_keyed)(task) for task in tasks)
            bar = tqdm(
                stream,
                total=n_tasks,
                disable=quiet,
                delay=2.0,
                file=sys.stderr,
                desc=scenario or "evaluate",
                unit="day",
            )
            for regime, day, outcome in bar:
                if store is not None:
                    store.save(regime, day, outcome)
                outcomes[(regime, day)] = outcome
    order = sorted(outcomes, key=lambda k: (list(markets).index(k[0]), k[1]))
    results = pd.concat([outcomes[k].rows for k in order], ignore_index=True)
    results = normalize_result_types(results)
    allocations, models = [], {}
    for regime in markets:
        keys = [k for k in order if k[0] == regime]
        if not keys:
            continue
        rep = outcomes[keys[-1]]
        models[regime] = rep.model
        if rep.schedules is not None:
            frame = rep.schedules.assign(regime=regime, date=rep.rows["date"].iloc[0])
            allocations.append(frame)
    alloc = (
        pd.concat(allocations, ignore_index=True)[
            ["regime", "date", "size_spec", "size_shares", "strategy", "interval", "shares"]
        ]
        if allocations
        else pd.DataFrame(
            columns=["regime", "date", "size_spec", "size_shares", "strategy", "interval", "shares"]
        )
    )
    return Evaluation(
        results=results, allocations=alloc, models=models, elapsed_s=time.perf_counter() - start
    )
