"""Walk-forward (and in-sample) evaluation of strategies across days, sizes and markets.

``evaluate`` is the one code path: serial, joblib (loky or threading) and a Dask cluster all
run the same functions - per training window, fit the model and plan every size with every
strategy (:func:`simulator.plan.plan_window`); per test day, realise the window's plans
(:func:`simulator.daytask.run_day_task`) - and results are sorted by task key, so they do
not depend on ``n_jobs`` or the backend.

How the work is cut into tasks is chosen by :func:`_one_task_per_block`: with at least
:data:`_BLOCKS_PER_WORKER` training windows per worker (serial runs always), a window and
its refit block of test days are one task, so plans never travel; otherwise a task fits each
window and then a task runs each day, so few windows still spread over many workers.  Each
window is fitted exactly once either way.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from models import BookSnapshots
from models.errors import InvalidParameterError
from strategies import Strategy

from .daytask import (
    DayOutcome,
    DayTask,
    labelled_strategies,
    normalize_result_types,
    run_day_task,
)
from .parts import PartStore, write_part
from .plan import DayInputs, plan_window, prepare_inputs
from .settings import BACKENDS, EvaluationSettings
from .workers import check_scheduler, effective_n_jobs, shutdown_loky, watch_parent

__all__ = ["Evaluation", "WorkerPool", "evaluate", "parallel_backend", "plan_test_days"]


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
    fit_count : int
        Model fits performed: one per training window still to run (a refit block of
        ``refit_every`` test days shares one), whatever ``n_jobs`` or the backend.
    fit_seconds : float
        Total wall time of those fits, in seconds (summed over workers).
    """

    results: pd.DataFrame
    allocations: pd.DataFrame
    models: dict
    elapsed_s: float
    fit_count: int = 0
    fit_seconds: float = 0.0

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


def _days_to_run(
    markets: Mapping[str, BookSnapshots],
    settings: EvaluationSettings,
    skip: set[tuple[str, int]],
) -> Iterator[tuple[str, int, int, int, bool]]:
    """``(regime, day, start, stop, representative)`` of every test day not in ``skip``, in
    market and day order; ``representative`` marks each market's last test day."""
    for regime, books in markets.items():
        plan = plan_test_days(books.n_days, settings)
        last = plan[-1][0]
        for d, start, stop in plan:
            if (regime, d) not in skip:
                yield regime, d, start, stop, d == last


def _windows(
    markets: Mapping[str, BookSnapshots],
    settings: EvaluationSettings,
    skip: set[tuple[str, int]],
) -> list[tuple[str, int, int]]:
    """Distinct training windows ``(regime, start, stop)`` of the days still to run."""
    seen = dict.fromkeys(
        (r, start, stop) for r, _, start, stop, _ in _days_to_run(markets, settings, skip)
    )
    return list(seen)


_MANIFEST_EVERY_S = 1.0
"""How stale the part manifest may get while days finish (a killed run recomputes them)."""


def _fit_window(
    regime: str,
    start: int,
    stop: int,
    train: BookSnapshots,
    strategies: tuple[tuple[str, Strategy], ...],
    settings: EvaluationSettings,
) -> tuple[tuple[str, int, int], DayInputs]:
    """Fit one training window and plan every size with every strategy on it."""
    inputs = prepare_inputs(train, settings)
    return (regime, start, stop), plan_window(inputs, labelled_strategies(strategies), settings)


def _tasks(
    markets: Mapping[str, BookSnapshots],
    strategies: Sequence[tuple[str, Strategy]],
    settings: EvaluationSettings,
    scenario: str,
    skip: set[tuple[str, int]],
    inputs: Mapping[tuple[str, int, int], DayInputs],
) -> Iterator[DayTask]:
    for regime, d, start, stop, last in _days_to_run(markets, settings, skip):
        yield DayTask(
            scenario=scenario,
            regime=regime,
            day_index=d,
            inputs=inputs[(regime, start, stop)],
            test=markets[regime].select_days([d]),
            strategies=tuple(strategies),
            settings=settings,
            keep_schedules=last,
        )


def _keyed(task: DayTask, parts_dir: Path | None = None):
    """Run one day task; with ``parts_dir`` also write its part there (in the worker)."""
    outcome = run_day_task(task)
    files = (
        None if parts_dir is None else write_part(parts_dir, task.regime, task.day_index, outcome)
    )
    return task.regime, task.day_index, outcome, files


@dataclass(frozen=True, eq=False)
class BlockTask:
    """A training window and the test days still to run that plan with it.

    One task fits the window, plans every size with every strategy, then runs each day:
    the fitted model and the plans never travel, only the window's and the days' books.

    Parameters
    ----------
    scenario : str
    regime : str
    start, stop : int
        Training window ``[start, stop)`` (day positions in the full market).
    train : BookSnapshots
        The window's books.
    days : tuple of (int, BookSnapshots, bool)
        ``(day_index, the day's books, keep_schedules)`` per test day, in day order.
    strategies : tuple of (str, Strategy)
    settings : EvaluationSettings
    """

    scenario: str
    regime: str
    start: int
    stop: int
    train: BookSnapshots
    days: tuple[tuple[int, BookSnapshots, bool], ...]
    strategies: tuple[tuple[str, Strategy], ...]
    settings: EvaluationSettings


def _run_block(block: BlockTask, parts_dir: Path | None = None):
    """Fit and plan a block's window once, then run (and store) each of its days."""
    key, inputs = _fit_window(
        block.regime, block.start, block.stop, block.train, block.strategies, block.settings
    )
    done = [
        _keyed(
            DayTask(
                scenario=block.scenario,
                regime=block.regime,
                day_index=day,
                inputs=inputs,
                test=test,
                strategies=block.strategies,
                settings=block.settings,
                keep_schedules=keep,
            ),
            parts_dir,
        )
        for day, test, keep in block.days
    ]
    return key, inputs.fit_seconds, done


def _blocks(
    markets: Mapping[str, BookSnapshots],
    strategies: Sequence[tuple[str, Strategy]],
    settings: EvaluationSettings,
    scenario: str,
    skip: set[tuple[str, int]],
) -> Iterator[BlockTask]:
    # Day numbers only here: each block's books are cut when joblib asks for the block.
    by_window: dict[tuple[str, int, int], list[tuple[int, bool]]] = {}
    for regime, d, start, stop, last in _days_to_run(markets, settings, skip):
        by_window.setdefault((regime, start, stop), []).append((d, last))
    for (regime, start, stop), days in by_window.items():
        books = markets[regime]
        yield BlockTask(
            scenario=scenario,
            regime=regime,
            start=start,
            stop=stop,
            train=books.select_days(slice(start, stop)),
            days=tuple((d, books.select_days([d]), last) for d, last in days),
            strategies=tuple(strategies),
            settings=settings,
        )


_BLOCKS_PER_WORKER = 4
"""Blocks (training windows) per worker from which a window's days run as one task."""


def _one_task_per_block(n_windows: int, n_jobs: int) -> bool:
    """Whether each training window's days run as one task (fit, plan and days together)
    rather than a fit task per window and then a task per day.

    One task per block ships nothing but books; with fewer than
    :data:`_BLOCKS_PER_WORKER` blocks per worker (few refits, many workers, or a remote
    cluster of unknown size: ``n_jobs`` < 1) the days of a block are spread over the
    workers instead.  Both give the same fits, the same results and the same fit count.
    """
    return n_jobs == 1 or (n_jobs >= 1 and n_windows >= _BLOCKS_PER_WORKER * n_jobs)


class WorkerPool:
    """The workers of an entered :func:`parallel_backend`: whether they are warm yet.

    Attributes
    ----------
    backend : str
    n_jobs : int
        Workers (after the core cap).
    """

    def __init__(self, backend: str, n_jobs: int, config: dict | None = None, client=None) -> None:
        self.backend = backend
        self.n_jobs = n_jobs
        # joblib's parallel_config is per thread: the warm-up thread re-enters the same one,
        # or loky would see other executor arguments and replace the warm workers.
        self._config = dict(config or {})
        self._client = client  # the Dask client, for the 'dask' backend
        self._warming: threading.Thread | None = None
        self._warm_up_error: Exception | None = None

    def warm_up(self) -> None:
        """Start the workers now, in the background, and import what tasks need there.

        A cold worker spends about a second importing numpy, pandas and scipy; started
        while the driver builds or loads the markets, that time is hidden.  loky workers are
        started by one task each; every worker of a Dask cluster runs the imports directly
        (``Client.run``; a cluster whose workers have them already pays nothing).
        """
        if self._warming is not None or self.backend == "threading" or self.n_jobs == 1:
            return
        if self.backend == "dask":
            if self._client is None:
                return
            client = self._client

            def start():
                client.run(_import_task_modules)

        else:
            import joblib

            def start():
                with joblib.parallel_config(**self._config):
                    joblib.Parallel(n_jobs=self.n_jobs)(
                        joblib.delayed(_import_task_modules)() for _ in range(self.n_jobs)
                    )

        def warm():
            try:
                start()
            except Exception as exc:  # raised by ready(), in the caller's thread
                self._warm_up_error = exc

        self._warming = threading.Thread(target=warm, name="tradealloc-warm-up", daemon=True)
        self._warming.start()

    def ready(self) -> None:
        """Wait until the warm-up (if any) has finished; raise what it raised (e.g. a worker
        that cannot import the task modules), with the worker's own error."""
        self.wait()
        if self._warm_up_error is not None:
            raise self._warm_up_error

    def wait(self) -> None:
        """Wait until the warm-up (if any) has finished, whatever its outcome."""
        if self._warming is not None:
            self._warming.join()

    def starmap(self, function, items) -> list:
        """``[function(*item) for item in items]``, in order, computed on the workers.

        For work after the evaluation (summary groups, figures) while the workers are still
        warm.  Runs here, one item after another, with one worker or a single item.  Must be
        called inside the :func:`parallel_backend` context that made this pool.
        """
        import joblib

        items = [tuple(item) for item in items]
        if self.n_jobs == 1 or len(items) <= 1:
            return [function(*item) for item in items]
        self.ready()
        runner = joblib.Parallel(n_jobs=self.n_jobs if self.backend != "dask" else -1)
        return list(runner(joblib.delayed(function)(*item) for item in items))


def _import_task_modules() -> int:
    from . import daytask  # noqa: F401  (numpy, pandas, scipy, models, strategies)

    return os.getpid()


@contextlib.contextmanager
def parallel_backend(backend: str, n_jobs: int, scheduler: str | None = None):
    """joblib backend context; a Dask client (given or a local cluster) for 'dask'.

    Yields a :class:`WorkerPool`; call its ``warm_up()`` to start the workers before the
    first task.  Every exit path (success, error, interrupt, SIGTERM) shuts the workers
    down: loky's reusable executor is terminated and a local Dask cluster closed.  loky
    workers also end themselves when the driver dies
    (:func:`simulator.workers.watch_parent`).
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
        pool = WorkerPool(backend, n_jobs, {"backend": backend, "n_jobs": n_jobs, **options})
        try:
            with joblib.parallel_config(backend=backend, n_jobs=n_jobs, **options):
                yield pool
        finally:
            pool.wait()
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
        import dask

        # dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers (to return memory to
        # the OS in long-lived clusters); glibc then stops adapting its mmap threshold, every
        # array above 128 kB is mapped afresh and the power-law fit runs 2.7x slower.  A
        # cluster that lives for one run does not need it.
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            cluster = LocalCluster(
                n_workers=n_jobs, threads_per_worker=1, processes=True, dashboard_address=None
            )
        try:
            client = Client(cluster)
        except BaseException:
            cluster.close()
            raise
    pool = WorkerPool(backend, n_jobs, client=client)
    try:
        with joblib.parallel_config(backend="dask"):
            yield pool
    finally:
        pool.wait()
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
    pool: WorkerPool | None = None,
) -> Evaluation:
    """Evaluate strategies on one or more markets: per training window, fit and plan once;
    per test day, execute, find the oracle and score (tasks cut as the module docstring says).

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
    pool : WorkerPool, optional
        The caller already entered :func:`parallel_backend` with these settings (its
        workers may be warming up while the markets were built); it is used as is.

    Returns
    -------
    Evaluation
    """
    import joblib

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
    outcomes: dict[tuple[str, int], DayOutcome] = dict(done)
    windows = _windows(markets, settings, set(done))
    inputs: dict[tuple[str, int, int], DayInputs] = {}
    inputs_seconds: dict[tuple[str, int, int], float] = {}  # fit and plan time per window
    if windows:
        context = parallel_backend(backend, n_jobs, scheduler) if pool is None else _given(pool)
        with context as active:
            active.ready()
            runner = joblib.Parallel(
                n_jobs=n_jobs if backend != "dask" else -1, return_as="generator_unordered"
            )
            # Workers on this machine write their own parts (the driver only records them);
            # a Dask cluster's workers may not share its file system.
            local_parts = store.directory if store is not None and backend != "dask" else None
            n_tasks = sum(1 for _ in _days_to_run(markets, settings, set(done)))
            if _one_task_per_block(len(windows), n_jobs):
                blocks = _blocks(markets, labelled, settings, scenario, set(done))
                stream = runner(joblib.delayed(_run_block)(b, local_parts) for b in blocks)
                finished = _block_days(stream, inputs_seconds)
            else:
                # Stage 1: one fit and one plan per training window, wherever they run.
                fits = runner(
                    joblib.delayed(_fit_window)(
                        regime,
                        start,
                        stop,
                        markets[regime].select_days(slice(start, stop)),
                        tuple(labelled),
                        settings,
                    )
                    for regime, start, stop in windows
                )
                for key, prepared in _progress(
                    fits, len(windows), quiet, scenario, "fit", "window"
                ):
                    inputs[key] = prepared
                    inputs_seconds[key] = prepared.fit_seconds
                # Stage 2: one task per test day, carrying its window's small inputs and its
                # own day's books; built lazily as joblib dispatches them.
                tasks = _tasks(markets, labelled, settings, scenario, set(done), inputs)
                finished = runner(joblib.delayed(_keyed)(task, local_parts) for task in tasks)
            try:
                for regime, day, outcome, files in _progress(
                    finished, n_tasks, quiet, scenario, "", "day"
                ):
                    if files is not None:
                        store.record(regime, day, files, flush_after_s=_MANIFEST_EVERY_S)
                    elif store is not None:
                        store.save(regime, day, outcome)
                    outcomes[(regime, day)] = outcome
            finally:  # an interrupted run keeps every part it recorded
                if store is not None:
                    store.flush()
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
        results=results,
        allocations=alloc,
        models=models,
        elapsed_s=time.perf_counter() - start,
        fit_count=len(inputs_seconds),
        fit_seconds=float(sum(inputs_seconds.values())),
    )


def _block_days(stream, seconds: dict):
    """The days of finished blocks, one at a time; each block's fit time goes to ``seconds``."""
    for key, fit_seconds, days in stream:
        seconds[key] = fit_seconds
        yield from days


def _progress(stream, total: int, quiet: bool, scenario: str, stage: str, unit: str):
    from tqdm.auto import tqdm

    desc = (scenario or "evaluate") + (f" ({stage})" if stage else "")
    return tqdm(
        stream, total=total, disable=quiet, delay=2.0, file=sys.stderr, desc=desc, unit=unit
    )


@contextlib.contextmanager
def _given(pool: WorkerPool):
    yield pool
