"""The seed notebook's trade-allocation workflow with tradealloc — then out of sample.

Steps (each a function, so ``trade_allocation.ipynb`` runs the very same code):

1. fit the linear and nonlinear (power-law) impact models per minute on order-book data
   (the real FROG day from ``../shared/data`` when present, otherwise a synthetic day) and
   print their summaries;
2. buy S = 100,000 shares over N = 390 minutes: SciPy SLSQP, CVXPY, the closed form, the
   nonlinear model and the exact water-filling solver;
3. the comparison table and the four-panel figure;
4. the sensitivity analysis for 50,000 to 200,000 shares;
5. export strategy_comparison.csv, sensitivity_analysis.csv, optimal_allocations.csv and
   optimization_results.pkl;
6. what the notebook could not show: the same strategies walk-forward out of sample on a
   multi-day market calibrated to the data, realised versus predicted, with the improvement's
   bootstrap confidence interval, and a reading of in-sample versus out-of-sample.

Run: ``python examples/trade_allocation.py --out results/trade_allocation`` (add ``--quick``
for a smaller out-of-sample study).
"""

from __future__ import annotations

import argparse
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from models import BookSnapshots, ImpactModel  # noqa: E402
from simulator import (  # noqa: E402
    EvaluationSettings,
    SizeSpec,
    calibrate_params,
    evaluate,
    load_databento_mbp10,
    synthesize_market,
)
from simulator.summary import summarize  # noqa: E402
from strategies import AllocationProblem, get_strategy  # noqa: E402
from strategies.allocator import TradeAllocator, solve_analytical_linear  # noqa: E402

TOTAL_SHARES = 100_000
N_INTERVALS = 390
SENSITIVITY_SHARES = (50_000, 75_000, 100_000, 150_000, 200_000)
REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "databento_mbp10" / "FROG_2025-04-03_mbp10.csv.gz"


@dataclass(frozen=True)
class Fitted:
    """The data and the two seed models fitted on it."""

    books: BookSnapshots
    source: str
    linear: ImpactModel
    nonlinear: ImpactModel


def step1_fit_models(data_path: Path | None = DEFAULT_DATA) -> Fitted:
    """Fit the linear and nonlinear models per minute and print the seed's summary."""
    if data_path is not None and Path(data_path).is_file():
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the data-quality line is printed below instead
            books, report = load_databento_mbp10(data_path, return_report=True)
        source = f"real data: {Path(data_path).name}"
        print(f"Loaded {books!r}\n  data quality: {report.summary()}")
    else:
        books = synthesize_market("u_shape", days=1, seed=7).books
        source = "synthetic u_shape day (real data not found)"
        print(f"Real data not found; using {books!r}")
    linear = ImpactModel("linear").fit(books)
    nonlinear = ImpactModel("nonlinear").fit(books)
    beta = linear.get_model_summary()["beta"]
    nl = nonlinear.get_model_summary()
    print(f"Linear model: {len(linear.fitted_models)} minutes fitted")
    print(
        f"  beta ($/share^2): mean {beta.mean():.3e}, std {beta.std():.3e}, "
        f"range [{beta.min():.3e}, {beta.max():.3e}]"
    )
    print(f"Nonlinear model: {len(nonlinear.fitted_models)} minutes fitted")
    print(
        f"  delta: median {nl['delta'].median():.3f}, "
        f"quartiles [{nl['delta'].quantile(0.25):.3f}, {nl['delta'].quantile(0.75):.3f}]; "
        f"median R^2 {nl['r2'].median():.3f}"
    )
    return Fitted(books=books, source=source, linear=linear, nonlinear=nonlinear)


def step2_solve(fitted: Fitted, total_shares: float = TOTAL_SHARES) -> dict[str, dict]:
    """Solve the allocation with every method; returns name -> dict(allocation, impact, method)."""
    n = fitted.linear.n_intervals
    lin = TradeAllocator(fitted.linear, total_shares, n)
    nonlin = TradeAllocator(fitted.nonlinear, total_shares, n)
    out = {}
    equal = np.full(n, total_shares / n)
    out["Equal Allocation"] = dict(
        allocation=equal, impact=lin.objective_function(equal), method="Baseline", model="linear"
    )
    for name, result, method in (
        ("Linear (Scipy)", lin.optimize_scipy(method="SLSQP"), "Scipy SLSQP"),
        ("Linear (CVXPY)", lin.optimize_cvxpy(), "CVXPY"),
    ):
        print(
            f"{name}: success={result['success']}, total impact "
            f"${result['total_impact']:,.2f} ({result.get('message', result.get('status'))})"
        )
        if result["success"]:
            out[name] = dict(
                allocation=result["allocation"],
                impact=result["total_impact"],
                method=method,
                model="linear",
            )
    beta = np.array([fitted.linear.parameters[t]["beta"] for t in range(n)])
    analytical = solve_analytical_linear(beta, total_shares)
    out["Linear (Analytical)"] = dict(
        allocation=analytical,
        impact=lin.objective_function(analytical),
        method="Analytical",
        model="linear",
    )
    exact = get_strategy("exact").schedule(AllocationProblem(fitted.linear.model, total_shares))
    out["Linear (Exact)"] = dict(
        allocation=exact,
        impact=lin.objective_function(exact),
        method="Exact water-filling",
        model="linear",
    )
    nl_result = nonlin.optimize_scipy(method="SLSQP")
    print(
        f"Nonlinear (Scipy): success={nl_result['success']}, total impact "
        f"${nl_result['total_impact']:,.2f}"
    )
    if nl_result["success"]:
        out["Nonlinear (Scipy)"] = dict(
            allocation=nl_result["allocation"],
            impact=nl_result["total_impact"],
            method="Scipy SLSQP",
            model="nonlinear",
        )
    nl_exact = get_strategy("exact").schedule(
        AllocationProblem(fitted.nonlinear.model, total_shares)
    )
    out["Nonlinear (Exact)"] = dict(
        allocation=nl_exact,
        impact=nonlin.objective_function(nl_exact),
        method="Exact water-filling",
        model="nonlinear",
    )
    # Improvement is measured under the model each schedule was optimised for.
    out["Equal (nonlinear model)"] = dict(
        allocation=equal,
        impact=nonlin.objective_function(equal),
        method="Baseline",
        model="nonlinear",
    )
    return out


def step3_compare(results: dict[str, dict], out_dir: Path) -> pd.DataFrame:
    """The comparison table (impact, improvement over equal, dispersion) and the figure."""
    equal_impact = {r["model"]: r["impact"] for r in results.values() if r["method"] == "Baseline"}
    rows = []
    for name, r in results.items():
        if name == "Equal (nonlinear model)":
            continue
        x = r["allocation"]
        rows.append(
            {
                "Strategy": name,
                "Method": r["method"],
                "Model": r["model"],
                "Total Impact": r["impact"],
                "Improvement %": 100.0
                * (equal_impact[r["model"]] - r["impact"])
                / equal_impact[r["model"]],
                "Allocation Std": x.std(),
                "Min Allocation": x.min(),
                "Max Allocation": x.max(),
            }
        )
    table = pd.DataFrame(rows).sort_values(["Model", "Total Impact"], ignore_index=True)
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.4f}"))

    fig, axes = plt.subplots(2, 2, figsize=(16, 11))
    for name, r in results.items():
        if name != "Equal (nonlinear model)":
            axes[0, 0].plot(r["allocation"], lw=1.2, label=name, alpha=0.85)
    axes[0, 0].set(title="Trade allocation over the day", xlabel="minute", ylabel="shares")
    axes[0, 0].legend(fontsize=8)
    pos = np.arange(len(table))
    for ax, col, title in (
        (axes[0, 1], "Total Impact", "Total market impact ($)"),
        (axes[1, 0], "Improvement %", "Improvement over equal (%)"),
        (axes[1, 1], "Allocation Std", "Allocation std (shares)"),
    ):
        ax.bar(pos, table[col])
        ax.set_xticks(pos, table["Strategy"], rotation=40, ha="right", fontsize=8)
        ax.set_title(title)
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(out_dir / "strategy_comparison.png", dpi=100)
    plt.close(fig)
    return table


def step4_sensitivity(fitted: Fitted, out_dir: Path, sizes=SENSITIVITY_SHARES) -> pd.DataFrame:
    """Optimal versus equal impact for 50,000 to 200,000 shares (linear model, SLSQP)."""
    rows = []
    n = fitted.linear.n_intervals
    for shares in sizes:
        alloc = TradeAllocator(fitted.linear, shares, n)
        result = alloc.optimize_scipy(method="SLSQP")
        if not result["success"]:
            print(f"  {shares:,} shares: SLSQP failed ({result['message']})")
            continue
        equal = alloc.objective_function(np.full(n, shares / n))
        rows.append(
            {
                "Shares": shares,
                "Optimal Impact": result["total_impact"],
                "Equal Impact": equal,
                "Improvement %": 100.0 * (equal - result["total_impact"]) / equal,
                "Allocation Std": result["allocation"].std(),
            }
        )
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.4f}"))
    fig, axes = plt.subplots(1, 2, figsize=(14, 5))
    axes[0].plot(table["Shares"], table["Improvement %"], "o-")
    axes[0].set(
        xlabel="total shares",
        ylabel="improvement over equal (%)",
        title="Optimisation benefit versus trade size",
    )
    axes[1].plot(table["Shares"], table["Optimal Impact"], "o-", label="optimal")
    axes[1].plot(table["Shares"], table["Equal Impact"], "s-", label="equal")
    axes[1].set(xlabel="total shares", ylabel="total impact ($)", title="Impact scaling")
    axes[1].legend()
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_dir / "sensitivity_analysis.png", dpi=100)
    plt.close(fig)
    return table


def step5_export(results, comparison, sensitivity, out_dir: Path) -> list[Path]:
    """Write the seed's four exports into ``out_dir``."""
    paths = [
        out_dir / "strategy_comparison.csv",
        out_dir / "sensitivity_analysis.csv",
        out_dir / "optimal_allocations.csv",
        out_dir / "optimization_results.pkl",
    ]
    comparison.to_csv(paths[0], index=False)
    sensitivity.to_csv(paths[1], index=False)
    alloc = pd.DataFrame({"time": np.arange(N_INTERVALS)})
    for name, r in results.items():
        if name != "Equal (nonlinear model)":
            alloc[name] = r["allocation"]
    alloc.to_csv(paths[2], index=False)
    with open(paths[3], "wb") as fh:
        pickle.dump(
            {
                "parameters": {"total_shares": TOTAL_SHARES, "n_intervals": N_INTERVALS},
                "results": {k: {kk: vv for kk, vv in v.items()} for k, v in results.items()},
                "comparison": comparison,
                "sensitivity": sensitivity,
            },
            fh,
        )
    print("Exported: " + ", ".join(p.name for p in paths))
    return paths


def step6_out_of_sample(
    fitted: Fitted, out_dir: Path, *, days: int = 40, training_days: int = 10, seed: int = 0
) -> dict:
    """Walk-forward out of sample on a market calibrated to the data, versus in sample."""
    profile = calibrate_params(fitted.books)
    market = synthesize_market(
        "calibrated", profile=profile, days=days, intervals=fitted.books.n_intervals, seed=seed
    ).books
    strategies = [
        ("equal", get_strategy("equal")),
        ("vwap", get_strategy("vwap")),
        ("linear-optimal", get_strategy("linear-optimal", solver="cvxpy")),
        ("analytical", get_strategy("analytical")),
        ("exact", get_strategy("exact")),
    ]
    sizes = SizeSpec(shares=(50_000.0, float(TOTAL_SHARES), 200_000.0))
    tables = {}
    for mode in ("in_sample", "walk_forward"):
        settings = EvaluationSettings(
            sizes=sizes,
            training_days=training_days,
            mode=mode,
            test_days=days - training_days,
            seed=seed,
            bootstrap_samples=2000,
        )
        ev = evaluate(market, strategies, settings, scenario=f"seed-{mode}")
        summary = summarize(ev.results, bootstrap_samples=2000, seed=seed)
        ev.results.to_csv(out_dir / f"{mode}_results.csv", index=False)
        summary.to_csv(out_dir / f"{mode}_summary.csv", index=False)
        tables[mode] = summary
    cols = [
        "size_spec",
        "strategy",
        "mean_predicted_bps",
        "mean_realized_bps",
        "improvement_pct",
        "improvement_ci_low_pct",
        "improvement_ci_high_pct",
        "win_rate",
        "bias_bps",
        "rmse_bps",
    ]
    for mode, table in tables.items():
        print(f"\n{mode.replace('_', ' ')} ({days - training_days} test days):")
        print(table[cols].to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    reading = _reading(tables)
    print("\n" + reading)
    (out_dir / "reading.txt").write_text(reading + "\n")
    return {"tables": tables, "reading": reading}


def _reading(tables: dict[str, pd.DataFrame]) -> str:
    """A short written reading of in-sample versus out-of-sample improvement, from the numbers."""
    ins, oos = tables["in_sample"], tables["walk_forward"]
    key = ["size_spec", "strategy"]
    both = ins.set_index(key)[["improvement_pct"]].rename(
        columns={"improvement_pct": "improvement_pct_in"}).join(
        oos.set_index(key)[["improvement_pct", "improvement_ci_low_pct",
                            "improvement_ci_high_pct", "rmse_bps"]].rename(
            columns={"improvement_pct": "improvement_pct_out"})).reset_index()
    row = both[(both["strategy"] == "exact") & (both["size_spec"] == TOTAL_SHARES)].iloc[0]
    lines = [
        f"Reading: for {TOTAL_SHARES:,} shares the exact optimum saves "
        f"{row['improvement_pct_in']:.2f}% of equal's realised cost when the model is fitted "
        f"on the very day it trades (in sample), and {row['improvement_pct_out']:.2f}% "
        f"(95% CI {row['improvement_ci_low_pct']:.2f}% to {row['improvement_ci_high_pct']:.2f}%)"
        " on days the model has not seen (walk-forward).",
    ]
    gap = row["improvement_pct_in"] - row["improvement_pct_out"]
    if gap > 0:
        lines.append(
            f"The {gap:.2f} point gap is the price of estimating each minute's liquidity from "
            "other days: the fitted profile captures the intraday pattern, but not the "
            "day-specific noise the in-sample fit sees in hindsight, so part of the notebook's "
            "improvement was look-ahead."
        )
    else:
        lines.append(
            "The out-of-sample improvement is no smaller than in sample here: the pooled "
            "training window estimates the persistent intraday pattern better than one day's "
            "noisy book does."
        )
    if row["improvement_ci_low_pct"] > 0:
        lines.append("The interval excludes zero: the saving is real on this market.")
    else:
        lines.append(
            "The interval includes zero: on this market the saving is not "
            "distinguishable from equal allocation out of sample."
        )
    by_size = both[both["strategy"] == "exact"].sort_values("size_spec")
    trend = ", ".join(f"{r.size_spec:,.0f}: {r.improvement_pct_out:.1f}%"
                      for r in by_size.itertuples())
    lines.append(
        "Under the seed's linear model with h = 0 the predicted improvement in percent is the "
        "same for every order size (cost scales with S squared, so the optimal shape does not "
        f"depend on S); out of sample it does depend on size ({trend}), because the real cost "
        "of a large child order is driven by depth the model extrapolates.")
    return " ".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "results" / "trade_allocation")
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="Databento MBP-10 file to fit on (synthetic when missing)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller out-of-sample study")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    fitted = step1_fit_models(args.data)
    results = step2_solve(fitted)
    comparison = step3_compare(results, args.out)
    sensitivity = step4_sensitivity(fitted, args.out)
    step5_export(results, comparison, sensitivity, args.out)
    step6_out_of_sample(
        fitted, args.out, days=16 if args.quick else 40, training_days=5 if args.quick else 10
    )
    print(f"\nOutputs in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
