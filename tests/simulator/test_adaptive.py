"""The evaluator runs adaptive policies like strategies, without look-ahead.

* Distorting the test day's books from minute 200 on leaves the ``adaptive`` policy's trades
  in minutes 0-199 (and its plan and prediction) unchanged, and changes the later ones.
* Rows: the prediction is the plan at the open, the realised cost comes from stepping, the
  executed schedule is in the allocations, the oracle never loses to a policy, and a policy
  that fails fails its own rows only.
* The issue's findings (slow): in the markov regime (power model, no cap, 40 walk-forward
  test days) ``adaptive`` beats ``equal`` with the interval's lower end above 0 at 2%, 8%
  and 20% of ADV; in u_shape (linear, 30% cap) it is not worse than ``exact``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from simulator.evaluate import evaluate
from simulator.settings import EvaluationSettings, SizeSpec
from simulator.summary import summarize
from simulator.synthetic import synthesize_market
from strategies import AdaptivePolicy, get_strategy
from strategies.builtin import EqualStrategy

DISTORT_FROM = 200


def _distort_from(books, day: int, start: int):
    """Day ``day``'s books from interval ``start`` on: depth a third, spread two ticks wider
    on each side, volume tripled."""
    arrays = {
        name: np.array(getattr(books, name))
        for name in ("bid_px", "bid_sz", "ask_px", "ask_sz", "volume")
    }
    widen = 2 * books.tick_size
    arrays["bid_px"][day, start:] -= widen
    arrays["ask_px"][day, start:] += widen
    arrays["bid_sz"][day, start:] = np.maximum(np.rint(arrays["bid_sz"][day, start:] / 3), 1)
    arrays["ask_sz"][day, start:] = np.maximum(np.rint(arrays["ask_sz"][day, start:] / 3), 1)
    arrays["volume"][day, start:] *= 3
    return dataclasses.replace(books, **arrays)


@pytest.fixture(scope="module")
def market():
    return synthesize_market("markov", days=7, seed=4).books


def _settings(**kw):
    base = dict(
        sizes=SizeSpec(adv_fraction=(0.02, 0.2)),
        training_days=6,
        model_kind="power",
        bootstrap_samples=200,
    )
    base.update(kw)
    return EvaluationSettings(**base)


STRATEGIES = [("exact", get_strategy("exact")), ("adaptive", get_strategy("adaptive"))]


@pytest.mark.parametrize("max_participation", [None, 0.3])
def test_trades_before_minute_200_do_not_see_the_books_after_it(market, max_participation):
    settings = _settings(max_participation=max_participation)
    day = market.n_days - 1
    clean = evaluate(market, STRATEGIES, settings)
    distorted = evaluate(_distort_from(market, day, DISTORT_FROM), STRATEGIES, settings)
    for size in (0.02, 0.2):

        def executed(ev, size=size):
            a = ev.allocations
            rows = a[(a["strategy"] == "adaptive") & (a["size_spec"] == size)]
            return rows.sort_values("interval")["shares"].to_numpy()

        before, after = executed(clean), executed(distorted)
        assert before.shape == (market.n_intervals,)
        np.testing.assert_array_equal(after[:DISTORT_FROM], before[:DISTORT_FROM])
        assert np.max(np.abs(after[DISTORT_FROM:] - before[DISTORT_FROM:])) > 1.0
    # The plan at the open (the prediction) comes from the training days only.
    # (The oracle's is not a plan: it knows the test day.)
    cols = ["size_spec", "strategy", "predicted_cost_usd"]

    def planned(ev):
        rows = ev.results[ev.results["strategy"] != "oracle"][cols]
        return rows.sort_values(cols[:2]).reset_index(drop=True)

    a, b = planned(clean), planned(distorted)
    assert len(a) == 6
    np.testing.assert_array_equal(a["predicted_cost_usd"], b["predicted_cost_usd"])


def test_rows_of_a_policy(market):
    ev = evaluate(market, STRATEGIES, _settings(max_participation=0.3))
    res = ev.results.set_index(["size_spec", "strategy"])
    assert res["success"].all()
    for size in (0.02, 0.2):
        # The prediction is the plan at the open: the exact optimum of the same model.
        assert res.loc[(size, "adaptive"), "predicted_cost_usd"] == pytest.approx(
            res.loc[(size, "exact"), "predicted_cost_usd"], rel=1e-9
        )
        # The oracle had the executed schedule among its candidates: never beaten.
        assert (
            res.loc[(size, "oracle"), "realized_cost_usd"]
            <= res.loc[(size, "adaptive"), "realized_cost_usd"] + 1e-9
        )
        assert res.loc[(size, "adaptive"), "captured_saving"] <= 1.0 + 1e-12
        # The executed schedule (allocations) is what was charged.
        alloc = ev.allocations
        x = alloc[(alloc["strategy"] == "adaptive") & (alloc["size_spec"] == size)]
        assert x["shares"].sum() == pytest.approx(res.loc[(size, "adaptive"), "size_shares"])
        plan = alloc[(alloc["strategy"] == "exact") & (alloc["size_spec"] == size)]
        assert not np.allclose(x["shares"].to_numpy(), plan["shares"].to_numpy())
        # Planning plus every decision of the day.
        assert res.loc[(size, "adaptive"), "solve_ms"] > res.loc[(size, "exact"), "solve_ms"]


@dataclass(frozen=True)
class BreaksAt100(AdaptivePolicy):
    name: ClassVar[str] = "breaks-at-100"

    def schedule(self, problem):
        return EqualStrategy().schedule(problem)

    def start(self, problem):
        return None

    def decide(self, state, observation):
        if observation.interval == 100:
            raise KeyError("missing")
        return observation.remaining_shares / observation.intervals_left, state


def test_a_failing_policy_fails_its_own_rows_only(market):
    strategies = [*STRATEGIES, ("broken", BreaksAt100())]
    ev = evaluate(market, strategies, _settings())
    res = ev.results
    broken = res[res["strategy"] == "broken"]
    assert len(broken) == 2 and not broken["success"].any()
    assert (
        broken["message"]
        .str.contains("strategy 'broken' raised KeyError: 'missing' at interval 100")
        .all()
    )
    others = res[res["strategy"] != "broken"]
    assert others["success"].all()
    assert set(others["strategy"]) == {"equal", "exact", "adaptive", "oracle"}
    alone = evaluate(market, STRATEGIES, _settings()).results
    keep = ["size_spec", "strategy", "realized_cost_usd"]
    a = others[keep].sort_values(keep[:2]).reset_index(drop=True)
    b = alone[keep].sort_values(keep[:2]).reset_index(drop=True)
    np.testing.assert_allclose(a["realized_cost_usd"], b["realized_cost_usd"], rtol=1e-12)


# ---------------------------------------------------------------- the findings


def _walk_forward(regime, kind, cap, strategies):
    books = synthesize_market(regime, days=60, seed=0).books
    settings = EvaluationSettings(
        sizes=SizeSpec(adv_fraction=(0.02, 0.08, 0.2)),
        training_days=20,
        model_kind=kind,
        max_participation=cap,
        bootstrap_samples=2000,
    )
    return evaluate(books, strategies, settings, n_jobs=2).results


@pytest.mark.slow
def test_adaptive_beats_equal_in_the_markov_regime():
    res = _walk_forward("markov", "power", None, [("adaptive", get_strategy("adaptive"))])
    summary = summarize(res).set_index(["size_spec", "strategy"])
    for size in (0.02, 0.08, 0.2):
        row = summary.loc[(size, "adaptive")]
        assert row["days"] == 40 and row["failed"] == 0
        assert row["improvement_ci_low_bps"] > 0
        assert row["verdict"] == "better"
        # A real share of what hindsight could save, and never more than all of it.
        assert 0.5 < row["mean_captured_saving"] <= 1.0


@pytest.mark.slow
def test_adaptive_is_not_worse_than_exact_in_u_shape():
    res = _walk_forward("u_shape", "linear", 0.3, STRATEGIES)
    summary = summarize(res).set_index(["size_spec", "strategy"])
    # Paired against exact: exact's rows as the baseline of the same bootstrap.
    versus_exact = res[res["strategy"].isin(["exact", "adaptive"])].copy()
    versus_exact["strategy"] = versus_exact["strategy"].replace({"exact": "equal"})
    paired = summarize(versus_exact).set_index(["size_spec", "strategy"])
    for size in (0.02, 0.08, 0.2):
        assert summary.loc[(size, "adaptive"), "verdict"] in ("equivalent", "better")
        assert paired.loc[(size, "adaptive"), "improvement_ci_high_bps"] >= 0
