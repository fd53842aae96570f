"""The run-backtest command line: exit codes, one-line errors, and every command end to end."""

from __future__ import annotations

import copy
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from run_backtest import cli, main

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIO_DIR = REPO_ROOT / "scenarios"
# Scenarios that read ../shared/data (replays, or synthetic markets calibrated to real books).
REAL_DATA_SCENARIOS = sorted(
    p for p in SCENARIO_DIR.glob("*.yaml") if "shared/data" in p.read_text()
)
SYNTHETIC_SCENARIOS = sorted(set(SCENARIO_DIR.glob("*.yaml")) - set(REAL_DATA_SCENARIOS))

# A tiny walk-forward scenario: 2 test days of 30 intervals, two sizes.
TINY = {
    "name": "tiny",
    "market": {"source": "synthetic", "regime": "u_shape", "days": 4, "intervals": 30},
    "model": {"kind": "linear", "training_days": 2},
    "strategies": ["equal", "vwap", "exact"],
    "sizes": {"shares": [2000, 4000]},
    "evaluation": {"bootstrap_samples": 200},
    "output": {"figures": True, "report": "markdown"},
}


def invoke(*args: str):
    # Older click separates stderr only when asked; newer always does.
    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:
        runner = CliRunner()
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def write(tmp_path: Path, data, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def assert_user_error(result, *fragments: str) -> None:
    """Exit 2, nothing on stdout, exactly one line on stderr naming the problem."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# --------------------------------------------------------------------------- validate


@pytest.mark.parametrize("path", SYNTHETIC_SCENARIOS, ids=lambda p: p.name)
def test_validate_every_shipped_synthetic_scenario(path):
    result = invoke("validate", path)
    assert result.exit_code == 0, result.stderr
    summary = result.stdout.strip()
    assert summary.startswith(f"Scenario {path.stem!r}") and "\n" not in summary


@pytest.mark.data
@pytest.mark.parametrize("path", REAL_DATA_SCENARIOS, ids=lambda p: p.name)
def test_validate_real_data_scenarios(path, shared_data_dir):
    result = invoke("validate", path)
    assert result.exit_code == 0, result.stderr
    assert f"Scenario '{path.stem}'" in result.stdout
    assert ("in-sample" if "replay" in path.name else "walk-forward") in result.stdout


def test_validate_in_a_real_subprocess():
    proc = subprocess.run(
        [sys.executable, "run_backtest.py", "validate", "scenarios/quickstart.yaml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Scenario 'quickstart'")


def test_user_error_in_a_real_subprocess(tmp_path):
    bad = write(tmp_path, {**TINY, "strategies": ["equal", "no-such-strategy"]})
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "run_backtest.py"), "validate", str(bad)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "strategies[1].name" in proc.stderr and "'no-such-strategy'" in proc.stderr


# --------------------------------------------------------------------------- user errors


def test_bad_yaml(tmp_path):
    path = write(tmp_path, "name: x\nstrategies: [equal, exact\n")
    assert_user_error(invoke("validate", path), "invalid YAML", f"{path}:")


def test_unknown_key(tmp_path):
    data = copy.deepcopy(TINY)
    data["model"]["trainig_days"] = 3
    assert_user_error(
        invoke("validate", write(tmp_path, data)),
        "model.trainig_days is not a valid key",
        "did you mean 'training_days'?",
    )


def test_unknown_strategy(tmp_path):
    data = {**TINY, "strategies": ["equal", "exactt"]}
    assert_user_error(
        invoke("validate", write(tmp_path, data)),
        "strategies[1].name is not a registered strategy",
        "did you mean 'exact'?",
        "'exactt'",
    )


def test_negative_size(tmp_path):
    data = {**TINY, "sizes": {"shares": [2000, -1]}}
    assert_user_error(invoke("validate", write(tmp_path, data)), "sizes.shares[1]", "got -1.0")


def test_missing_data_file(tmp_path):
    data = {
        **TINY,
        "market": {"source": "databento", "path": "nowhere/FROG.csv.gz"},
        "evaluation": {"mode": "in_sample"},
    }
    assert_user_error(
        invoke("validate", write(tmp_path, data)),
        "market.path data file not found",
        str(tmp_path / "nowhere" / "FROG.csv.gz"),
    )


def test_missing_scenario_and_usage_errors(tmp_path):
    assert_user_error(invoke("validate", tmp_path / "nope.yaml"), "nope.yaml")
    assert_user_error(invoke("no-such-command"), "No such command")
    assert_user_error(invoke("run", tmp_path / "nope.yaml", "--n-jobs", "two"), "--n-jobs")


def test_override_out_of_range_is_a_user_error(tmp_path):
    path = write(tmp_path, TINY)
    assert_user_error(
        invoke("run", path, "--n-jobs", "0", "--out", tmp_path / "out"), "evaluation.n_jobs"
    )
    assert_user_error(
        invoke("run", path, "--overwrite", "--resume", "--out", tmp_path / "out"), "exclude"
    )


def test_run_applies_overrides(monkeypatch, tmp_path):

    calls = []

    class Done:
        out_dir = tmp_path / "o"
        report_path = tmp_path / "o" / "report.md"

    def fake_run(scenario, **kwargs):
        calls.append((scenario, kwargs))
        return Done()

    import simulator.run

    monkeypatch.setattr(simulator.run, "run_scenario", fake_run)
    path = write(tmp_path, TINY)
    result = invoke(
        "run",
        path,
        "--out",
        tmp_path / "o",
        "--n-jobs",
        "2",
        "--seed",
        "7",
        "--scheduler",
        "tcp://127.0.0.1:8786",
        "--resume",
        "--quiet",
    )
    assert result.exit_code == 0, result.stderr
    assert f"report written to {tmp_path / 'o' / 'report.md'}" in result.stdout
    scenario, kwargs = calls[0]
    assert kwargs == {"out_dir": tmp_path / "o", "overwrite": False, "resume": True, "quiet": True}
    ev = scenario.evaluation
    assert (ev.n_jobs, ev.seed, ev.backend, ev.scheduler) == (2, 7, "dask", "tcp://127.0.0.1:8786")
    assert scenario.output.dir == tmp_path / "o" and scenario.model.training_days == 2


def test_unexpected_error_exit_1_and_debug(monkeypatch, tmp_path):
    import run_backtest

    def boom(path):
        raise RuntimeError("kaboom\nsecond line")

    monkeypatch.setattr(run_backtest, "_load", boom)
    path = write(tmp_path, TINY)
    result = invoke("validate", path)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "kaboom second line" in lines[0] and "--debug" in lines[0]
    with pytest.raises(RuntimeError, match="kaboom"):
        invoke("--debug", "validate", path)


def test_main_exits_with_the_code(tmp_path, capsys):
    path = write(tmp_path, {**TINY, "side": "hold"})
    line = path.read_text().splitlines().index("side: hold") + 1
    with pytest.raises(SystemExit) as info:
        main(["validate", str(path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {path}:{line}: side must be one of buy, sell; got 'hold'"


# --------------------------------------------------------------------------- other commands


def test_strategies_lists_builtins():
    result = invoke("strategies")
    assert result.exit_code == 0
    names = {line.split()[0] for line in result.stdout.splitlines()}
    assert names >= {
        "equal",
        "vwap",
        "analytical",
        "exact",
        "linear-optimal",
        "nonlinear-optimal",
        "almgren-chriss",
    }
    assert all(len(line.split(None, 1)) == 2 for line in result.stdout.splitlines())


@pytest.mark.data
def test_fit_saves_a_model(tmp_path, shared_data_dir):
    from models import BaseImpact

    data = shared_data_dir / "databento_mbp10" / "FROG_2025-04-03_mbp10.csv.gz"
    out = tmp_path / "frog.json"
    result = invoke("fit", data, "--format", "databento", "--model", "linear", "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "fitted linear model on 1 day(s) x 390 intervals" in result.stdout
    assert "beta" in result.stdout
    model = BaseImpact.load(out)
    assert model.kind == "linear" and model.n_intervals == 390
    again = invoke("fit", data, "--model", "linear", "--out", out)
    assert_user_error(again, "already exists", "--overwrite")


def test_fit_missing_file_is_a_user_error(tmp_path):
    result = invoke("fit", tmp_path / "none.csv.gz", "--out", tmp_path / "m.json")
    assert_user_error(result, "none.csv.gz")


# --------------------------------------------------------------------------- run (evaluator)


def test_run_end_to_end_writes_every_output(tmp_path):
    out = tmp_path / "out"
    path = write(tmp_path, TINY)
    result = invoke("run", path, "--out", out, "--quiet", "--seed", "3")
    assert result.exit_code == 0, result.stderr
    report = out / "report.md"
    assert f"report written to {report}" in result.stdout
    for name in (
        "results.parquet",
        "results.csv",
        "summary.csv",
        "sensitivity.csv",
        "allocations.csv",
        "run.json",
    ):
        assert (out / name).is_file(), name
    assert report.is_file() and list((out / "figures").glob("*.png"))
    run_info = json.loads((out / "run.json").read_text())
    assert run_info["scenario"]["name"] == "tiny"
    assert run_info["scenario"]["evaluation"]["seed"] == 3


def test_existing_output_directory_needs_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier results")
    path = write(tmp_path, TINY)
    assert_user_error(invoke("run", path, "--out", out, "--quiet"), str(out), "--overwrite")
    assert (out / "keep.txt").read_text() == "earlier results"
    result = invoke("run", path, "--out", out, "--quiet", "--overwrite")
    assert result.exit_code == 0, result.stderr
    assert (out / "results.csv").is_file()


@pytest.mark.slow
def test_quickstart_subprocess(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "run_backtest.py"),
            "run",
            str(SCENARIO_DIR / "quickstart.yaml"),
            "--out",
            str(tmp_path / "qs"),
            "--quiet",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"report written to {tmp_path / 'qs' / 'report.html'}" in proc.stdout


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.parametrize("path", REAL_DATA_SCENARIOS, ids=lambda p: p.name)
def test_real_data_scenarios_run(path, tmp_path, shared_data_dir):
    out = tmp_path / "out"
    result = invoke("run", path, "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    assert (out / "results.csv").is_file()


def test_infeasible_cap_exits_2_naming_the_shortfall_and_keeps_rows(tmp_path):
    data = {**TINY, "sizes": {"shares": [10_000_000]}, "constraints": {"max_participation": 0.1}}
    out = tmp_path / "inf"
    result = invoke("run", write(tmp_path, data), "--out", out, "--quiet")
    assert_user_error(result, "no schedule succeeded", "max_participation=0.1", "shortfall")
    rows = pd.read_csv(out / "results.csv")
    assert not rows["success"].any() and rows["message"].str.contains("shortfall").all()


def test_report_renders_when_one_strategy_always_fails(tmp_path):
    # The larger size is infeasible under the cap: its rows fail, the smaller size's succeed.
    data = {
        **TINY,
        "sizes": {"shares": [2000, 10_000_000]},
        "constraints": {"max_participation": 0.5},
    }
    out = tmp_path / "partial"
    result = invoke("run", write(tmp_path, data), "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert (summary.loc[summary["size_spec"] == 10_000_000, "failed"] > 0).all()
    assert (out / "report.md").is_file()
    assert "warning" not in result.stderr.lower()


@pytest.mark.slow
def test_interrupted_overwrite_keeps_earlier_results_and_resume_completes(tmp_path, monkeypatch):
    # The package re-exports the function `evaluate`, which shadows the module's name.
    evaluate_module = importlib.import_module("simulator.evaluate")

    data = {**TINY, "market": {**TINY["market"], "days": 6}}
    path = write(tmp_path, data)
    out = tmp_path / "out"
    assert invoke("run", path, "--out", out, "--quiet").exit_code == 0
    earlier = (out / "results.csv").read_text()

    real = evaluate_module.run_day_task
    calls = []

    def interrupted(task):
        calls.append(task.day_index)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(evaluate_module, "run_day_task", interrupted)
    data["evaluation"] = {**data["evaluation"], "seed": 5}
    path = write(tmp_path, data)
    result = invoke("run", path, "--out", out, "--quiet", "--overwrite")
    assert result.exit_code == 130
    # The interrupted run replaced nothing; its two finished days wait in parts/.
    assert (out / "results.csv").read_text() == earlier
    assert len(list((out / "parts").glob("*.rows.parquet"))) == 2

    monkeypatch.setattr(evaluate_module, "run_day_task", real)
    assert invoke("run", path, "--out", out, "--quiet", "--resume").exit_code == 0
    resumed = pd.read_csv(out / "results.csv").drop(columns=["solve_ms"])
    fresh_out = tmp_path / "fresh"
    assert invoke("run", path, "--out", fresh_out, "--quiet").exit_code == 0
    fresh = pd.read_csv(fresh_out / "results.csv").drop(columns=["solve_ms"])
    pd.testing.assert_frame_equal(resumed, fresh)


def test_resume_refuses_parts_of_a_different_scenario(tmp_path):
    path = write(tmp_path, TINY)
    out = tmp_path / "out"
    assert invoke("run", path, "--out", out, "--quiet").exit_code == 0
    changed = write(tmp_path, {**TINY, "sizes": {"shares": [3000]}})
    assert_user_error(
        invoke("run", changed, "--out", out, "--quiet", "--resume"), "cannot resume", "--overwrite"
    )


# --------------------------------------------------------------------------- issue 11


def test_validate_rejects_a_strategy_that_cannot_use_the_model_kind(tmp_path):
    # issue 11: frog_replay listed analytical with kind book; validate passed and every one
    # of its rows failed.
    data = {**TINY, "model": {"kind": "book", "training_days": 2}}
    data["strategies"] = ["equal", "exact", "analytical"]
    assert_user_error(
        invoke("validate", write(tmp_path, data)),
        "strategies[2].name strategy 'analytical' does not support model.kind 'book'",
        "got 'analytical'",
    )


def test_lots_with_adv_relative_sizes_run_and_validate_says_so(tmp_path):
    # issue 11: lot_size 100 with adv_fraction failed every row ("sum(x) must be a whole
    # number of lots of 100; got 4316.936 shares") after validate had passed.
    data = {**TINY, "sizes": {"adv_fraction": [0.02, 0.1]}, "constraints": {"lot_size": 100}}
    data["output"] = {"figures": False}
    path = write(tmp_path, data)
    described = invoke("validate", path)
    assert described.exit_code == 0, described.stderr
    assert "each rounded to the nearest whole number of lots of 100 shares" in described.stdout
    out = tmp_path / "lots"
    result = invoke("run", path, "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    rows = pd.read_parquet(out / "results.parquet")
    assert rows["success"].all(), rows.loc[~rows["success"], "message"].iloc[0]
    assert ((rows["size_shares"] / 100) % 1 == 0).all() and (rows["size_shares"] >= 100).all()
    raw = rows["size_spec"] * rows["adv_shares"]
    assert (abs(rows["size_shares"] - raw) <= 50).all()  # the nearest whole lot
    allocations = pd.read_csv(out / "allocations.csv")
    totals = allocations.groupby(["size_spec", "strategy"])["shares"].sum()
    assert ((totals / 100) % 1 == 0).all()


def test_fitted_model_file_runs_in_a_scenario_and_gives_the_same_schedules(
    shared_data_dir, tmp_path
):
    # `run-backtest fit` output used through `model: {from: ...}` plans exactly like the
    # model the run fits itself (in sample on the FROG day: the same books, the same fit).
    frog = shared_data_dir / "databento_mbp10" / "FROG_2025-04-03_mbp10.csv.gz"
    saved = tmp_path / "frog_linear.json"
    result = invoke("fit", str(frog), "--model", "linear", "--out", str(saved))
    assert result.exit_code == 0, result.output
    base = {
        "name": "frog_from",
        "market": {"source": "databento", "path": str(frog), "intervals": 390},
        "model": {"kind": "linear", "training_days": 1},
        "strategies": ["equal", "exact"],
        "sizes": {"adv_fraction": [0.02]},
        "constraints": {"max_participation": 0.5},
        "evaluation": {"mode": "in_sample", "bootstrap_samples": 200},
        "output": {"figures": False},
    }
    fitted = tmp_path / "fitted.yaml"
    fitted.write_text(yaml.safe_dump(base))
    from_file = tmp_path / "from.yaml"
    from_file.write_text(
        yaml.safe_dump({**base, "model": {"from": str(saved), "training_days": 1}})
    )
    outs = {}
    for label, path in (("fitted", fitted), ("from", from_file)):
        out = tmp_path / label
        result = invoke("run", str(path), "--out", str(out), "--quiet")
        assert result.exit_code == 0, result.output
        outs[label] = pd.read_csv(out / "allocations.csv")
    pd.testing.assert_frame_equal(outs["fitted"], outs["from"])
    # A model of another length is refused by validate, naming the key and both lengths.
    short = {**base, "market": {**base["market"], "intervals": 78}}
    short["model"] = {"from": str(saved), "training_days": 1}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(short))
    result = invoke("validate", str(bad))
    assert result.exit_code == 2
    assert "model.from has 390 intervals; the market has 78" in result.output


def test_headline_lists_the_warnings_that_qualify_its_verdicts(tmp_path):
    # Two test days give intervals too wide to trust: the printed table must say so, with the
    # number of rows it applies to, not only summary.csv.
    data = {**TINY, "output": {"figures": False}}
    result = invoke("run", write(tmp_path, data), "--out", tmp_path / "o")
    assert result.exit_code == 0, result.stderr
    summary = pd.read_csv(tmp_path / "o" / "summary.csv")
    warned = summary["warnings"].dropna()
    assert len(warned)
    first = warned.iloc[0].split(";")[0].strip()
    rows = int(summary["warnings"].fillna("").str.contains(first, regex=False).sum())
    lines = result.stdout.splitlines()
    block = lines[lines.index("warnings:") + 1 :]
    assert f"  {first} ({rows} of {len(summary)} rows)" in block, result.stdout
