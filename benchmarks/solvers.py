"""Exact water-filling vs CVXPY, SLSQP and the unconstrained closed form, with binding caps.

Run: python benchmarks/solvers.py [--slsqp-max-n 390] [--repeats 200]

Prints, for N = 390, 1,560 and 23,400 (linear model with h > 0 and participation caps that
bind): time per solve, objective gap relative to the best reference, and speed ratios; the
power-law paths as multiples of the linear solve measured in the same run (and of the power
solver of commit 8e91906, read from git history) and the almgren-chriss risk QP (vs CVXPY on
the same QP); then a batch of 10,000 problems (250 days x 40 sizes), by variable fixing and by
the sorted-breakpoint reference, and the same batch with power laws (h > 0, per-interval
delta) next to it. SLSQP is skipped above --slsqp-max-n (it takes seconds at N = 390 already
and grows superlinearly).
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import numpy as np

from models import LinearImpact, PowerLawImpact
from strategies import (
    AllocationProblem,
    get_strategy,
    solve_cvxpy,
    solve_exact,
    solve_exact_batch,
    solve_slsqp,
)
from strategies.builtin import closed_form_linear
from strategies.exact import waterfill_linear

BASELINE_COMMIT = "8e91906"


def _market(n: int, rng: np.random.Generator):
    t = np.linspace(-1, 1, n)
    volume = 390 / n * 3e4 * (1 + 2 * t**2) * rng.uniform(0.7, 1.3, n)
    beta = 2e-5 * (n / 390) / (1 + 2 * t**2) * rng.uniform(0.5, 1.5, n)
    h = rng.uniform(0.005, 0.015, n)
    return LinearImpact(beta=beta, h=h), volume


def _time(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--slsqp-max-n", type=int, default=390)
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    for n in (390, 1560, 23400):
        model, volume = _market(n, rng)
        cap = 0.1 * volume
        s = 0.05 * volume.sum()
        p = AllocationProblem(model, s, upper=cap)
        reps = max(3, args.repeats * 390 // n)
        t_exact = _time(lambda: solve_exact(model, s, upper=cap), reps)  # noqa: B023
        x = solve_exact(model, s, upper=cap)
        beta = model.beta
        t_closed = _time(lambda: closed_form_linear(beta, s), reps)  # noqa: B023
        binding = int(np.sum(x >= cap - 1e-9))
        cvx = solve_cvxpy(p, reuse=False)  # whole solve: build, canonicalise, solve
        refs = {"cvxpy": cvx}
        if n <= 1560:
            # Re-solve of the cached parametrised QP (its first call builds it); it exhausts
            # memory at N = 23,400 inside CVXPY's canonicalisation.
            solve_cvxpy(p)
            refs["cvxpy-cached"] = solve_cvxpy(p)
        if n <= args.slsqp_max_n:
            refs["slsqp"] = solve_slsqp(p)
        f_exact = p.objective(x)
        best = min(r.objective for r in refs.values() if r.success) if refs else f_exact
        print(f"\nN = {n}: S = {s:,.0f} shares, {binding} of {n} caps bind")
        print(
            f"  exact        {1e3 * t_exact:10.3f} ms   objective {f_exact:,.6f} $ "
            f"(gap vs best reference {(f_exact - best) / best:+.2e})"
        )
        print(f"  closed form  {1e3 * t_closed:10.3f} ms   (unconstrained, h ignored: the floor)")
        for name, r in refs.items():
            print(
                f"  {name:<12} {r.solve_ms:10.3f} ms   objective {r.objective:,.6f} $ "
                f"(gap vs exact {(r.objective - f_exact) / f_exact:+.2e}, success={r.success})"
            )
        print(f"  ratio exact vs cvxpy: {cvx.solve_ms / (1e3 * t_exact):,.0f}x faster")
        if "cvxpy-cached" in refs:
            ratio = refs["cvxpy-cached"].solve_ms / (1e3 * t_exact)
            print(f"  ratio exact vs cvxpy-cached re-solve: {ratio:,.0f}x faster")
        if "slsqp" in refs:
            print(
                f"  ratio exact vs slsqp: {refs['slsqp'].solve_ms / (1e3 * t_exact):,.0f}x faster"
            )
        else:
            print(f"  slsqp skipped at N = {n} (> --slsqp-max-n {args.slsqp_max_n})")
        print(f"  ratio exact / closed form: {t_exact / t_closed:.1f}x the floor")

        _power_paths(n, rng, reps)
        _risk_qp(model, p, reps)

    n = 390
    days = [_market(n, np.random.default_rng(1000 + d)) for d in range(250)]
    sizes = np.geomspace(0.005, 0.08, 40)
    models = [m for m, _ in days for _ in sizes]
    caps = np.stack([0.1 * v for _, v in days for _ in sizes])
    totals = np.array([f * v.sum() for _, v in days for f in sizes])
    t0 = time.perf_counter()
    xb = solve_exact_batch(models, totals, upper=caps)
    t_batch = time.perf_counter() - t0
    betas = np.stack([m.beta for m in models])
    hs = np.stack([m.h for m in models])
    t0 = time.perf_counter()
    xr = waterfill_linear(betas, hs, totals, None, caps, method="breakpoints")
    t_ref = time.perf_counter() - t0
    err = np.max(np.abs(xb.sum(axis=1) - totals) / totals)
    diff = np.max(np.abs(xb - xr) / np.abs(xr).max(axis=1, keepdims=True))
    print(
        f"\nbatch of {len(totals):,} problems (250 days x 40 sizes, N = {n}, caps): "
        f"{t_batch:.2f} s total, {1e6 * t_batch / len(totals):.1f} us per problem, "
        f"max relative total error {err:.1e}\n"
        f"  sorted-breakpoint reference: {t_ref:.2f} s total "
        f"({1e6 * t_ref / len(totals):.1f} us per problem), max relative difference {diff:.1e}"
    )
    _power_batch()


def _baseline_waterfill_power():
    """``waterfill_power`` of commit 8e91906 from git history (None if unavailable)."""
    repo = Path(__file__).resolve().parent.parent
    try:
        source = subprocess.run(
            ["git", "-C", str(repo), "show", f"{BASELINE_COMMIT}:strategies/exact.py"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    namespace: dict = {"__name__": "strategies._exact_baseline"}
    exec(compile(source, f"{BASELINE_COMMIT}:strategies/exact.py", "exec"), namespace)
    return namespace["waterfill_power"]


def _power_paths(n: int, rng: np.random.Generator, reps: int) -> None:
    """Power law with binding caps, each path timed next to the linear solve of the same size.

    h = 0 with one delta (closed-form fast path), h > 0 (Newton), and h > 0 with a delta per
    interval (Newton): the ratio is to ``solve_exact`` on a linear model with h > 0 and the
    same caps, measured just before; the solver of commit 8e91906 is timed on the same
    problems when git can read it.
    """
    t = np.linspace(-1, 1, n)
    volume = 390 / n * 3e4 * (1 + 2 * t**2) * rng.uniform(0.7, 1.3, n)
    alpha = 2e-3 * np.sqrt(n / 390) / (1 + 2 * t**2) * rng.uniform(0.5, 1.5, n)
    beta = 2e-5 * (n / 390) / (1 + 2 * t**2) * rng.uniform(0.5, 1.5, n)
    cap, s = 0.1 * volume, 0.05 * volume.sum()
    linear = LinearImpact(beta=beta, h=rng.uniform(0.005, 0.015, n))
    reps = max(3, reps // 4)
    t_lin = _time(lambda: solve_exact(linear, s, upper=cap), reps)
    print(f"  {'linear h>0 (reference)':<27} {1e3 * t_lin:8.3f} ms")
    cases = {
        "power h=0, one delta": PowerLawImpact(alpha=alpha, delta=0.5),
        "power h>0 (Newton)": PowerLawImpact(alpha=alpha, delta=0.5, h=0.01),
        "power per-t delta (Newton)": PowerLawImpact(
            alpha=alpha, delta=rng.uniform(0.4, 0.7, n), h=rng.uniform(0.005, 0.015, n)
        ),
    }
    old = _baseline_waterfill_power()
    for name, model in cases.items():
        t_solve = _time(lambda: solve_exact(model, s, upper=cap), reps)  # noqa: B023
        x = solve_exact(model, s, upper=cap)
        line = (
            f"  {name:<27} {1e3 * t_solve:8.3f} ms = {t_solve / t_lin:4.1f}x linear   "
            f"({int(np.sum(x >= cap - 1e-9))} caps bind, sum error {abs(x.sum() - s) / s:.0e})"
        )
        if old is not None and name != "power h=0, one delta":
            args = (model.alpha, model.delta, model.h, s)
            t_old = _time(lambda: old(*args, upper=cap), reps)  # noqa: B023
            gap = np.abs(old(*args, upper=cap)[0] - x).max() / x.max()
            line += (
                f"; {BASELINE_COMMIT}: {1e3 * t_old:.3f} ms = {t_old / t_lin:.1f}x linear "
                f"(max difference {gap:.0e})"
            )
        print(line)


def _power_batch() -> None:
    """A batch of 10,000 power-law problems (h > 0, per-interval delta) next to linear."""
    n, days, sizes = 390, 250, np.geomspace(0.005, 0.08, 40)
    rng = np.random.default_rng(7)
    t = np.linspace(-1, 1, n)
    pw, lin, caps, totals = [], [], [], []
    for _ in range(days):
        volume = 3e4 * (1 + 2 * t**2) * rng.uniform(0.7, 1.3, n)
        h = rng.uniform(0.005, 0.015, n)
        p = PowerLawImpact(
            alpha=2e-3 / (1 + 2 * t**2) * rng.uniform(0.5, 1.5, n),
            delta=rng.uniform(0.4, 0.7, n),
            h=h,
        )
        m = LinearImpact(beta=2e-5 / (1 + 2 * t**2) * rng.uniform(0.5, 1.5, n), h=h)
        for f in sizes:
            pw.append(p)
            lin.append(m)
            caps.append(0.1 * volume)
            totals.append(f * volume.sum())
    caps, totals = np.stack(caps), np.array(totals)
    t_lin = _time(lambda: solve_exact_batch(lin, totals, upper=caps), 1)
    t_pow = _time(lambda: solve_exact_batch(pw, totals, upper=caps), 1)
    x = solve_exact_batch(pw, totals, upper=caps)
    err = np.max(np.abs(x.sum(axis=1) - totals) / totals)
    print(
        f"\nbatch of {totals.size:,} power-law problems (h > 0, per-interval delta, caps): "
        f"{t_pow:.2f} s = {t_pow / t_lin:.1f}x the linear batch ({t_lin:.2f} s), "
        f"max relative total error {err:.1e}"
    )


def _risk_qp(model, problem: AllocationProblem, reps: int) -> None:
    """almgren-chriss with binding caps: the structured active-set QP vs CVXPY on the same QP."""
    import cvxpy as cp

    n = problem.n_intervals
    sigma = 0.05 * np.sqrt(390 / n)  # $/share per sqrt(interval)
    s, cap = problem.total_shares, problem.upper
    for lam in (1e-6, 1e-4):
        strat = get_strategy("almgren-chriss", risk_aversion=lam, sigma=sigma)
        t_solve = _time(lambda: strat.solve(problem), max(3, reps // 20))  # noqa: B023
        res = strat.solve(problem)
        w = lam * sigma**2
        var = cp.Variable(n)
        expr = model.beta @ cp.square(var) + model.h @ var + w * cp.sum_squares(s - cp.cumsum(var))
        prob = cp.Problem(cp.Minimize(expr), [cp.sum(var) == s, var >= 0, var <= cap])
        t0 = time.perf_counter()
        prob.solve(solver=cp.CLARABEL)
        t_cvx = time.perf_counter() - t0

        f, f_ref = (
            float(np.sum(model.beta * x**2 + model.h * x) + w * np.sum((s - np.cumsum(x)) ** 2))
            for x in (res.x, np.clip(var.value, 0, cap))
        )
        print(
            f"  almgren-chriss lambda={lam:g} {1e3 * t_solve:8.3f} ms   ({res.n_iter} active-set "
            f"solves, {int(np.sum(res.x >= cap - 1e-9))} caps bind; cvxpy {1e3 * t_cvx:.1f} ms, "
            f"gap vs cvxpy {(f - f_ref) / f_ref:+.1e})"
        )


if __name__ == "__main__":
    main()
