"""Time to fit impact models on 20 days x 390 intervals x 10 levels (target: < 2 s each).

Synthetic books are built inline with numpy (levels 1-3 ticks apart, lognormal sizes
with a U-shaped intraday depth profile).  As references measured in the same run, the
per-interval loops a direct implementation would use: ``numpy.polyfit`` for the linear
model and ``scipy.optimize.curve_fit`` for the power law.

Run: ``python benchmarks/fit.py``.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import curve_fit

from models import BookSnapshots, fit_impact_model, regular_session_starts

DAYS, INTERVALS, LEVELS = 20, 390, 10
TICK = 0.01


def synthetic_books(seed: int = 0) -> BookSnapshots:
    """Random but valid books (days, intervals, levels) with a U-shaped depth profile."""
    rng = np.random.default_rng(seed)
    shape = (DAYS, INTERVALS, LEVELS)
    minute = np.arange(INTERVALS) / (INTERVALS - 1)
    depth_profile = 300.0 * (0.4 + 2.4 * (minute - 0.5) ** 2)[None, :, None]
    mid = 50.0 + np.cumsum(rng.normal(0, 0.02, (DAYS, INTERVALS)), axis=1)
    half_spread = TICK * rng.integers(1, 4, (DAYS, INTERVALS)) / 2
    steps = TICK * rng.integers(1, 4, shape)
    steps[..., 0] = 0.0
    offsets = half_spread[..., None] + np.cumsum(steps, axis=-1)
    sizes = depth_profile * rng.lognormal(0.0, 0.5, shape)
    return BookSnapshots(
        bid_px=mid[..., None] - offsets,
        bid_sz=sizes,
        ask_px=mid[..., None] + offsets,
        ask_sz=sizes,
        volume=np.full((DAYS, INTERVALS), 1e4),
        dates=np.datetime64("2024-01-02") + np.arange(DAYS),
        interval_starts=regular_session_starts(),
    )


def best_of(fn, repeat: int = 3) -> float:
    """Fastest wall time of ``repeat`` calls, seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def loop_reference(books: BookSnapshots, kind: str) -> float:
    """Seconds for a per-interval loop fitting the same pooled observations."""
    x = np.cumsum(books.ask_sz, axis=-1)
    y = books.walk(x, "buy").slippage
    start = time.perf_counter()
    for t in range(INTERVALS):
        xt, yt = x[:, t].ravel(), y[:, t].ravel()
        if kind == "linear":
            np.polyfit(xt, yt, 1)
        else:
            s = xt.max()
            curve_fit(
                lambda u, h, a, d: h + a * u**d,
                xt / s,
                yt,
                p0=[yt.min(), yt.max() - yt.min(), 1.0],
                bounds=([0, 0, 0.05], [np.inf, np.inf, 3.0]),
            )
    return time.perf_counter() - start


def main() -> None:
    books = synthetic_books()
    print(f"fit_impact_model on {DAYS} days x {INTERVALS} intervals x {LEVELS} levels")
    for kind in ("linear", "power", "book"):
        seconds = best_of(lambda kind=kind: fit_impact_model(books, kind))
        line = f"  {kind:<7s} {seconds:7.3f} s  (target < 2 s: {'ok' if seconds < 2 else 'SLOW'})"
        if kind != "book":
            ref = loop_reference(books, kind)
            line += f"; per-interval loop reference {ref:7.3f} s, speed-up x{ref / seconds:.1f}"
        print(line)
    seconds = best_of(lambda: fit_impact_model(books, "power", smoothing=3.0))
    print(f"  power, smoothing=3 intervals {seconds:7.3f} s")


if __name__ == "__main__":
    main()
