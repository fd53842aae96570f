"""Cost of robust planning: its solve time next to exact's, the evidence per training window,
and the scale grid with and without it - every figure a ratio measured in the same run.

1. Solve time at N = 390 (one schedule, the problem's evidence included): ``robust`` against
   ``exact`` on problems of a fitted 20-day window - markov with the power model (no cap)
   and u_shape with the linear model (30% participation cap) - median of repeated calls.
2. The evidence per training window: :func:`models.fit_per_day` plus
   :meth:`strategies.TrainingEvidence.from_per_day_fit` (what ``prepare_inputs`` does now)
   against :func:`models.fit_impact_model` alone (what it did before), and the bytes shipped
   with each test day.
3. The grid of ``scenarios/large.yaml`` (markov, power model, refit every 5 days, 10 sizes,
   oracle on) with its six other strategies, then with ``robust`` added: wall time ratio
   (target <= 2x).

Usage: ``python benchmarks/robust.py [--days 250] [--n-jobs 2] [--repeats 200]``
"""

from __future__ import annotations

import argparse
import pickle
import time
import warnings

import numpy as np

from models import fit_impact_model, fit_per_day
from simulator import EvaluationSettings, SizeSpec, evaluate, synthesize_market
from simulator.plan import DayInputs, build_problem, prepare_inputs
from strategies import TrainingEvidence, get_strategy

LARGE_STRATEGIES = (
    ("equal", {}),
    ("vwap", {}),
    ("analytical", {}),
    ("exact", {}),
    ("nonlinear-optimal", {"solver": "exact"}),
    ("almgren-chriss", {}),
)
LARGE_SIZES = tuple(float(s) for s in range(20_000, 200_001, 20_000))


def _paired_ms(reference, candidate, repeats: int) -> tuple[float, float]:
    """Median wall times (ms) of two callables timed alternately, so that the load of a
    shared machine hits both alike."""
    reference()  # warm: imports, caches
    candidate()
    times = np.empty((repeats, 2))
    for i in range(repeats):
        for j, fn in enumerate((reference, candidate)):
            start = time.perf_counter()
            fn()
            times[i, j] = time.perf_counter() - start
    ref, cand = 1e3 * np.median(times, axis=0)
    return float(ref), float(cand)


def solve_times(repeats: int) -> None:
    print("1. solve time per schedule at N = 390 (median, ms)")
    cases = (("markov", "power", None), ("u_shape", "linear", 0.3))
    for regime, kind, cap in cases:
        books = synthesize_market(regime, days=20, seed=0).books
        settings = EvaluationSettings(
            sizes=SizeSpec(adv_fraction=(0.02, 0.08, 0.2)),
            model_kind=kind,
            training_days=20,
            max_participation=cap,
        )
        inputs = prepare_inputs(books, settings)
        exact, robust = get_strategy("exact"), get_strategy("robust")
        for spec, size in inputs.sizes:
            problem = build_problem(inputs, size, settings)
            t_exact, t_robust = _paired_ms(
                lambda p=problem, st=exact: st.schedule(p),
                lambda p=problem, st=robust: st.schedule(p),
                repeats,
            )
            print(
                f"   {regime:<8} {kind:<6} cap {cap!s:<4} {spec:>4.0%} of ADV: exact "
                f"{t_exact:7.3f}  robust {t_robust:7.3f}  ratio {t_robust / t_exact:5.1f}x"
            )


def evidence_cost(repeats: int) -> None:
    print("2. per training window (20 days x 390 intervals x 10 levels, median, ms)")
    for regime, kind in (("markov", "power"), ("u_shape", "linear")):
        books = synthesize_market(regime, days=20, seed=0).books

        def pooled(b=books, k=kind):
            return fit_impact_model(b, k, beyond_depth_bps=25.0)

        def with_evidence(b=books, k=kind):
            fit = fit_per_day(b, k, beyond_depth_bps=25.0)
            return fit.pooled, TrainingEvidence.from_per_day_fit(fit)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_pooled, t_evidence = _paired_ms(pooled, with_evidence, max(5, repeats // 10))
            settings = EvaluationSettings(sizes=SizeSpec(adv_fraction=(0.02,)), model_kind=kind)
            inputs = prepare_inputs(books, settings)
        bare = DayInputs(**{**inputs.__dict__, "evidence": None})
        print(
            f"   {regime:<8} {kind:<6}: fit_impact_model {t_pooled:6.2f}, fit_per_day + "
            f"evidence {t_evidence:6.2f} ({t_evidence / t_pooled:4.2f}x); evidence "
            f"{inputs.evidence.nbytes / 1e3:5.1f} kB, pickled DayInputs "
            f"{len(pickle.dumps(bare)) / 1e3:5.1f} -> {len(pickle.dumps(inputs)) / 1e3:5.1f} kB"
        )


def grid(days: int, n_jobs: int) -> None:
    print(
        f"3. grid of scenarios/large.yaml: {days} test days x {len(LARGE_SIZES)} sizes, "
        f"markov, power model, refit every 5 days, oracle on, n_jobs={n_jobs}"
    )
    books = synthesize_market("markov", days=days + 20, seed=0).books
    settings = EvaluationSettings(
        sizes=SizeSpec(shares=LARGE_SIZES),
        model_kind="power",
        training_days=20,
        refit_every=5,
        oracle=True,
    )
    base = [(name, get_strategy(name, **params)) for name, params in LARGE_STRATEGIES]
    timings = {}
    # A first small run starts the worker processes, so neither timed run pays for it.
    evaluate(books.select_days(slice(0, 22)), base[:1], settings, n_jobs=n_jobs)
    for label, strategies in (
        ("without robust", base),
        ("with robust", [*base, ("robust", get_strategy("robust"))]),
    ):
        start = time.perf_counter()
        ev = evaluate(books, strategies, settings, n_jobs=n_jobs)
        timings[label] = time.perf_counter() - start
        per = ev.results.groupby("strategy")["solve_ms"].mean()
        print(
            f"   {label:<15}: {timings[label]:7.2f} s wall, {len(ev.results)} rows, "
            f"{int((~ev.results['success']).sum())} failed; mean solve ms: exact "
            f"{per['exact']:.3f}" + (f", robust {per['robust']:.3f}" if "robust" in per else "")
        )
    ratio = timings["with robust"] / timings["without robust"]
    print(f"   grid with robust / without: {ratio:.2f}x (target <= 2x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=250, help="test days of the grid")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per solve")
    args = parser.parse_args()
    solve_times(args.repeats)
    evidence_cost(args.repeats)
    grid(args.days, args.n_jobs)


if __name__ == "__main__":
    main()
