"""Wall time of a walk-forward grid: 250 synthetic days x 10 sizes.

Part ``jobs``: equal, vwap, analytical, exact, nonlinear-optimal (exact solver) and
almgren-chriss, on a linear model refitted before every test day (window 10 days).  Runs the
same grid with n_jobs=1 and n_jobs=2 (loky), checks both give identical results, and prints
the speed-up and peak memory (driver and worker processes).

Part ``adaptive``: the same grid (same market, model, caps, sizes, oracle) with the adaptive
policy instead of the static optimum: ``equal + exact`` against ``equal + adaptive`` (each
with the oracle), run alternately ``--repeat`` times with the same n_jobs (each of
``--n-jobs``); prints both wall times (the fastest of the repeats) and their ratio (target:
adaptive <= 4x exact).  The
adaptive policy steps through every interval of every day and size (decisions checked and
clipped, the market stepped once per interval for all sizes).

Usage: ``python benchmarks/grid.py [--days 250] [--sizes 10] [--part all|jobs|adaptive]
[--n-jobs 1 2] [--repeat 2]``
"""

from __future__ import annotations

import argparse
import threading
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


class _PeakMemory:
    """Samples the resident memory of this process and its children (the joblib workers)."""

    def __init__(self, interval_s: float = 0.1) -> None:
        import psutil

        self._proc = psutil.Process()
        self._interval = interval_s
        self.driver_mb = 0.0
        self.total_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        import psutil

        driver = self._proc.memory_info().rss
        total = driver
        for child in self._proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                continue
        self.driver_mb = max(self.driver_mb, driver / 2**20)
        self.total_mb = max(self.total_mb, total / 2**20)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self._interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _setup(args):
    t0 = time.perf_counter()
    books = synthesize_market("u_shape", days=args.days + args.training_days, seed=1).books
    synth_s = time.perf_counter() - t0
    sizes = SizeSpec(adv_fraction=tuple(np.linspace(0.005, 0.1, args.sizes)))
    settings = EvaluationSettings(
        sizes=sizes, training_days=args.training_days, max_participation=0.25, oracle=True
    )
    print(f"market: {books!r} synthesized in {synth_s:.2f} s")
    return books, settings


def _jobs(args, books, settings) -> None:
    strategies = [(name, get_strategy(name, **params)) for name, params in STRATEGIES]
    print(
        f"grid: {args.days} test days x {args.sizes} sizes x {len(strategies)} strategies "
        "(+ oracle), walk-forward, linear model refitted daily"
    )
    timings, frames, memory = {}, {}, {}
    # n_jobs=2 runs twice: 'cold' includes starting the worker processes (about a second:
    # they import numpy, pandas, scipy), 'warm' reuses them as a long study or a second
    # scenario in the same session would.
    for label, n_jobs in (("1", 1), ("2 cold", 2), ("2 warm", 2)):
        with _PeakMemory() as mem:
            start = time.perf_counter()
            ev = evaluate(books, strategies, settings, n_jobs=n_jobs, quiet=True)
            timings[label] = time.perf_counter() - start
        memory[label] = mem
        frames[label] = ev.results.drop(columns=["solve_ms"])
        failed = int((~ev.results["success"]).sum())
        print(
            f"n_jobs={label:<7}: {timings[label]:7.2f} s wall, {len(ev.results)} rows, "
            f"{failed} failed, peak memory driver {mem.driver_mb:.0f} MB, "
            f"driver + workers {mem.total_mb:.0f} MB"
        )
    for label in ("2 cold", "2 warm"):
        pd.testing.assert_frame_equal(frames["1"], frames[label])
    print("results identical across n_jobs: yes")
    for label in ("2 cold", "2 warm"):
        print(
            f"speed-up n_jobs={label} vs n_jobs=1: {timings['1'] / timings[label]:.2f}x "
            "(target >= 1.6x; n_jobs=2 target <= 60 s)"
        )
    per = ev.results.groupby("strategy")["solve_ms"].mean().sort_values()
    print("mean solve time per schedule (ms):")
    print(per.to_string(float_format=lambda v: f"{v:8.3f}"))


def _adaptive(args, books, settings) -> None:
    grids = {name: [(name, get_strategy(name))] for name in ("exact", "adaptive")}
    for n_jobs in args.n_jobs:
        print(
            f"grid: {args.days} test days x {args.sizes} sizes, equal + exact vs equal + "
            f"adaptive (+ oracle each), linear model refitted daily, n_jobs={n_jobs}, fastest "
            f"of {args.repeat}"
        )
        # Start (and warm) the workers once so that neither grid pays for it.
        warm = books.select_days(slice(0, args.training_days + 1))
        evaluate(warm, grids["exact"], settings, n_jobs=n_jobs, quiet=True)
        best: dict[str, float] = {}
        results = {}
        for _ in range(args.repeat):
            for name, strategies in grids.items():
                start = time.perf_counter()
                ev = evaluate(books, strategies, settings, n_jobs=n_jobs, quiet=True)
                elapsed = time.perf_counter() - start
                best[name] = min(best.get(name, np.inf), elapsed)
                results[name] = ev.results
                print(
                    f"  {name:<8}: {elapsed:7.2f} s wall, {len(ev.results)} rows, "
                    f"{int((~ev.results['success']).sum())} failed"
                )
        print(
            f"n_jobs={n_jobs}: exact grid {best['exact']:.2f} s, adaptive grid "
            f"{best['adaptive']:.2f} s, ratio {best['adaptive'] / best['exact']:.2f}x "
            "(target <= 4x)"
        )
        gains = {}
        for name, res in results.items():
            rows = res[res["success"] & (res["strategy"] == name)]
            gains[name] = (rows["solve_ms"].mean(), rows["improvement_vs_equal_bps"].mean())
        per_order = gains["adaptive"][0]
        n = books.n_intervals
        print(
            f"  adaptive: {per_order:.1f} ms per order (plan and {n} decisions, "
            f"{1e3 * per_order / n:.1f} us per decision); mean improvement over equal "
            f"{gains['adaptive'][1]:.2f} bps (exact {gains['exact'][1]:.2f} bps)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=250, help="test days")
    parser.add_argument("--sizes", type=int, default=10)
    parser.add_argument("--training-days", type=int, default=10)
    parser.add_argument("--part", choices=("all", "jobs", "adaptive"), default="all")
    parser.add_argument(
        "--n-jobs", type=int, nargs="+", default=[1, 2], help="workers of the adaptive part"
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs of each adaptive-part grid")
    args = parser.parse_args()

    books, settings = _setup(args)
    if args.part in ("all", "jobs"):
        _jobs(args, books, settings)
    if args.part in ("all", "adaptive"):
        _adaptive(args, books, settings)


if __name__ == "__main__":
    main()
