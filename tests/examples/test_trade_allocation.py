"""The seed workflow runs end to end, as a script and as a notebook, so neither can rot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
EXPORTS = (
    "strategy_comparison.csv",
    "sensitivity_analysis.csv",
    "optimal_allocations.csv",
    "optimization_results.pkl",
    "strategy_comparison.png",
    "sensitivity_analysis.png",
    "walk_forward_summary.csv",
    "in_sample_summary.csv",
    "reading.txt",
)


def _check_outputs(out: Path) -> None:
    for name in EXPORTS:
        assert (out / name).is_file(), name
    comparison = pd.read_csv(out / "strategy_comparison.csv")
    linear = comparison[comparison["Model"] == "linear"].set_index("Strategy")
    # Every solver of the linear model reaches the same optimum as the exact one.
    best = linear.loc["Linear (Exact)", "Total Impact"]
    for name in ("Linear (CVXPY)", "Linear (Analytical)", "Linear (Scipy)"):
        assert linear.loc[name, "Total Impact"] == pytest.approx(best, rel=1e-4)
    assert linear.loc["Linear (Exact)", "Improvement %"] > 0
    allocations = pd.read_csv(out / "optimal_allocations.csv")
    assert len(allocations) == 390
    assert allocations["Linear (Exact)"].sum() == pytest.approx(100_000)
    sensitivity = pd.read_csv(out / "sensitivity_analysis.csv")
    assert list(sensitivity["Shares"]) == [50_000, 75_000, 100_000, 150_000, 200_000]
    reading = (out / "reading.txt").read_text()
    assert "in sample" in reading and "walk-forward" in reading


@pytest.mark.slow
def test_script_runs_end_to_end(tmp_path: Path):
    out = tmp_path / "script"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "trade_allocation.py"), "--out", str(out), "--quick"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Reading:" in proc.stdout
    _check_outputs(out)


@pytest.mark.slow
def test_notebook_executes(tmp_path: Path, monkeypatch):
    import nbclient
    import nbformat

    out = tmp_path / "notebook"
    monkeypatch.setenv("TRADEALLOC_EXAMPLE_OUT", str(out))
    monkeypatch.setenv("TRADEALLOC_EXAMPLE_QUICK", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(EXAMPLES), str(REPO)]))
    nb = nbformat.read(EXAMPLES / "trade_allocation.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(EXAMPLES)}}
    )
    client.execute()
    _check_outputs(out)
