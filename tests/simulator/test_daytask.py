"""The day task's gate: every schedule checked, every plugin isolated, failures kept apart.

Each misbehaving plugin below used to be scored (or to take the run down); now it fails its
own rows with a message naming it and the rule, and nothing it did reaches another row.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from simulator.evaluate import evaluate
from simulator.settings import EvaluationSettings, SizeSpec
from simulator.summary import summarize
from simulator.synthetic import synthesize_market
from strategies import Strategy, get_strategy

INTERVALS = 60


@pytest.fixture(scope="module")
def market():
    return synthesize_market("u_shape", days=6, intervals=INTERVALS, levels=6, seed=3).books


def _settings(**kw):
    base = dict(
        sizes=SizeSpec(adv_fraction=(0.01, 0.02)),
        training_days=4,
        max_participation=0.1,
        bootstrap_samples=200,
    )
    base.update(kw)
    return EvaluationSettings(**base)


def _twap(problem):
    return np.full(problem.n_intervals, problem.total_shares / problem.n_intervals)


@dataclass(frozen=True)
class HalfOrder(Strategy):
    name: ClassVar[str] = "half-order"

    def schedule(self, problem):
        return 0.5 * _twap(problem)


@dataclass(frozen=True)
class AllAtOpen(Strategy):
    name: ClassVar[str] = "all-at-open"

    def schedule(self, problem):
        x = np.zeros(problem.n_intervals)
        x[0] = problem.total_shares
        return x


@dataclass(frozen=True)
class Returns(Strategy):
    """Returns whatever ``what`` names: a malformed answer."""

    name: ClassVar[str] = "returns"
    what: str = "nan"

    def schedule(self, problem):
        x = _twap(problem)
        if self.what == "nan":
            x[3] = np.nan
            return x
        if self.what == "negative":
            x[3] -= 2 * x[3]
            x[4] += 2 * x[4]
            return x
        if self.what == "short":
            return x[:-1]
        if self.what == "none":
            return None
        if self.what == "2d":
            return np.stack([x, x])
        if self.what == "text":
            return "all of it"
        raise AssertionError(self.what)


@dataclass(frozen=True)
class Exits(Strategy):
    name: ClassVar[str] = "exits"

    def schedule(self, problem):
        sys.exit(3)


@dataclass(frozen=True)
class Vandal(Strategy):
    """Tries to write into the model's and the problem's arrays before answering TWAP."""

    name: ClassVar[str] = "vandal"

    def schedule(self, problem):
        beta = problem.model.beta
        beta.setflags(write=True)
        beta[:] = 1e-12
        return _twap(problem)


@dataclass(frozen=True)
class Sleeper(Strategy):
    """Sleeps, or spins in Python, far past the time limit."""

    name: ClassVar[str] = "sleeper"
    spin: bool = False

    def schedule(self, problem):
        end = time.monotonic() + 30
        while self.spin and time.monotonic() < end:
            pass
        time.sleep(0 if self.spin else 30)
        return _twap(problem)


def _run(market, plugin, label="plugin", **kw):
    strategies = [("equal", get_strategy("equal")), ("exact", get_strategy("exact"))]
    strategies.append((label, plugin))
    return evaluate(market, strategies, _settings(**kw)).results


def _plugin_rows(res, label="plugin"):
    return res[res["strategy"] == label]


def test_half_order_plugin_fails_and_is_never_scored(market):
    res = _run(market, HalfOrder())
    rows = _plugin_rows(res)
    assert len(rows) == 4 and not rows["success"].any()
    assert rows["message"].str.contains(r"sum\(x\) = [\d,.]+ != S = [\d,.]+ shares").all()
    assert rows["message"].str.startswith("strategy 'plugin'").all()
    assert rows["realized_bps"].isna().all() and rows["improvement_vs_equal_bps"].isna().all()
    summary = summarize(res, bootstrap_samples=200)
    mine = summary[summary["strategy"] == "plugin"]
    assert (mine["failed"] == 2).all() and (mine["days"] == 0).all()
    assert mine["improvement_bps"].isna().all()
    # Everybody else ran normally.
    assert res[res["strategy"] != "plugin"]["success"].all()


def test_cap_breaking_plugin_fails_with_the_cap_in_the_message(market):
    res = _run(market, AllAtOpen())
    rows = _plugin_rows(res)
    assert not rows["success"].any()
    assert rows["message"].str.contains(r"x\[0\] = [\d,.]+ > upper\[0\] = [\d,.]+ shares").all()
    # The participation it would have reached is never reported as a result.
    assert rows["peak_participation"].isna().all()


@pytest.mark.parametrize(
    ("what", "pattern"),
    [
        ("nan", r"must be finite; got x\[3\] = nan"),
        ("negative", r"must be >= 0 shares in every interval; got x\[3\]"),
        ("short", rf"must have shape \({INTERVALS},\); got shape \({INTERVALS - 1},\)"),
        ("none", r"got None"),
        ("2d", rf"got shape \(2, {INTERVALS}\)"),
        ("text", r"must be an array of shape"),
    ],
)
def test_malformed_answers_fail_that_strategy_only(market, what, pattern):
    res = _run(market, Returns(what=what))
    rows = _plugin_rows(res)
    assert not rows["success"].any()
    assert rows["message"].str.contains(pattern).all(), rows["message"].iloc[0]
    assert rows["message"].str.contains("strategy 'plugin'").all()
    assert res[res["strategy"] != "plugin"]["success"].all()


def test_sys_exit_in_a_plugin_fails_its_rows_and_the_run_goes_on(market):
    res = _run(market, Exits())
    rows = _plugin_rows(res)
    assert not rows["success"].any()
    assert rows["message"].str.contains(r"strategy 'plugin' called sys.exit\(3\)").all()
    assert res[res["strategy"] == "exact"]["success"].all()


def test_a_plugin_cannot_change_what_other_strategies_are_charged_or_predicted(market):
    clean = _run(market, get_strategy("equal"), label="plain")
    res = _run(market, Vandal())
    rows = _plugin_rows(res)
    assert not rows["success"].any()
    assert rows["message"].str.contains("WRITEABLE").all()
    cols = ["predicted_bps", "realized_bps"]
    for label in ("equal", "exact", "oracle"):
        a = clean[clean["strategy"] == label][cols].to_numpy()
        b = res[res["strategy"] == label][cols].to_numpy()
        np.testing.assert_array_equal(a, b)


def test_every_strategy_gets_a_problem_it_cannot_write_to(market):
    seen = {}

    @dataclass(frozen=True)
    class Probe(Strategy):
        def schedule(self, problem):
            for name in ("lower", "upper", "volume_profile", "price_volatility"):
                arr = getattr(problem, name)
                with pytest.raises(ValueError):
                    arr.setflags(write=True)
                seen[name] = True
            return _twap(problem)

    res = _run(market, Probe(), max_participation=None)
    assert _plugin_rows(res)["success"].all() and len(seen) == 4


def test_rows_state_the_market_and_sanity_warnings(market):
    res = evaluate(
        market,
        [("exact", get_strategy("exact"))],
        _settings(sizes=SizeSpec(shares=(2_000.0, 5_000_000.0)), max_participation=None),
    ).results
    assert (res["transient_half_life"] == 0).all() and (res["permanent_impact"] == 0).all()
    small = res[res["size_shares"] == 2_000.0]
    huge = res[res["size_shares"] == 5_000_000.0]
    assert not small["warnings"].str.contains("ADV").any()
    assert huge["warnings"].str.contains(r"x ADV \(> 30% of ADV\)").all()
    assert (huge["beyond_depth_share"] > 0.5).all()
    assert huge["warnings"].str.contains("of the order filled beyond the visible book").all()
    assert (small["beyond_depth_share"] == 0).all()


def test_caps_that_pin_every_strategy_are_flagged(market):
    # A 10% ADV order under a 10% cap: the caps sum to the order, so there is no freedom.
    res = evaluate(
        market,
        [("exact", get_strategy("exact")), ("vwap", get_strategy("vwap"))],
        _settings(sizes=SizeSpec(adv_fraction=(0.1,)), max_participation=0.1),
    ).results
    ok = res[res["success"] & (res["strategy"] != "oracle")]
    assert ok["warnings"].str.contains("caps leave no freedom").all()
    assert ok["warnings"].str.contains("every strategy got the same schedule").all()


@pytest.mark.parametrize("spin", [False, True])
def test_a_plugin_that_never_returns_times_out_and_the_run_goes_on(market, spin):
    start = time.monotonic()
    res = _run(market, Sleeper(spin=spin), strategy_timeout_s=0.2, sizes=SizeSpec(shares=(500.0,)))
    assert time.monotonic() - start < 10
    rows = _plugin_rows(res)
    assert len(rows) == 2 and not rows["success"].any()
    assert (
        rows["message"]
        .str.contains(r"strategy 'plugin' did not return within strategy_timeout_s = 0.2 s")
        .all()
    )
    assert res[res["strategy"] != "plugin"]["success"].all()


def test_time_limit_also_holds_off_the_main_thread(market):
    # The threading backend (and Dask workers) run tasks off the main thread, where no
    # signal can interrupt the strategy: it is abandoned after the limit instead.
    strategies = [("equal", get_strategy("equal")), ("plugin", Sleeper())]
    start = time.monotonic()
    res = evaluate(
        market,
        strategies,
        _settings(strategy_timeout_s=0.2, sizes=SizeSpec(shares=(500.0,))),
        n_jobs=2,
        backend="threading",
    ).results
    assert time.monotonic() - start < 10
    assert not _plugin_rows(res)["success"].any()
    assert _plugin_rows(res)["message"].str.contains("did not return within").all()


@dataclass(frozen=True)
class NearTwap(Strategy):
    """TWAP with one share moved from the first to the second interval."""

    name: ClassVar[str] = "near-twap"

    def schedule(self, problem):
        x = _twap(problem)
        shift = min(1.0, x[0])
        x[0] -= shift
        x[1] += shift
        return x


def test_a_near_twap_plugin_is_judged_equivalent_not_better(market):
    res = _run(market, NearTwap(), max_participation=None)
    summary = summarize(res, bootstrap_samples=500)
    mine = summary[summary["strategy"] == "plugin"]
    assert (mine["verdict"] == "equivalent").all(), mine.to_dict("records")
    assert (mine["improvement_bps"].abs() < 0.1).all()
