"""Issue 13, case 8: signals, worker processes, the scheduler check, output names, CSV cells.

The trial: SIGTERM exited 143 with no message and left 4 orphan processes; loky workers
outlived a killed run by more than 10 minutes; an unreachable ``--scheduler`` failed after
30 s with "unexpected OSError" after ``--overwrite`` had deleted the old parts; a scenario
``name: "../../x"`` sent the default output directory outside ``results/``; labels beginning
with ``=`` were written unchanged into CSV (spreadsheet formula injection).
"""

from __future__ import annotations

import copy
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from run_backtest import cli
from simulator.outputs import read_csv

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, str(REPO_ROOT / "run_backtest.py")]

TINY = {
    "name": "tiny",
    "market": {"source": "synthetic", "regime": "u_shape", "days": 4, "intervals": 30},
    "model": {"kind": "linear", "training_days": 2},
    "strategies": ["equal", "vwap", "exact"],
    "sizes": {"shares": [2000, 4000]},
    "evaluation": {"bootstrap_samples": 200},
    "output": {"figures": False},
}

SLOW_PLUGIN = """
import os, time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from strategies import Strategy


@dataclass(frozen=True)
class Slow(Strategy):
    name: ClassVar[str] = "slow"
    description: ClassVar[str] = "TWAP after a pause, logging the worker's pid (test plugin)"
    delay_s: float = 0.0
    log: str = ""

    def schedule(self, problem):
        with open(self.log, "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        time.sleep(self.delay_s)
        n = problem.n_intervals
        return np.full(n, problem.total_shares / n)
"""


def invoke(*args):
    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:
        runner = CliRunner()
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def write(tmp_path: Path, data, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead but still listed until its parent reaps it
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def slow_run(tmp_path: Path, *, days: int = 14, delay_s: float = 0.4):
    """Start a 2-worker loky run whose plugin sleeps; return (process, out, pid log)."""
    plugin = tmp_path / "slow.py"
    plugin.write_text(SLOW_PLUGIN)
    log = tmp_path / "pids.txt"
    data = copy.deepcopy(TINY)
    data["market"]["days"] = days
    data["sizes"] = {"shares": [2000]}
    data["strategies"] = [
        "equal",
        {"name": "slow.py:Slow", "params": {"delay_s": delay_s, "log": str(log)}},
    ]
    data["evaluation"] = {**data["evaluation"], "n_jobs": 2, "backend": "loky"}
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*CLI, "run", str(write(tmp_path, data)), "--out", str(out), "--quiet"],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        workers = set(log.read_text().split()) if log.exists() else set()
        if len(list((out / "parts").glob("*.rows.parquet"))) >= 1 and len(workers) >= 2:
            return proc, out, log
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the run did not start its workers in time")


def wait_gone(pids, seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    left = set(pids)
    while left and time.monotonic() < deadline:
        left = {pid for pid in left if alive(pid)}
        time.sleep(0.1)
    return left


@pytest.fixture(autouse=True)
def _private_digest_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRADEALLOC_CACHE_DIR", str(tmp_path / "cache"))


# --------------------------------------------------------------------------- signals


@pytest.mark.slow
def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    proc, out, log = slow_run(tmp_path)
    workers = {int(pid) for pid in log.read_text().split()} - {proc.pid}
    assert len(workers) == 2
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143
    lines = stderr.strip().splitlines()
    assert lines == [
        "error: terminated (SIGTERM); finished test days are kept, rerun with --resume to continue"
    ]
    kept = list((out / "parts").glob("*.rows.parquet"))
    assert 1 <= len(kept) < 12
    assert not wait_gone(workers, 5.0), "loky workers outlived the terminated run"
    assert not (out / ".tradealloc" / "lock").exists()
    assert not list((out / ".tradealloc").glob("staging-*"))
    assert not (out / "results.csv").exists()


@pytest.mark.slow
def test_workers_of_a_killed_run_exit_and_resume_completes(tmp_path):
    proc, out, log = slow_run(tmp_path, days=8, delay_s=0.4)
    workers = {int(pid) for pid in log.read_text().split()} - {proc.pid}
    proc.kill()  # kill -9: no handler runs in the driver
    proc.wait(timeout=30)
    assert not wait_gone(workers, 5.0), "loky workers outlived the killed run"
    # the lock file of the dead run is stale; --resume takes it over and finishes
    assert (out / ".tradealloc" / "lock").exists()
    scenario = tmp_path / "s.yaml"
    resumed = subprocess.run(
        [*CLI, "run", str(scenario), "--out", str(out), "--quiet", "--resume"] + ["--n-jobs", "1"],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "took over the stale lock" in resumed.stderr and f"pid {proc.pid}" in resumed.stderr
    assert pd.read_parquet(out / "results.parquet")["day_index"].nunique() == 6


@pytest.mark.slow
def test_loky_pool_is_shut_down_after_a_run(tmp_path):
    from joblib.externals.loky import reusable_executor

    data = copy.deepcopy(TINY)
    data["market"]["days"] = 6
    result = invoke("run", write(tmp_path, data), "--out", tmp_path / "o", "--n-jobs", "2")
    assert result.exit_code == 0, result.stderr
    executor = reusable_executor._executor
    assert executor is None or executor._flags.shutdown


# --------------------------------------------------------------------------- scheduler


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_scheduler_fails_fast_before_anything_is_deleted(tmp_path):
    path = write(tmp_path, TINY)
    out = tmp_path / "out"
    assert invoke("run", path, "--out", out, "--quiet").exit_code == 0
    before = {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in out.rglob("*") if p.is_file()
    }
    address = f"tcp://127.0.0.1:{_closed_port()}"
    start = time.perf_counter()
    result = invoke("run", path, "--out", out, "--quiet", "--overwrite", "--scheduler", address)
    elapsed = time.perf_counter() - start
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"Dask scheduler '{address}' is not reachable" in lines[0]
    assert "refused" in lines[0].lower() and elapsed < 10
    after = {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in out.rglob("*") if p.is_file()
    }
    assert after == before


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "folder"), [("../../x", "x"), ("/etc/evil", "etc-evil"), ("..", "scenario")]
)
def test_scenario_name_cannot_move_the_output_directory(tmp_path, monkeypatch, name, folder):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    data = {**TINY, "name": name}
    data.pop("output")
    path = write(work, {**data, "output": {"figures": False}})
    validate = invoke("validate", path)
    assert validate.exit_code == 0, validate.stderr
    assert f"in results/{folder}." in validate.stdout
    result = invoke("run", path, "--quiet")
    assert result.exit_code == 0, result.stderr
    assert (work / "results" / folder / "results.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b"]
    rows = pd.read_parquet(work / "results" / folder / "results.parquet")
    assert set(rows["scenario"]) == {name}  # the name itself is kept in the rows


# --------------------------------------------------------------------------- CSV cells


def test_formula_like_labels_are_escaped_in_every_csv(tmp_path):
    labels = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)"]
    data = copy.deepcopy(TINY)
    names = ["vwap", "exact", "analytical", "almgren-chriss"]
    data["strategies"] = ["equal"] + [
        {"name": name, "label": label} for name, label in zip(names, labels, strict=True)
    ]
    out = tmp_path / "o"
    result = invoke("run", write(tmp_path, data), "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    for name in ("results.csv", "summary.csv", "allocations.csv"):
        text = (out / name).read_text()
        for label in labels:
            escaped = "'" + label
            quoted = '"' + escaped.replace('"', '""') + '"'
            assert escaped in text or quoted in text, (name, label)
            cells = pd.read_csv(out / name, dtype=str, keep_default_na=False)
            assert not cells.map(lambda v, lab=label: v == lab).any().any(), (name, label)
        # numbers untouched: negative improvements stay numbers
    summary = pd.read_csv(out / "summary.csv")
    assert pd.api.types.is_float_dtype(summary["improvement_bps"])
    assert (summary["improvement_bps"] < 0).any()
    back = read_csv(out / "summary.csv")
    assert set(labels) <= set(back["strategy"])
    rows = pd.read_parquet(out / "results.parquet")  # Parquet keeps the labels as they are
    assert set(labels) <= set(rows["strategy"])
