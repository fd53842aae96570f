"""Evaluator: tidy results, determinism across backends, failures, resume, findings."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.daytask import RESULT_COLUMNS
from simulator.evaluate import evaluate, plan_test_days
from simulator.settings import EvaluationSettings, SizeSpec
from simulator.synthetic import synthesize_market
from strategies import Strategy, get_strategy

INTERVALS = 60


@pytest.fixture(scope="module")
def market():
    return synthesize_market("u_shape", days=8, intervals=INTERVALS, levels=6, seed=11).books


def _strategies():
    # linear-optimal (CVXPY) included: its cached QP must not make results depend on n_jobs.
    names = ("equal", "vwap", "exact", "analytical", "linear-optimal")
    return [(name, get_strategy(name)) for name in names]


def _settings(**kw):
    base = dict(
        sizes=SizeSpec(adv_fraction=(0.01, 0.05)),
        training_days=4,
        max_participation=0.5,
        bootstrap_samples=200,
    )
    base.update(kw)
    return EvaluationSettings(**base)


def _stable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["solve_ms"]).reset_index(drop=True)


@dataclass(frozen=True)
class Exploding(Strategy):
    """Fails on the larger order only: the run must go on with success=False rows."""

    name = "exploding"
    description = "raises on purpose"

    def schedule(self, problem):
        if problem.total_shares > 0.03 * problem.volume_profile.sum():
            raise RuntimeError("boom: plugin failure")
        return np.full(problem.n_intervals, problem.total_shares / problem.n_intervals)


def test_plan_walk_forward_and_refit():
    s = _settings(training_days=3, refit_every=2)
    plan = plan_test_days(8, s)
    assert [p[0] for p in plan] == [3, 4, 5, 6, 7]
    assert plan[0] == (3, 0, 3) and plan[1] == (4, 0, 3) and plan[2] == (5, 2, 5)
    assert plan_test_days(8, _settings(mode="in_sample"))[2] == (2, 2, 3)
    with pytest.raises(ValueError, match="training_days must be smaller"):
        plan_test_days(3, s)


def test_tidy_columns_and_oracle(market):
    ev = evaluate(market, _strategies(), _settings())
    res = ev.results
    assert list(res.columns) == list(RESULT_COLUMNS)
    assert set(res["strategy"]) == {
        "equal",
        "vwap",
        "exact",
        "analytical",
        "linear-optimal",
        "oracle",
    }
    assert len(res) == 4 * 2 * 6  # test days x sizes x (strategies + oracle)
    assert res["success"].all()
    # The oracle is optimal under the test day's books: nothing realises cheaper.
    for _, grp in res.groupby(["day_index", "size_spec"]):
        oracle = grp.loc[grp["strategy"] == "oracle", "realized_cost_usd"].iloc[0]
        assert (grp["realized_cost_usd"] >= oracle - 1e-6 * abs(oracle)).all()
    eq = res[res["strategy"] == "equal"]
    assert np.allclose(eq["improvement_vs_equal_bps"], 0.0)
    assert np.allclose(res["error_bps"], res["realized_bps"] - res["predicted_bps"])
    assert set(ev.allocations["strategy"]) >= {"equal", "exact"}
    sums = ev.allocations.groupby(["size_spec", "strategy"])["shares"].sum()
    sizes = ev.allocations.groupby(["size_spec", "strategy"])["size_shares"].first()
    assert np.allclose(sums, sizes)


def test_identical_across_n_jobs_and_backends(market):
    settings = _settings()
    serial = evaluate(market, _strategies(), settings, n_jobs=1).results
    loky = evaluate(market, _strategies(), settings, n_jobs=2, backend="loky").results
    threads = evaluate(market, _strategies(), settings, n_jobs=2, backend="threading").results
    pd.testing.assert_frame_equal(_stable(serial), _stable(loky))
    pd.testing.assert_frame_equal(_stable(serial), _stable(threads))


def test_identical_on_dask_local_cluster(market):
    import dask.distributed  # noqa: F401  (a dev dependency: an import error must fail)

    settings = _settings()
    serial = evaluate(market, _strategies(), settings, n_jobs=1).results
    dask = evaluate(market, _strategies(), settings, n_jobs=2, backend="dask").results
    pd.testing.assert_frame_equal(_stable(serial), _stable(dask))


def test_failing_plugin_gives_failed_rows_not_a_crash(market):
    ev = evaluate(market, [*_strategies(), ("exploding", Exploding())], _settings())
    bad = ev.results[ev.results["strategy"] == "exploding"]
    assert len(bad) == 8
    assert bad.loc[bad["size_spec"] == 0.05, "success"].eq(False).all()
    assert bad.loc[bad["size_spec"] == 0.01, "success"].all()
    assert bad.loc[~bad["success"], "message"].str.contains("boom: plugin failure").all()
    assert ev.results.loc[ev.results["strategy"] != "exploding", "success"].all()


def test_infeasible_cap_fails_its_size_only(market):
    settings = _settings(sizes=SizeSpec(adv_fraction=(0.01, 0.9)), max_participation=0.1)
    res = evaluate(market, _strategies(), settings).results
    small = res[res["size_spec"] == 0.01]
    large = res[res["size_spec"] == 0.9]
    assert small["success"].all()
    assert (~large["success"]).all()
    assert large["message"].str.contains("shortfall|infeasible|exceeds", case=False).all()


def test_resume_after_interruption_is_identical(market, tmp_path: Path):
    settings = _settings()
    full = evaluate(market, _strategies(), settings, parts_dir=tmp_path / "a").results
    # Interrupted run: only some days finished and were stored.
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    for path in sorted((tmp_path / "b").glob("*__day0000[45].rows.parquet")):
        path.unlink()
    resumed = evaluate(market, _strategies(), settings, parts_dir=tmp_path / "b")
    pd.testing.assert_frame_equal(_stable(full), _stable(resumed.results))
    assert len(list((tmp_path / "b").glob("*.rows.parquet"))) == 4


def test_in_sample_optimal_never_loses_to_equal_under_model(market):
    settings = _settings(mode="in_sample", test_days=3)
    res = evaluate(market, _strategies(), settings).results
    pivot = res.pivot_table(
        index=["day_index", "size_spec"], columns="strategy", values="predicted_cost_usd"
    )
    for name in ("exact", "analytical"):
        assert (pivot[name] <= pivot["equal"] * (1 + 1e-9)).all()


def test_price_volatility_is_estimated_from_training_mids(market):
    from simulator.daytask import price_volatility

    vol = price_volatility(market, window=1)
    diffs = np.diff(market.mid, axis=1)
    assert vol.shape == (INTERVALS,)
    assert vol[3] == pytest.approx(np.sqrt(np.mean(diffs[:, 3] ** 2)))
    assert vol[-1] == vol[-2]
    smooth = price_volatility(market, window=15)
    assert np.all(smooth > 0) and smooth.std() <= vol.std()


def test_almgren_chriss_uses_the_estimated_volatility(market):
    strategies = [
        ("equal", get_strategy("equal")),
        ("exact", get_strategy("exact")),
        ("ac", get_strategy("almgren-chriss", risk_aversion=1e-3)),
    ]
    ev = evaluate(market, strategies, _settings(max_participation=None, oracle=False))
    alloc = ev.allocations[ev.allocations["size_spec"] == 0.05].pivot(
        index="interval", columns="strategy", values="shares"
    )
    # Risk aversion on an estimated, non-zero volatility: holdings fall faster than exact's.
    assert alloc["ac"].iloc[: INTERVALS // 3].sum() > alloc["exact"].iloc[: INTERVALS // 3].sum()


@pytest.mark.parametrize("refit_every", [1, 2])
def test_one_fit_per_training_window_whatever_the_workers(market, monkeypatch, refit_every):
    # The number of fits is the number of distinct training windows: it does not depend on
    # n_jobs or the backend (each refit block is fitted once, in one task), and the results
    # are bit-identical.
    settings = _settings(refit_every=refit_every)
    days = [d for d, _, _ in plan_test_days(market.n_days, settings)]
    windows = {(start, stop) for _, start, stop in plan_test_days(market.n_days, settings)}
    assert len(windows) == (len(days) if refit_every == 1 else -(-len(days) // 2))
    runs = {
        (n_jobs, backend): evaluate(market, _strategies(), settings, n_jobs=n_jobs, backend=backend)
        for n_jobs, backend in [(1, "loky"), (2, "loky"), (2, "threading")]
    }
    for ev in runs.values():
        assert ev.fit_count == len(windows) and ev.fit_seconds > 0
    serial = _stable(runs[(1, "loky")].results)
    for ev in runs.values():
        pd.testing.assert_frame_equal(_stable(ev.results), serial)
    # Within a block every day shares the window's fitted model, hence its predictions.
    res = runs[(1, "loky")].results
    per_day = res.groupby("day_index")["train_end"].first()
    assert per_day.nunique() == len(windows)


def test_one_task_per_block_only_with_enough_blocks_per_worker():
    from simulator.evaluate import _BLOCKS_PER_WORKER, _one_task_per_block

    assert _one_task_per_block(1, 1)  # serial: always
    assert _one_task_per_block(_BLOCKS_PER_WORKER * 2, 2)
    assert not _one_task_per_block(_BLOCKS_PER_WORKER * 2 - 1, 2)  # days spread instead
    assert not _one_task_per_block(10_000, -1)  # a remote cluster of unknown size


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_block_tasks_and_day_tasks_give_identical_results_and_fits(market, monkeypatch, backend):
    import simulator.evaluate as module

    settings = _settings(refit_every=2)
    windows = {(start, stop) for _, start, stop in plan_test_days(market.n_days, settings)}
    runs = {}
    for per_worker in (1, 10**6):  # 2 windows on 2 workers: one task per block, then not
        monkeypatch.setattr(module, "_BLOCKS_PER_WORKER", per_worker)
        assert module._one_task_per_block(len(windows), 2) == (per_worker == 1)
        runs[per_worker] = evaluate(market, _strategies(), settings, n_jobs=2, backend=backend)
    for ev in runs.values():
        assert ev.fit_count == len(windows) and ev.fit_seconds > 0
    pd.testing.assert_frame_equal(_stable(runs[1].results), _stable(runs[10**6].results))
    pd.testing.assert_frame_equal(runs[1].allocations, runs[10**6].allocations)


def test_refit_every_reuses_the_window_and_matches_serial(market):
    settings = _settings(refit_every=3)
    serial = evaluate(market, _strategies(), settings, n_jobs=1).results
    parallel = evaluate(market, _strategies(), settings, n_jobs=2).results
    pd.testing.assert_frame_equal(_stable(serial), _stable(parallel))
    # Days 4-6 share the window of day 4; day 7 refits on days 3-6.
    assert serial.groupby("day_index")["train_start"].first().tolist() == [
        pd.Timestamp(market.dates[i]) for i in (0, 0, 0, 3)
    ]


def test_planning_once_per_window_matches_planning_every_day(market):
    # evaluate() plans in the window's task and the block's days share the plans; a day task
    # given inputs without plans plans for itself: the rows are the same (solve_ms aside),
    # and the days of one block trade identical schedules.
    from simulator.daytask import DayTask, labelled_strategies, run_day_task
    from simulator.plan import prepare_inputs

    settings = _settings(refit_every=3)
    strategies = _strategies()
    shared = evaluate(market, strategies, settings, n_jobs=1).results
    own = []
    for day, start, stop in plan_test_days(market.n_days, settings):
        inputs = prepare_inputs(market.select_days(slice(start, stop)), settings)
        assert inputs.plans is None
        task = DayTask(
            scenario="",
            regime=market.symbol or "market",
            day_index=day,
            inputs=inputs,
            test=market.select_days([day]),
            strategies=labelled_strategies(tuple(strategies)),
            settings=settings,
            keep_schedules=False,
        )
        own.append(run_day_task(task).rows)
    own = pd.concat(own, ignore_index=True)
    pd.testing.assert_frame_equal(_stable(shared), _stable(own), check_dtype=False)
    block = shared[shared["day_index"].isin([4, 5, 6]) & (shared["strategy"] == "exact")]
    assert block.groupby("size_spec")["predicted_cost_usd"].nunique().eq(1).all()


@pytest.mark.parametrize("backend, n_jobs", [("loky", 1), ("loky", 2), ("threading", 2)])
def test_worker_pool_starmap_keeps_the_order(backend, n_jobs):
    from simulator.evaluate import parallel_backend

    items = [(2, 3), (3, 2), (5, 1), (7, 0)]
    with parallel_backend(backend, n_jobs) as pool:
        pool.warm_up()
        assert pool.starmap(pow, items) == [8, 9, 5, 1]
        assert pool.starmap(pow, []) == []


def test_local_dask_cluster_is_warmed_up_and_keeps_glibc_malloc_defaults():
    # dask's nanny would set MALLOC_TRIM_THRESHOLD_ in its workers, which makes glibc map
    # every array above 128 kB afresh (the power-law fit ran 2.7x slower); the run's own
    # cluster unsets it, and warm_up imports the task modules on every worker.
    import os
    import sys

    import dask.distributed  # noqa: F401  (a dev dependency: an import error must fail)

    from simulator.evaluate import parallel_backend

    with parallel_backend("dask", 2) as pool:
        pool.warm_up()
        pool.ready()
        client = pool._client
        trim = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        assert len(trim) == 2 and set(trim.values()) == {None}
        assert all(client.run(lambda: "simulator.daytask" in sys.modules).values())
        assert pool.starmap(pow, [(2, 3), (3, 2)]) == [8, 9]


def test_a_failed_warm_up_is_raised_by_ready_not_swallowed():
    # A worker that cannot import the task modules: ready() raises the worker's own error,
    # wait() (used while shutting down) only waits.
    from simulator.evaluate import WorkerPool

    class BrokenCluster:
        def run(self, function):
            raise ImportError("No module named 'simulator' on worker tcp://w1")

    pool = WorkerPool("dask", 2, client=BrokenCluster())
    pool.warm_up()
    pool.wait()
    with pytest.raises(ImportError, match="No module named 'simulator' on worker"):
        pool.ready()
