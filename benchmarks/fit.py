"""Time to fit impact models on 20 days x 390 intervals x 10 levels, as ratios to linear.

Synthetic books are built inline with numpy (levels 1-3 ticks apart, lognormal sizes
with a U-shaped intraday depth profile).  Every time is the best of a few calls, all
measured in this run: the default linear fit is the unit (power-law fits are reported as
multiples of it), and the references are the per-interval loops a direct implementation
would use (``numpy.polyfit``, ``scipy.optimize.curve_fit``) and, when git can read it, the
power-law fit of commit 8e91906 (per-interval exponent, golden-section search) loaded from
the repository history.

Run: ``python benchmarks/fit.py``.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import curve_fit

from models import BookSnapshots, fit_impact_model, fit_per_day, regular_session_starts

DAYS, INTERVALS, LEVELS = 20, 390, 10
TICK = 0.01
BASELINE_COMMIT = "8e91906"


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


def best_of(fn, repeat: int = 5) -> float:
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


def baseline_fit():
    """``fit_impact_model`` of commit 8e91906, loaded from git history (None if unavailable)."""
    repo = Path(__file__).resolve().parent.parent
    try:
        source = subprocess.run(
            ["git", "-C", str(repo), "show", f"{BASELINE_COMMIT}:models/fitting.py"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    name = "models._fitting_baseline"
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "models"
    sys.modules[name] = module
    exec(compile(source, f"{BASELINE_COMMIT}:models/fitting.py", "exec"), module.__dict__)
    return module.fit_impact_model


def main() -> None:
    warnings.simplefilter("ignore")
    books = synthetic_books()
    print(f"fit_impact_model on {DAYS} days x {INTERVALS} intervals x {LEVELS} levels")
    unit = best_of(lambda: fit_impact_model(books, "linear"))
    cases = [
        ("linear (h=half_spread, default)", {"kind": "linear"}),
        ("linear h=fit", {"kind": "linear", "h": "fit"}),
        ("linear h=per_day", {"kind": "linear", "h": "per_day"}),
        ("power (pooled delta, default)", {"kind": "power"}),
        ("power delta=per_interval", {"kind": "power", "delta": "per_interval"}),
        ("power h=fit, delta=per_interval", {"kind": "power", "h": "fit", "delta": "per_interval"}),
        ("power h=per_day, pooled delta", {"kind": "power", "h": "per_day"}),
        ("power, smoothing=3 intervals", {"kind": "power", "smoothing": 3.0}),
        ("book", {"kind": "book"}),
    ]
    times = {}
    for label, kwargs in cases:
        times[label] = best_of(lambda kwargs=kwargs: fit_impact_model(books, **kwargs))
        print(f"  {label:<38s} {1e3 * times[label]:8.1f} ms  ({times[label] / unit:4.1f}x linear)")
    per_day = best_of(lambda: fit_per_day(books, "power"))
    label = "fit_per_day power (pooled + each day)"
    print(f"  {label:<38s} {1e3 * per_day:8.1f} ms  ({per_day / unit:4.1f}x linear)")

    old = baseline_fit()
    if old is None:
        print(f"\n(commit {BASELINE_COMMIT} not readable with git: baseline skipped)")
    else:
        old_power = best_of(lambda: old(books, "power"), 3)
        old_linear = best_of(lambda: old(books, "linear"), 3)
        new_pi = times["power h=fit, delta=per_interval"]
        print(
            f"\ncommit {BASELINE_COMMIT}, same books, same run: linear {1e3 * old_linear:.1f} ms, "
            f"power (h=fit, per-interval delta) {1e3 * old_power:.1f} ms = "
            f"{old_power / old_linear:.1f}x its linear\n"
            f"  speed-up of the same power fit now: x{old_power / new_pi:.1f}; "
            f"of the default power fit (pooled delta): "
            f"x{old_power / times['power (pooled delta, default)']:.1f}"
        )
    for kind in ("linear", "power"):
        ref = loop_reference(books, kind)
        label = (
            "linear (h=half_spread, default)" if kind == "linear" else "power delta=per_interval"
        )
        print(
            f"per-interval loop reference ({'polyfit' if kind == 'linear' else 'curve_fit'}) "
            f"{ref:7.3f} s; speed-up of {label}: x{ref / times[label]:.1f}"
        )


if __name__ == "__main__":
    main()
