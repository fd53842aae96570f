"""Wall time of a walk-forward grid: 250 synthetic days x 10 sizes x 6 strategies.

Strategies: equal, vwap, analytical, exact, nonlinear-optimal (exact solver) and
almgren-chriss, on a linear model refitted before every test day (window 10 days).  Runs the
same grid with n_jobs=1 and n_jobs=2 (loky), checks both give identical results, and prints
the speed-up and peak memory (driver and worker processes).

Usage: ``python benchmarks/grid.py [--days 250] [--sizes 10]``
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from simulator import EvaluationSettings, SizeSpec, evaluate, synthesize_market
from strategies import get_strategy

STRATEGIES = (
    ("equal", {}),
    ("vwap", {}),
    ("analytical", {}),
    ("exact", {}),
    ("nonlinear-optimal", {"solver": "exact"}),
    ("almgren-chriss", {}),
)


def _peak_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=250, help="test days")
    parser.add_argument("--sizes", type=int, default=10)
    parser.add_argument("--training-days", type=int, default=10)
    args = parser.parse_args()

    t0 = time.perf_counter()
    books = synthesize_market("u_shape", days=args.days + args.training_days, seed=1).books
    synth_s = time.perf_counter() - t0
    strategies = [(name, get_strategy(name, **params)) for name, params in STRATEGIES]
    sizes = SizeSpec(adv_fraction=tuple(np.linspace(0.005, 0.1, args.sizes)))
    settings = EvaluationSettings(
        sizes=sizes, training_days=args.training_days, max_participation=0.25, oracle=True
    )
    print(f"market: {books!r} synthesized in {synth_s:.2f} s")
    print(
        f"grid: {args.days} test days x {args.sizes} sizes x {len(strategies)} strategies "
        "(+ oracle), walk-forward, linear model refitted daily"
    )
    timings, frames = {}, {}
    for n_jobs in (1, 2):
        start = time.perf_counter()
        ev = evaluate(books, strategies, settings, n_jobs=n_jobs, quiet=True)
        timings[n_jobs] = time.perf_counter() - start
        frames[n_jobs] = ev.results.drop(columns=["solve_ms"])
        failed = int((~ev.results["success"]).sum())
        print(
            f"n_jobs={n_jobs}: {timings[n_jobs]:7.2f} s wall, {len(ev.results)} rows, "
            f"{failed} failed"
        )
    pd.testing.assert_frame_equal(frames[1], frames[2])
    own, children = _peak_mb()
    print(
        f"speed-up n_jobs=2 / n_jobs=1: {timings[1] / timings[2]:.2f}x "
        f"(target >= 1.6x; n_jobs=2 target <= 60 s)"
    )
    print("results identical across n_jobs: yes")
    print(f"peak memory: driver {own:.0f} MB, largest worker {children:.0f} MB")
    per = ev.results.groupby("strategy")["solve_ms"].mean().sort_values()
    print("mean solve time per schedule (ms):")
    print(per.to_string(float_format=lambda v: f"{v:8.3f}"))


if __name__ == "__main__":
    main()
