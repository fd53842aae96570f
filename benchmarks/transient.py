"""transient-optimal (structured exact QP) vs CVXPY on the same problems.

Run: python benchmarks/transient.py [--repeats 50]

Problems, N = 390 and 1,560 intervals, planner half-life 5 intervals, participation caps that
bind; both families are convex under the transient cost (depth never thins by more than r^2
between intervals):

* ``random``: a U-shaped depth profile with 5% noise per interval and a random half spread
  per interval, order 10% of ADV, caps 20% of volume;
* ``fitted``: the linear model fitted (h = half spread, 15-minute smoothing) on 10 synthetic
  u_shape days, as in scenarios/resilience.yaml, order 10% of ADV, caps 30% of volume.

References, both solved by CLARABEL:

* ``cvxpy-state``: the sparse formulation with the depth reached y = D + x as extra
  variables (y_t = r y_{t-1} + x_t) and the cost sum h x + beta ((y)^2 - (y - x)^2) written
  as the convex sum c y^2 + g y (the strongest CVXPY formulation we know);
* ``cvxpy-dense``: the transient cost as ``quad_form(x, P)`` with P the symmetric N x N cost
  matrix (how the problem reads off the market's definition).

Prints the time per solve (best of the repeats for ours, best of 3 for CVXPY), the relative
objective gap to the reference and the speed ratio reference / ours (target: >= 50).
"""

from __future__ import annotations

import argparse
import time

import cvxpy as cp
import numpy as np

from models import LinearImpact
from strategies import AllocationProblem, get_strategy
from strategies.transient import recovery_factor, transient_cost, transient_hessian_weights


def _problem(n: int, rng: np.random.Generator):
    t = np.linspace(-1, 1, n)
    volume = 390 / n * 3e4 * (1 + 2 * t**2) * rng.uniform(0.8, 1.2, n)
    beta = 2e-5 * (n / 390) / (1 + 2 * t**2) * np.exp(rng.normal(0, 0.05, n))
    h = rng.uniform(0.005, 0.015, n)
    model = LinearImpact(beta=beta, h=h)
    s = 0.1 * volume.sum()
    return AllocationProblem(model, s, upper=0.2 * volume)


def _fitted(n: int):
    from models import fit_impact_model
    from simulator.synthetic import synthesize_market

    books = synthesize_market("u_shape", days=10, intervals=n, levels=10, seed=1).books
    model = fit_impact_model(books, "linear", h="half_spread", smoothing=15.0 * n / 390)
    volume = books.volume.mean(axis=0)
    adv = float(books.volume.sum(axis=1).mean())
    return AllocationProblem(model, 0.1 * adv, upper=0.3 * volume)


def _best(fn, repeats: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _cvxpy_state(p: AllocationProblem, half_life: float):
    m, n = p.model, p.n_intervals
    r = recovery_factor(half_life)
    c = transient_hessian_weights(m.beta, half_life)
    g = np.array(m.h, dtype=float)
    g[:-1] -= r * m.h[1:]
    x, y = cp.Variable(n), cp.Variable(n)
    cons = [y[0] == x[0], y[1:] == r * y[:-1] + x[1:], cp.sum(x) == p.total_shares, x >= 0]
    cons.append(x <= p.upper)
    prob = cp.Problem(cp.Minimize(cp.sum(cp.multiply(c, cp.square(y))) + g @ y), cons)
    prob.solve(solver=cp.CLARABEL)
    return np.asarray(x.value)


def _cvxpy_dense(p: AllocationProblem, half_life: float):
    m, n = p.model, p.n_intervals
    r = recovery_factor(half_life)
    t = np.arange(n)
    lag = t[:, None] - t[None, :]
    carry = np.where(lag > 0, r ** np.maximum(lag, 0), 0.0)
    q = m.beta[:, None] * (np.eye(n) + 2 * carry)
    x = cp.Variable(n)
    cons = [cp.sum(x) == p.total_shares, x >= 0, x <= p.upper]
    prob = cp.Problem(cp.Minimize(cp.quad_form(x, cp.psd_wrap(0.5 * (q + q.T))) + m.h @ x), cons)
    prob.solve(solver=cp.CLARABEL)
    return np.asarray(x.value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'family':>8} {'N':>6} {'method':>12} {'ms/solve':>10} {'rel. gap':>10} {'ratio':>8}")
    for family in ("random", "fitted"):
        for n in (390, 1560):
            p = _problem(n, rng) if family == "random" else _fitted(n)
            half_life = 5.0
            strat = get_strategy("transient-optimal", half_life=half_life)
            ours_s, res = _best(lambda strat=strat, p=p: strat.solve(p), args.repeats)
            if not (res.success and res.message.startswith("exact")):
                raise SystemExit(f"benchmark problem must be convex and solved: {res.message}")
            f_ours = float(transient_cost(p.model, res.x, half_life))
            print(
                f"{family:>8} {n:>6} {'ours':>12} {1e3 * ours_s:>10.3f} {'':>10} {'':>8}"
                f"  ({res.n_iter} active-set solves)"
            )
            for name, fn in (("cvxpy-state", _cvxpy_state), ("cvxpy-dense", _cvxpy_dense)):
                ref_s, x_ref = _best(lambda fn=fn, p=p, hl=half_life: fn(p, hl), 3)
                x_ref = np.clip(x_ref, 0.0, p.upper)
                f_ref = float(transient_cost(p.model, x_ref, half_life))
                gap = (f_ours - f_ref) / abs(f_ref)
                print(
                    f"{family:>8} {n:>6} {name:>12} {1e3 * ref_s:>10.1f} {gap:>10.1e} "
                    f"{ref_s / ours_s:>7.0f}x"
                )


if __name__ == "__main__":
    main()
