import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from models import InvalidParameterError, LinearImpact, PowerLawImpact
from strategies.allocator import TradeAllocator, solve_analytical_linear


class SeedWrapper:
    """Stands in for a fitted models.ImpactModel: exposes the fitted model as ``.model``."""

    def __init__(self, model):
        self.model = model


def test_seed_workflow():
    rng = np.random.default_rng(0)
    n, s = 40, 1e5
    beta = rng.uniform(1e-6, 1e-5, n)
    alloc = TradeAllocator(
        impact_model=SeedWrapper(LinearImpact(beta=beta)), total_shares=s, n_intervals=n
    )
    res_cvx = alloc.optimize_cvxpy()
    assert res_cvx["success"] and "status" in res_cvx
    analytical = solve_analytical_linear(list(beta), s)
    assert analytical.sum() == pytest.approx(s)
    impact = alloc.objective_function(analytical)
    assert res_cvx["total_impact"] == pytest.approx(impact, rel=1e-7)
    res = alloc.optimize_scipy(method="SLSQP")
    assert set(res) >= {"success", "allocation", "total_impact", "message"}
    assert res["success"], res["message"]
    assert res["total_impact"] == pytest.approx(impact, rel=1e-4)
    equal = alloc.objective_function(np.full(n, s / n))
    assert impact < equal
    alloc.optimal_allocation = res_cvx["allocation"]
    fig = alloc.plot_allocation_strategy(figsize=(8, 6))
    assert len(fig.axes) == 4
    matplotlib.pyplot.close(fig)


def test_nonlinear_and_errors():
    model = PowerLawImpact(alpha=np.linspace(1e-4, 1e-3, 10), delta=0.5)
    alloc = TradeAllocator(model, 1e4, 10)
    assert alloc.optimize_cvxpy()["success"]
    with pytest.raises(InvalidParameterError, match="n_intervals"):
        TradeAllocator(model, 1e4, 11)
    with pytest.raises(InvalidParameterError, match="method"):
        alloc.optimize_scipy(method="BFGS")
    with pytest.raises(InvalidParameterError, match="beta"):
        solve_analytical_linear([1.0, -1.0], 10)
    fresh = TradeAllocator(model, 1e4, 10)
    with pytest.raises(InvalidParameterError, match="optimal_allocation"):
        fresh.plot_allocation_strategy()
