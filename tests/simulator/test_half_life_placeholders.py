"""Strategy parameters the evaluator fills in: half_life 'market' and 'fit'."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from simulator.evaluate import evaluate
from simulator.loaders import load_databento_mbp10
from simulator.settings import EvaluationSettings, SizeSpec
from simulator.synthetic import synthesize_market
from strategies import get_strategy


def _settings(**kw):
    base = dict(sizes=SizeSpec(adv_fraction=(0.02,)), training_days=3, bootstrap_samples=200)
    base.update(kw)
    return EvaluationSettings(**base)


def test_market_half_life_is_the_simulated_one():
    books = synthesize_market("u_shape", days=5, intervals=40, levels=6, seed=2).books
    tied = get_strategy("transient-optimal", half_life="market")
    given = get_strategy("transient-optimal", half_life=4.0)
    res = evaluate(
        books, [("tied", tied), ("given", given)], _settings(transient_half_life=4.0)
    ).results
    a = res[res["strategy"] == "tied"]["predicted_cost_usd"].to_numpy()
    b = res[res["strategy"] == "given"]["predicted_cost_usd"].to_numpy()
    assert res["success"].all()
    np.testing.assert_array_equal(a, b)


def test_fit_half_life_needs_event_data_and_says_so():
    books = synthesize_market("u_shape", days=5, intervals=40, levels=6, seed=2).books
    res = evaluate(
        books, [("fit", get_strategy("transient-optimal", half_life="fit"))], _settings()
    ).results
    rows = res[res["strategy"] == "fit"]
    assert not rows["success"].any()
    assert (
        rows["message"]
        .str.contains("half_life 'fit' needs a resilience estimate from the training days")
        .all()
    )
    assert res[res["strategy"] == "equal"]["success"].all()


def test_fit_half_life_uses_the_training_days_estimate_on_real_books(shared_data_dir):
    path = shared_data_dir / "databento_mbp10" / "FROG_2025-04-03_mbp10.csv.gz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        books = load_databento_mbp10(path)
    estimate = float(books.resilience_half_life[0])
    assert np.isfinite(estimate) and estimate > 0
    settings = _settings(mode="in_sample", training_days=1, transient_half_life=estimate)
    fitted = get_strategy("transient-optimal", half_life="fit")
    known = get_strategy("transient-optimal", half_life=estimate)
    res = evaluate(books, [("fit", fitted), ("known", known)], settings).results
    assert res["success"].all()
    a = res[res["strategy"] == "fit"]["predicted_cost_usd"].to_numpy()
    b = res[res["strategy"] == "known"]["predicted_cost_usd"].to_numpy()
    np.testing.assert_allclose(a, b, rtol=1e-12)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(
            a, res[res["strategy"] == "equal"]["predicted_cost_usd"].to_numpy(), rtol=1e-6
        )
