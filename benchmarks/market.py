"""Benchmark the realisation engine and the synthetic market generator.

Prints the time to realise 10,000 schedules (250 days x a batch of 40 schedules per day,
390 intervals, 10 levels) with and without transient and permanent impact, against the
reference of walking each schedule's books one at a time with ``BookSnapshots.walk``
(measured on a subset and scaled), and the time to synthesize 250 days x 390 x 10 levels.

Run: ``python benchmarks/market.py``.
"""

from __future__ import annotations

import time

import numpy as np

from simulator.market import Market
from simulator.synthetic import synthesize_market

DAYS, BATCH, INTERVALS, LEVELS = 250, 40, 390, 10


def _best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    synth_s = _best_of(
        lambda: synthesize_market("u_shape", days=DAYS, intervals=INTERVALS, levels=LEVELS), 2
    )
    print(f"synthesize {DAYS} days x {INTERVALS} intervals x {LEVELS} levels: {synth_s:.3f} s")
    markov_s = _best_of(
        lambda: synthesize_market("markov", days=DAYS, intervals=INTERVALS, levels=LEVELS), 2
    )
    print(f"synthesize markov regime, same size:            {markov_s:.3f} s")

    books = synthesize_market("u_shape", days=DAYS, intervals=INTERVALS, levels=LEVELS).books
    rng = np.random.default_rng(0)
    schedules = rng.dirichlet(np.ones(INTERVALS), size=(DAYS, BATCH)) * 20_000.0

    for label, kwargs in [
        ("no transient/permanent", {}),
        ("half-life 5, gamma 1e-5", {"transient_half_life": 5.0, "permanent_impact": 1e-5}),
    ]:
        market = Market(books, **kwargs)

        def run(market=market):
            for day in range(DAYS):
                market.realize(day, schedules[day])

        seconds = _best_of(run)
        print(f"realize {DAYS * BATCH:,} schedules ({label}): {seconds:.3f} s (target < 1 s)")

    # Reference: one schedule at a time through BookSnapshots.walk (no batching).
    subset = 20
    start = time.perf_counter()
    for day in range(subset):
        one = books.select_days(day)
        for k in range(BATCH):
            one.walk(schedules[day, k][None, :, None])
    ref = (time.perf_counter() - start) * DAYS / subset
    batched = _best_of(lambda: [Market(books).realize(d, schedules[d]) for d in range(DAYS)])
    print(
        f"reference one-by-one walks (scaled from {subset} days): {ref:.3f} s; "
        f"speed-up of the batched engine: {ref / batched:.1f}x"
    )


if __name__ == "__main__":
    main()
