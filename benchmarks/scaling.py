"""A scaling study you can reproduce: per-task cost, bytes shipped, fit count, projections.

Runs one walk-forward study shaped like ``scenarios/large.yaml`` (markov regime, power-law
model refitted every 5 test days on 20 training days, 10 sizes, 6 strategies plus the
oracle) three ways - ``n_jobs=1``, ``n_jobs=2`` (loky, cold pool) and a Dask ``LocalCluster``
of 2 worker processes - checks the results are identical and the fit count the same, and
measures, in this process:

* per-task time: one fit and plan of a training window (the model, then every strategy's
  schedule of every size) and one test day (execution, oracle, scores);
* per-task bytes shipped to a worker (pickled task) and back (pickled outcome), for both
  ways ``evaluate`` cuts the work (:func:`simulator.evaluate._one_task_per_block`): one
  task per refit block (the window's books and its days' books out, the days' rows back),
  or a fit task per window (books out, plans back) and then a task per day (the day's books
  and the window's plans out, rows back);
* the driver's own time per task (building, pickling and collecting it).

It then projects the wall time of 500 stocks x 250 test days on 8, 64 and 256 workers with
this model (stated, not fitted)::

    T(W) = T_start + T_driver + max(T_work / (W * e), T_bytes)

    T_work   = F * t_fit + D * t_day             (F windows, D stock-days, measured times)
    T_driver = F * t_driver                      (serial: the driver dispatches every task)
    T_bytes  = F * (b_block + b_block_result) / bandwidth     (driver's link, 1 Gbit/s)
    T_start  = measured cold start of one worker (workers start in parallel)
    e        = measured parallel efficiency of n_jobs=2 on this machine (speed-up / 2)

with one task per block, the cut ``evaluate`` makes whenever F >= 4 W (true for every W
here: F = 25,000).  The two-stage cut's bytes are printed beside it for comparison.

Usage: ``python benchmarks/scaling.py [--days 60] [--stocks 500] [--study-days 250]``
"""

from __future__ import annotations

import argparse
import math
import pickle
import time
import warnings

import numpy as np
import pandas as pd

from simulator import EvaluationSettings, SizeSpec, evaluate, synthesize_market
from simulator.daytask import labelled_strategies, run_day_task
from simulator.evaluate import _blocks, _run_block, _tasks, _windows, plan_test_days
from simulator.plan import plan_window, prepare_inputs
from strategies import get_strategy

STRATEGIES = (
    ("equal", {}),
    ("vwap", {}),
    ("analytical", {}),
    ("exact", {}),
    ("nonlinear-optimal", {"solver": "exact"}),
    ("almgren-chriss", {}),
)
BANDWIDTH_BYTES_PER_S = 1e9 / 8


def _settings(days: int, training: int, refit: int) -> EvaluationSettings:
    sizes = SizeSpec(shares=tuple(float(s) for s in np.arange(20_000, 200_001, 20_000)))
    return EvaluationSettings(
        sizes=sizes, model_kind="power", training_days=training, refit_every=refit, oracle=True
    )


def _per_task(books, strategies, settings, repeats: int = 3):
    """Median seconds and pickled bytes of one window's fit and plan, of one test day and of
    one refit block (the window and its days as one task)."""
    markets = {"markov": books}
    windows = _windows(markets, settings, set())
    regime, start, stop = windows[len(windows) // 2]
    train = books.select_days(slice(start, stop))
    labelled = labelled_strategies(tuple(strategies))
    fit_s, inputs = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        inputs = plan_window(prepare_inputs(train, settings), labelled, settings)
        fit_s.append(time.perf_counter() - t0)
    fit_bytes = len(pickle.dumps((regime, start, stop, train, labelled, settings)))
    fit_back = len(pickle.dumps(inputs))
    prepared = {w: inputs for w in windows}
    task = next(_tasks(markets, strategies, settings, "scaling", set(), prepared))
    day_s, outcome = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        outcome = run_day_task(task)
        day_s.append(time.perf_counter() - t0)
    block = [b for b in _blocks(markets, labelled, settings, "scaling", set())][len(windows) // 2]
    t0 = time.perf_counter()
    block_bytes = len(pickle.dumps(block))
    finished = _run_block(block)
    block_back = len(pickle.dumps(finished))
    pickle.loads(pickle.dumps(finished))
    t_block = time.perf_counter() - t0
    t0 = time.perf_counter()
    pickle.dumps(block)
    pickle.loads(pickle.dumps(finished))
    driver_s = time.perf_counter() - t0
    return {
        "t_fit": float(np.median(fit_s)),
        "t_day": float(np.median(day_s)),
        "t_block": t_block,
        "block_days": len(block.days),
        "fit_bytes": fit_bytes,
        "fit_back": fit_back,
        "task_bytes": len(pickle.dumps(task)),
        "back_bytes": len(pickle.dumps(outcome)),
        "block_bytes": block_bytes,
        "block_back": block_back,
        "t_driver": driver_s,
    }


def _cold_worker_start() -> float:
    """Seconds for a fresh interpreter to import what a task needs."""
    import subprocess
    import sys

    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import simulator.daytask"], check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60, help="test days of the measured run")
    parser.add_argument("--training-days", type=int, default=20)
    parser.add_argument("--refit-every", type=int, default=5)
    parser.add_argument("--stocks", type=int, default=500)
    parser.add_argument("--study-days", type=int, default=250)
    args = parser.parse_args()
    for name in ("days", "training_days", "refit_every", "stocks", "study_days"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    warnings.simplefilter("ignore")

    settings = _settings(args.days, args.training_days, args.refit_every)
    books = synthesize_market(
        "markov", days=args.days + args.training_days, intervals=390, levels=10, seed=0
    ).books
    strategies = [(name, get_strategy(name, **params)) for name, params in STRATEGIES]
    n_windows = len({(s, e) for _, s, e in plan_test_days(books.n_days, settings)})
    print(
        f"study: markov, power model, {args.days} test days x 10 sizes x {len(strategies)} "
        f"strategies + oracle, refit every {args.refit_every} days -> {n_windows} windows"
    )
    runs, frames = {}, {}
    for label, n_jobs, backend in (
        ("n_jobs=1", 1, "loky"),
        ("n_jobs=2", 2, "loky"),
        ("dask 2 workers", 2, "dask"),
    ):
        t0 = time.perf_counter()
        ev = evaluate(books, strategies, settings, n_jobs=n_jobs, backend=backend)
        runs[label] = (time.perf_counter() - t0, ev.fit_count, ev.fit_seconds)
        frames[label] = ev.results.drop(columns=["solve_ms"])
    for label in runs:
        pd.testing.assert_frame_equal(frames["n_jobs=1"], frames[label])
    print(f"{'run':<16} {'wall s':>8} {'fits':>5} {'fit s':>7} {'speed-up':>9}")
    serial = runs["n_jobs=1"][0]
    for label, (wall, fits, fit_s) in runs.items():
        print(f"{label:<16} {wall:8.2f} {fits:5d} {fit_s:7.2f} {serial / wall:8.2f}x")
    print(
        "results identical across the three: yes; fit count identical: "
        f"{'yes' if len({r[1] for r in runs.values()}) == 1 else 'NO'}"
    )

    m = _per_task(books, strategies, settings)
    print(
        f"per task: fit and plan {1e3 * m['t_fit']:.1f} ms; test day {1e3 * m['t_day']:.1f} ms; "
        f"refit block of {m['block_days']} days {1e3 * m['t_block']:.0f} ms; driver "
        f"{1e3 * m['t_driver']:.2f} ms per block"
    )
    per_block_two_stage = (
        m["fit_bytes"] + m["fit_back"] + m["block_days"] * (m["task_bytes"] + m["back_bytes"])
    )
    print(
        f"bytes per refit block: one task {(m['block_bytes'] + m['block_back']) / 1e6:.2f} MB "
        f"({m['block_bytes'] / 1e6:.2f} out, {m['block_back'] / 1e3:.0f} kB back); two stages "
        f"{per_block_two_stage / 1e6:.2f} MB (fit {m['fit_bytes'] / 1e6:.2f} MB out, plans "
        f"{m['fit_back'] / 1e3:.0f} kB back; per day {m['task_bytes'] / 1e3:.0f} kB out, "
        f"{m['back_bytes'] / 1e3:.0f} kB back)"
    )
    start = _cold_worker_start()
    efficiency = min(1.0, serial / runs["n_jobs=2"][0] / 2.0)
    print(f"cold worker start {start:.2f} s; parallel efficiency at 2 workers {efficiency:.2f}")

    fits = args.stocks * math.ceil(args.study_days / args.refit_every)
    days = args.stocks * args.study_days
    work = fits * m["t_fit"] + days * m["t_day"]
    driver = fits * m["t_driver"]
    shipped = fits * (m["block_bytes"] + m["block_back"])
    link = shipped / BANDWIDTH_BYTES_PER_S
    print(
        f"\nprojection: {args.stocks} stocks x {args.study_days} test days = {days:,} stock-days, "
        f"{fits:,} fits; work {work / 3600:.1f} CPU-hours, {shipped / 1e9:.1f} GB shipped"
    )
    print(f"{'workers':>8} {'compute h':>10} {'link h':>7} {'driver h':>9} {'wall h':>7}")
    for workers in (8, 64, 256):
        compute = work / (workers * efficiency)
        wall = start + driver + max(compute, link)
        print(
            f"{workers:8d} {compute / 3600:10.2f} {link / 3600:7.2f} {driver / 3600:9.2f} "
            f"{wall / 3600:7.2f}"
        )


if __name__ == "__main__":
    main()
