"""Tests of the stepping market and of executing adaptive policies by stepping.

* ``Market.start`` / ``Market.step`` charge a fixed schedule exactly what ``Market.realize``
  charges (hypothesis over schedules, both sides, transient and permanent impact on), one
  call per interval for a vector of child orders;
* ``simulator.execute.step_policies`` builds observations of read-only copies (no view of the
  day, nothing after t), clips every decision into what is still feasible, forces the
  remainder into the last interval, and isolates a policy that raises, exits, returns
  garbage or runs out of time.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import LinearImpact
from models.errors import InvalidParameterError, InvalidTypeError
from simulator.execute import PolicyOrder, execute_schedules, step_policies
from simulator.market import Market, MarketState, realization_from_steps
from simulator.synthetic import synthesize_market
from strategies import AdaptivePolicy, AllocationProblem, Observation
from strategies.builtin import EqualStrategy

N = 30
FIELDS = ("impact_cost_usd", "shortfall_usd", "beyond_shares")


@pytest.fixture(scope="module")
def books():
    """Synthetic books with the deep levels of some snapshots empty (empty levels trail), so
    the walk's handling of missing levels and of the beyond-depth tail is exercised."""
    b = synthesize_market("u_shape", days=2, intervals=N, levels=5, seed=11).books
    rng = np.random.default_rng(5)
    arrays = {name: np.array(getattr(b, name)) for name in ("bid_px", "bid_sz", "ask_px", "ask_sz")}
    for side in ("bid", "ask"):
        keep = rng.integers(1, 6, size=(2, N))  # levels kept, 1 .. 5
        empty = np.arange(5)[None, None, :] >= keep[..., None]
        arrays[f"{side}_px"][empty] = np.nan
        arrays[f"{side}_sz"][empty] = 0.0
    return dataclasses.replace(b, **arrays)


def _stepped(market: Market, day: int, schedules: np.ndarray, side: str):
    state = market.start(day, schedules.shape[0], side)
    fills = []
    for t in range(market.n_intervals):
        fill, state = market.step(state, schedules[:, t])
        fills.append(fill)
    return realization_from_steps(fills, state), state


@settings(max_examples=40, deadline=None)
@given(
    side=st.sampled_from(["buy", "sell"]),
    half_life=st.sampled_from([0.0, 0.7, 3.0, np.inf]),
    gamma=st.sampled_from([0.0, 2e-5, 1e-3]),
    seed=st.integers(0, 2**31 - 1),
    k=st.integers(1, 4),
    scale=st.sampled_from([30.0, 800.0, 6000.0]),
)
def test_stepping_equals_realize(books, side, half_life, gamma, seed, k, scale):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, scale, (k, N)) * (rng.uniform(size=(k, N)) < 0.7)
    market = Market(books, transient_half_life=half_life, permanent_impact=gamma)
    stepped, state = _stepped(market, 1, x, side)
    realized = market.realize(1, x, side=side)
    for name in FIELDS:
        got, want = getattr(stepped, name), getattr(realized, name)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9 * max(1.0, np.abs(want).max()))
    np.testing.assert_array_equal(stepped.exhausted, realized.exhausted)
    np.testing.assert_allclose(stepped.fill_vwap, realized.fill_vwap, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(stepped.total_impact_usd, realized.total_impact_usd, rtol=1e-12)
    assert stepped.arrival_mid == realized.arrival_mid
    np.testing.assert_array_equal(stepped.shares, x)
    assert state.interval == N
    np.testing.assert_allclose(state.traded, x.sum(axis=1), rtol=1e-12)


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_stepping_keeps_the_markets_beyond_depth_rule_and_day(books, side):
    # Orders far past the visible book are charged by the market's own beyond-depth rule
    # (here not the default) whether stepped or realised, and both name the day they ran on.
    market = Market(books, transient_half_life=2.0, beyond_depth_bps=90.0)
    px, sz = books.side_levels(side)
    visible = np.where(np.isfinite(px[1]), sz[1], 0.0).sum(axis=-1)
    x = np.vstack([3.0 * visible, 0.5 * visible])
    stepped, _ = _stepped(market, 1, x, side)
    realized = market.realize(1, x, side=side)
    assert stepped.day == realized.day == 1
    np.testing.assert_allclose(stepped.total_impact_usd, realized.total_impact_usd, rtol=1e-12)
    default = Market(books, transient_half_life=2.0).realize(1, x, side=side)
    assert np.all(realized.total_impact_usd[:1] > default.total_impact_usd[:1])


def test_step_follows_the_recursion_by_hand():
    # Two ask levels (10.01 x 100, 10.02 x 200), mid 10.00; half-life 1 -> r = 1/2.
    bid = np.array([[[9.99, 9.98]] * 3])
    ask = np.array([[[10.01, 10.02]] * 3])
    size = np.array([[[100.0, 200.0]] * 3])
    from models.snapshots import BookSnapshots

    b = BookSnapshots(
        bid_px=bid,
        bid_sz=size,
        ask_px=ask,
        ask_sz=size,
        volume=np.full((1, 3), 1e3),
        dates=np.array(["2024-01-02"], dtype="datetime64[D]"),
        interval_starts=(np.arange(3) * 60e9 + 34200e9).astype("timedelta64[ns]"),
    )
    market = Market(b, transient_half_life=1.0, permanent_impact=0.001)
    state = market.start(0, 1, "buy")
    fill, state = market.step(state, [150.0])
    # 100 at 0.01 + 50 at 0.02 from the mid.
    assert fill.impact_cost_usd[0] == pytest.approx(100 * 0.01 + 50 * 0.02)
    assert state.depletion[0] == pytest.approx(75.0)
    fill, state = market.step(state, [50.0])
    # 75 shares still missing: 25 left at 0.01, then 25 at 0.02; mid shifted by 0.15.
    assert fill.impact_cost_usd[0] == pytest.approx(25 * 0.01 + 25 * 0.02)
    assert fill.fill_vwap[0] == pytest.approx(10.0 + 0.15 + (0.25 + 0.5) / 50)
    assert fill.shortfall_usd[0] == pytest.approx(0.75 + 50 * 0.15)
    assert state.depletion[0] == pytest.approx(0.5 * (75.0 + 50.0))


def test_step_does_not_change_the_state_it_is_given(books):
    market = Market(books, transient_half_life=2.0, permanent_impact=1e-4)
    state = market.start(0, 2, "sell")
    first, state1 = market.step(state, [10.0, 20.0])
    assert state.interval == 0 and np.all(state.depletion == 0) and np.all(state.traded == 0)
    again, _ = market.step(state, [10.0, 20.0])
    np.testing.assert_array_equal(first.impact_cost_usd, again.impact_cost_usd)
    assert state1.interval == 1


def test_step_rejects_bad_input(books):
    market = Market(books)
    state = market.start(0, 2)
    with pytest.raises(InvalidParameterError, match=r"shares must have shape \(2,\)"):
        market.step(state, [1.0, 2.0, 3.0])
    with pytest.raises(InvalidParameterError, match="finite and >= 0; got -1.0"):
        market.step(state, [1.0, -1.0])
    with pytest.raises(InvalidParameterError, match="finite and >= 0; got nan"):
        market.step(state, [np.nan, 1.0])
    with pytest.raises(InvalidTypeError, match="state must be a MarketState"):
        market.step("state", [1.0, 1.0])
    with pytest.raises(InvalidParameterError, match="n_orders must be an integer >= 1; got 0"):
        market.start(0, 0)
    with pytest.raises(InvalidParameterError, match=r"day must be in \[0, 1\]; got 2"):
        market.start(2, 1)
    with pytest.raises(InvalidParameterError, match="side must be 'buy' or 'sell'"):
        market.start(0, 1, "hold")
    for _ in range(N):
        _, state = market.step(state, [0.0, 0.0])
    assert isinstance(state, MarketState)
    with pytest.raises(InvalidParameterError, match="the day is over"):
        market.step(state, [0.0, 0.0])


# ---------------------------------------------------------------- executing policies


def _problem(books, total=3000.0, cap=None, floor=0.0):
    n = books.n_intervals
    model = LinearImpact(beta=np.full(n, 1e-5), h=np.full(n, 0.02))
    upper = None if cap is None else np.full(n, cap)
    return AllocationProblem(model, total, lower=np.full(n, floor), upper=upper)


@dataclass(frozen=True)
class Fixed(AdaptivePolicy):
    """Trades a fixed schedule (given as a tuple), whatever it observes."""

    name: ClassVar[str] = "fixed"
    shares: tuple = ()

    def schedule(self, problem):
        return np.asarray(self.shares, dtype=float)

    def start(self, problem):
        return 0

    def decide(self, state, observation):
        return float(self.shares[observation.interval]), state + 1


@dataclass(frozen=True)
class Recorder(AdaptivePolicy):
    """Keeps every observation it gets in its state and trades equally."""

    name: ClassVar[str] = "recorder"

    def schedule(self, problem):
        return EqualStrategy().schedule(problem)

    def start(self, problem):
        return ()

    def decide(self, state, observation):
        return observation.remaining_shares / observation.intervals_left, (*state, observation)


@dataclass(frozen=True)
class Misbehaving(AdaptivePolicy):
    """Trades equally, then at interval ``at`` does ``how``."""

    name: ClassVar[str] = "misbehaving"
    how: str = "raise"
    at: int = 5

    def schedule(self, problem):
        return EqualStrategy().schedule(problem)

    def start(self, problem):
        if self.how == "start":
            raise RuntimeError("no start")
        return None

    def decide(self, state, observation):
        if observation.interval == self.at:
            if self.how == "raise":
                raise ZeroDivisionError("boom")
            if self.how == "exit":
                sys.exit(3)
            if self.how == "sleep":
                time.sleep(5)
            if self.how == "nan":
                return float("nan"), state
            if self.how == "array":
                return np.ones(2), state
            if self.how == "text":
                return "ten", state
            if self.how == "single":
                return 1.0
        return observation.remaining_shares / observation.intervals_left, state


def test_a_fixed_policy_executes_like_its_schedule(books):
    market = Market(books, transient_half_life=2.0, permanent_impact=1e-4)
    problem = _problem(books)
    x = np.random.default_rng(4).dirichlet(np.ones(N)) * problem.total_shares
    out = step_policies(market, 1, "sell", [PolicyOrder("fixed", Fixed(shares=tuple(x)), problem)])
    assert out.errors == ("",)
    ref = execute_schedules(market, 1, ("fixed",), x[None], "sell").realization
    np.testing.assert_allclose(out.schedules[0], x, rtol=0, atol=1e-9 * problem.total_shares)
    for name in FIELDS:
        np.testing.assert_allclose(
            getattr(out.realization, name), getattr(ref, name), rtol=0, atol=1e-9
        )
    assert out.clipped[0] == 0


def test_decisions_are_clipped_into_what_is_still_feasible(books):
    market = Market(books)
    problem = _problem(books, total=3000.0, cap=200.0, floor=10.0)
    wild = np.zeros(N)
    wild[0], wild[1], wild[2] = 1e12, -50.0, 7.0
    out = step_policies(market, 0, "buy", [PolicyOrder("wild", Fixed(shares=tuple(wild)), problem)])
    assert out.errors == ("",)
    # By hand: x_0 capped at 200, x_1 and x_2 raised to the floor; the zeros asked for later
    # get the floor until the caps of the intervals left only just hold the rest (t = 16:
    # 2650 left, 13 * 200 after it), then the caps.
    want = np.array([200.0] + [10.0] * 15 + [50.0] + [200.0] * 13)
    np.testing.assert_allclose(out.schedules[0], want, rtol=0, atol=1e-9)
    assert out.clipped[0] == N  # every decision was changed


def test_the_remainder_is_forced_into_the_last_interval(books):
    market = Market(books)
    problem = _problem(books, total=1000.0)
    nothing = np.zeros(N)
    out = step_policies(
        market, 0, "buy", [PolicyOrder("late", Fixed(shares=tuple(nothing)), problem)]
    )
    np.testing.assert_array_equal(out.schedules[0][:-1], 0.0)
    assert out.schedules[0][-1] == 1000.0
    assert out.clipped[0] == 1


@pytest.mark.parametrize("cap", [np.inf, 150.0])
def test_lots_are_respected(books, cap):
    market = Market(books)
    problem = _problem(books, total=3000.0, cap=cap)
    x = np.full(N, 100.0)
    x[:5] = 37.0
    x[5] = 180.0
    out = step_policies(
        market, 0, "buy", [PolicyOrder("lots", Fixed(shares=tuple(x)), problem)], lot_size=50.0
    )
    assert np.all(np.mod(out.schedules[0], 50.0) == 0)
    assert out.schedules[0].sum() == 3000.0
    assert out.schedules[0].max() <= cap


def test_observations_hold_copies_of_the_book_that_opens_t_and_nothing_later(books):
    market = Market(books, transient_half_life=1.5, permanent_impact=1e-4)
    problem = _problem(books)
    states = {}

    # Keep the last state by wrapping decide: the evaluator returns no states.
    @dataclass(frozen=True)
    class Keeper(Recorder):
        def decide(self, state, observation):
            out = super().decide(state, observation)
            states["last"] = out[1]
            return out

    out = step_policies(market, 1, "buy", [PolicyOrder("rec", Keeper(), problem)])
    assert out.errors == ("",)
    seen = states["last"]
    assert len(seen) == N
    arrays = [books.bid_px, books.bid_sz, books.ask_px, books.ask_sz, books.volume]
    executed = out.schedules[0]
    for t, obs in enumerate(seen):
        assert isinstance(obs, Observation) and obs.interval == t and obs.n_intervals == N
        snap = obs.snapshot
        np.testing.assert_array_equal(snap.ask_px, books.ask_px[1, t])
        np.testing.assert_array_equal(snap.bid_sz, books.bid_sz[1, t])
        np.testing.assert_array_equal(snap.past_volume, books.volume[1, :t])
        assert snap.past_volume.shape == (t,)  # the volume of t itself is not known yet
        for a in (snap.bid_px, snap.bid_sz, snap.ask_px, snap.ask_sz, snap.past_volume):
            assert not a.flags.writeable
            assert not any(np.shares_memory(a, day) for day in arrays)
            with pytest.raises(ValueError):
                a.setflags(write=True)
        assert obs.remaining_shares == pytest.approx(problem.total_shares - executed[:t].sum())
        assert obs.executed_shares == pytest.approx(executed[:t].sum())
        assert obs.executed_cost_usd == pytest.approx(
            out.realization.impact_cost_usd[0, :t].sum(), abs=1e-9
        )
        assert obs.last_shares == pytest.approx(executed[t - 1] if t else 0.0)
        assert obs.own_price_shift_usd == pytest.approx(1e-4 * executed[:t].sum())
    depletion = [obs.own_depletion_shares for obs in seen]
    r = market.recovery_factor
    want = [0.0]
    for t in range(1, N):
        want.append(r * (want[-1] + executed[t - 1]))
    np.testing.assert_allclose(depletion, want, rtol=1e-12)


@pytest.mark.parametrize(
    "how, message",
    [
        ("raise", r"strategy 'bad' raised ZeroDivisionError: boom at interval 5"),
        ("exit", r"strategy 'bad' called sys.exit\(3\) at interval 5"),
        ("nan", r"strategy 'bad': decided shares must be finite; got nan at interval 5"),
        ("array", r"strategy 'bad': decide must return one number of shares; got ndarray"),
        ("text", r"strategy 'bad': decide must return one number of shares; got str"),
        ("single", r"strategy 'bad': decide must return \(shares, state\); got float"),
        ("start", r"strategy 'bad' raised RuntimeError: no start"),
        ("sleep", r"strategy 'bad' did not decide within strategy_timeout_s = 0.3 s"),
    ],
)
def test_a_failing_policy_fails_its_own_order_only(books, how, message):
    market = Market(books)
    problem = _problem(books)
    good = PolicyOrder("good", Recorder(), problem)
    alone = step_policies(market, 0, "buy", [good])
    out = step_policies(
        market,
        0,
        "buy",
        [PolicyOrder("bad", Misbehaving(how=how), problem), good],
        timeout_s=0.3,
    )
    assert out.errors[1] == ""
    assert out.errors[0]
    assert re.search(message, out.errors[0]), out.errors[0]
    np.testing.assert_array_equal(out.schedules[1], alone.schedules[0])
    np.testing.assert_array_equal(
        out.realization.impact_cost_usd[1], alone.realization.impact_cost_usd[0]
    )
    # The failed order trades nothing after it failed.
    assert np.all(out.schedules[0][6:] == 0.0)


@dataclass(frozen=True)
class Sleepy(AdaptivePolicy):
    """Trades equally; sleeps ``seconds`` at the intervals in ``at``."""

    name: ClassVar[str] = "sleepy"
    at: tuple = ()
    seconds: float = 0.0

    def schedule(self, problem):
        return EqualStrategy().schedule(problem)

    def start(self, problem):
        return None

    def decide(self, state, observation):
        if observation.interval in self.at:
            time.sleep(self.seconds)
        return observation.remaining_shares / observation.intervals_left, state


def test_the_interval_timer_gives_an_order_its_own_budget(books):
    # The timer of interval 4 is armed for the order with the least budget left (a, 0.06 s);
    # it fires while b sleeps, b is within its own budget, so b's decision is made again.
    market = Market(books)
    problem = _problem(books)
    a = PolicyOrder("a", Sleepy(at=(0, 1, 2, 3), seconds=0.06), problem)
    b = PolicyOrder("b", Sleepy(at=(4,), seconds=0.1), problem)
    out = step_policies(market, 0, "buy", [a, b], timeout_s=0.3)
    assert out.errors == ("", "")
    assert 0.24 <= out.decide_ms[0] / 1e3 < 0.3
    assert 0.14 <= out.decide_ms[1] / 1e3 < 0.3  # interrupted once, then made again


def test_outside_the_main_thread_an_order_fails_once_past_its_budget(books):
    import threading

    market = Market(books)
    problem = _problem(books)
    box = {}
    worker = threading.Thread(
        target=lambda: box.update(
            out=step_policies(
                market,
                0,
                "buy",
                [PolicyOrder("slow", Sleepy(at=(2,), seconds=0.35), problem)],
                timeout_s=0.3,
            )
        )
    )
    worker.start()
    worker.join()
    assert re.search(
        r"'slow' did not decide within strategy_timeout_s = 0.3 s at interval 2",
        box["out"].errors[0],
    )


def test_concat_executions_orders_the_rows(books):
    from models.errors import InvalidParameterError as Invalid
    from simulator.execute import concat_executions

    market = Market(books)
    x = np.random.default_rng(1).uniform(0, 100, (3, N))
    a = execute_schedules(market, 0, ("a", "b"), x[:2], "buy")
    c = execute_schedules(market, 0, ("c",), x[2:], "buy")
    both = concat_executions([a, c], ["c", "a", "b"])
    assert both.labels == ("c", "a", "b")
    np.testing.assert_array_equal(both.schedules, x[[2, 0, 1]])
    ref = market.realize(0, x[[2, 0, 1]], side="buy")
    np.testing.assert_array_equal(both.realization.impact_cost_usd, ref.impact_cost_usd)
    assert both.clipped == (0, 0, 0)
    with pytest.raises(Invalid, match="order must list the labels"):
        concat_executions([a, c], ["a", "b"])
    with pytest.raises(Invalid, match="at least one executed order"):
        concat_executions([])
