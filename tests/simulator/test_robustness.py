"""Robust planning end to end (issue 14): the evidence the evaluator ships, and the findings.

* ``prepare_inputs`` ships each window's training evidence (per-day parameters of the
  training days only) with an unchanged pooled model;
* where nothing persists (markov), ``robust`` is indistinguishable from ``equal`` while
  ``exact`` exploits the noise; where the pattern persists (u_shape), ``robust`` keeps at
  least 80% of ``exact``'s saving.

The small versions run in a few seconds (three-minute intervals); the issue's full checks
(390 intervals, 40 walk-forward test days after 20 training days, 2 / 8 / 20% of ADV) and
the shipped scenarios are marked ``slow``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import fit_impact_model
from simulator.config import load_scenario
from simulator.config.plugins import StrategyConfig
from simulator.evaluate import evaluate
from simulator.plan import build_problem, prepare_inputs
from simulator.run import run_scenario
from simulator.settings import EvaluationSettings, SizeSpec
from simulator.summary import summarize
from simulator.synthetic import synthesize_market
from strategies import TrainingEvidence, get_strategy

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
SIZES = (0.02, 0.08, 0.2)


def _strategies():
    return [(name, get_strategy(name)) for name in ("equal", "exact", "robust")]


def _summary(books, kind, cap, sizes, training_days, n_jobs=1):
    settings = EvaluationSettings(
        sizes=SizeSpec(adv_fraction=sizes),
        model_kind=kind,
        training_days=training_days,
        max_participation=cap,
        oracle=False,
        bootstrap_samples=1000,
    )
    results = evaluate(books, _strategies(), settings, n_jobs=n_jobs).results
    assert results["success"].all()
    return summarize(results, bootstrap_samples=1000).set_index(["size_spec", "strategy"])


# --------------------------------------------------------------------------- the evidence
@pytest.fixture(scope="module")
def markov_books():
    return synthesize_market("markov", days=9, intervals=60, levels=6, seed=4).books


@pytest.mark.parametrize("kind", ["linear", "power"])
def test_prepare_inputs_ships_the_training_evidence(markov_books, kind):
    train = markov_books.select_days(slice(0, 8))
    settings = EvaluationSettings(sizes=SizeSpec(adv_fraction=(0.05,)), model_kind=kind)
    inputs = prepare_inputs(train, settings)
    ev = inputs.evidence
    assert isinstance(ev, TrainingEvidence) and ev.kind == kind
    # The training days and nothing else (the test day, index 8, is not in the window).
    np.testing.assert_array_equal(ev.dates, markov_books.dates[:8])
    assert ev.n_days == 8 and ev.n_intervals == 60
    assert ev.nbytes < 2 * 8 * 60 * 4 + 6 * 60 * 8
    # The pooled model is the one fit_impact_model gives, unchanged.
    reference = fit_impact_model(train, kind, side="buy", beyond_depth_bps=25.0)
    for name, values in reference.parameter_frame().items():
        np.testing.assert_array_equal(inputs.model.parameter_frame()[name], values)
    problem = build_problem(inputs, inputs.sizes[0][1], settings)
    assert problem.evidence is ev


def test_book_models_ship_no_evidence(markov_books):
    settings = EvaluationSettings(sizes=SizeSpec(adv_fraction=(0.05,)), model_kind="book")
    inputs = prepare_inputs(markov_books.select_days(slice(0, 8)), settings)
    assert inputs.evidence is None
    assert build_problem(inputs, inputs.sizes[0][1], settings).evidence is None


# --------------------------------------------------------------------------- small findings
def _width(row):
    return row["improvement_ci_high_bps"] - row["improvement_ci_low_bps"]


def test_markov_robust_is_equal_while_exact_exploits_the_noise():
    books = synthesize_market("markov", days=40, intervals=130, levels=8, seed=0).books
    s = _summary(books, "power", None, (0.02, 0.2), training_days=20)
    for size in (0.02, 0.2):
        robust, exact = s.loc[(size, "robust")], s.loc[(size, "exact")]
        assert robust["improvement_ci_low_bps"] >= -0.25, robust.to_dict()
        assert robust["improvement_ci_high_bps"] <= 0.25, robust.to_dict()
        assert _width(exact) > 4 * _width(robust) and _width(exact) > 1.0, (exact, robust)


def test_u_shape_robust_keeps_the_persistent_pattern():
    books = synthesize_market("u_shape", days=30, intervals=130, levels=8, seed=0).books
    s = _summary(books, "linear", 0.3, (0.02, 0.2), training_days=10)
    for size in (0.02, 0.2):
        robust, exact = s.loc[(size, "robust")], s.loc[(size, "exact")]
        assert exact["improvement_ci_low_bps"] > 0
        assert robust["improvement_bps"] >= 0.8 * exact["improvement_bps"], robust.to_dict()
        assert robust["improvement_ci_low_bps"] > 0 and robust["verdict"] == "better"


# --------------------------------------------------------------------------- the checks
@pytest.mark.slow
def test_markov_power_no_cap_40_test_days():
    books = synthesize_market("markov", days=60, seed=0).books
    s = _summary(books, "power", None, SIZES, training_days=20, n_jobs=2)
    for size in SIZES:
        assert s.loc[(size, "robust"), "improvement_ci_low_bps"] >= -0.25, s.loc[size]
    # The reference: exact loses where nothing persists (significantly at 20% of ADV).
    assert s.loc[(0.2, "exact"), "verdict"] == "worse"


@pytest.mark.slow
def test_u_shape_linear_capped_40_test_days():
    books = synthesize_market("u_shape", days=60, seed=0).books
    s = _summary(books, "linear", 0.3, SIZES, training_days=20, n_jobs=2)
    for size in SIZES:
        robust, exact = s.loc[(size, "robust")], s.loc[(size, "exact")]
        assert robust["improvement_bps"] >= 0.8 * exact["improvement_bps"], s.loc[size]
        assert robust["improvement_ci_low_bps"] > 0, s.loc[size]


def _run(scenario, tmp_path, **evaluation):
    scenario = dataclasses.replace(
        scenario,
        evaluation=dataclasses.replace(scenario.evaluation, **evaluation),
        output=dataclasses.replace(scenario.output, figures=False),
    )
    result = run_scenario(scenario, out_dir=tmp_path / "out", quiet=True)
    return result.summary.set_index(["regime", "size_spec", "strategy"])


@pytest.mark.slow
def test_shipped_robustness_scenario(tmp_path):
    scenario = load_scenario(SCENARIO_DIR / "robustness.yaml")
    assert [s.label for s in scenario.strategies] == ["equal", "exact", "robust"]
    assert scenario.market.regimes == ("markov", "u_shape") and scenario.evaluation.oracle
    s = _run(scenario, tmp_path, n_jobs=2)
    for size in SIZES:
        assert s.loc[("markov", size, "robust"), "improvement_ci_low_bps"] >= -0.25
        robust, exact = s.loc[("u_shape", size, "robust")], s.loc[("u_shape", size, "exact")]
        assert robust["improvement_bps"] >= 0.8 * exact["improvement_bps"]
        assert robust["improvement_ci_low_bps"] > 0
        assert s.loc[("markov", size, "oracle"), "verdict"] == "better"


def test_large_scenario_includes_robust():
    names = [s.name for s in load_scenario(SCENARIO_DIR / "large.yaml").strategies]
    assert "robust" in names


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.filterwarnings("ignore::simulator.loaders.DataQualityWarning")
def test_frog_calibrated_robust_next_to_exact(shared_data_dir, tmp_path):
    scenario = load_scenario(SCENARIO_DIR / "frog_calibrated.yaml")
    scenario = dataclasses.replace(
        scenario, strategies=(*scenario.strategies, StrategyConfig(name="robust"))
    )
    s = _run(scenario, tmp_path, n_jobs=2)
    table = s.xs("robust", level="strategy")[["improvement_bps", "improvement_ci_low_bps"]]
    # No target in the issue; measured: robust saves as much as exact (within 0.6 bps) and
    # is better than equal at every size.
    exact = s.xs("exact", level="strategy")["improvement_bps"]
    assert (table["improvement_ci_low_bps"] > 0).all(), table
    assert (pd.Series(table["improvement_bps"]) - exact).abs().max() < 1.0, (table, exact)
