"""Issue 13, case 6: hostile or huge input is refused up front, in one line, within bounds.

The trial: a 1.5 KB YAML alias bomb made ``validate`` use 5.6 GB for 44 s; a 59 MB YAML ran
more than 150 s; YAML nested 1,000 deep gave "unexpected RecursionError"; 10,000 sizes
reached 24 GB; huge days/intervals/levels/bootstrap_samples ended in "unexpected
MemoryError"; ``n_jobs: 1000`` started one process per job; ``n_jobs: 2**40`` gave
"unexpected OverflowError"; a size of 1e300 exited 0 with ``predicted_bps = inf``.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from run_backtest import cli
from simulator.config import ScenarioError, load_scenario, parse_scenario
from simulator.config.resources import (
    MAX_ALLOCATION_ROWS,
    available_memory_bytes,
    check_resources,
    estimate_memory,
)
from simulator.config.yaml_io import MAX_ALIASES, MAX_DEPTH, MAX_NODES, MAX_SCENARIO_BYTES
from simulator.workers import ResourceCapWarning, available_cores, effective_n_jobs

REPO_ROOT = Path(__file__).resolve().parents[2]

TINY = {
    "name": "tiny",
    "market": {"source": "synthetic", "regime": "u_shape", "days": 4, "intervals": 30},
    "model": {"kind": "linear", "training_days": 2},
    "strategies": ["equal", "vwap", "exact"],
    "sizes": {"shares": [2000, 4000]},
    "evaluation": {"bootstrap_samples": 200},
    "output": {"figures": False},
}

ALIAS_BOMB = "name: bomb\n" + "a: &a [" + ", ".join(['"lol"'] * 9) + "]\n"
for _prev, _name in zip("abcdefgh", "bcdefghi", strict=True):
    ALIAS_BOMB += f"{_name}: &{_name} [" + ", ".join([f"*{_prev}"] * 9) + "]\n"


def invoke(*args):
    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:
        runner = CliRunner()
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def write(tmp_path: Path, data, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def assert_user_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "unexpected" not in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------- YAML


def _peak_rss_kb() -> str:
    # VmHWM belongs to the process image, so it starts afresh at exec (ru_maxrss would
    # include the memory of the pytest process the child was forked from).
    return "int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))"


def test_alias_bomb_is_refused_within_200_mb_and_2_s(tmp_path):
    bomb = write(tmp_path, ALIAS_BOMB)
    assert len(ALIAS_BOMB) < 1600 and ALIAS_BOMB.count("*") == 72
    code = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
        "from simulator.config import load_scenario, ScenarioError\n"  # imports not timed
        "t = time.perf_counter()\n"
        "try:\n"
        f"    load_scenario({str(bomb)!r})\n"
        "except ScenarioError as exc:\n"
        "    print(exc)\n"
        "print(time.perf_counter() - t)\n"
        f"print({_peak_rss_kb()})\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    message, seconds, peak_kb = proc.stdout.strip().splitlines()
    assert f"more than {MAX_NODES:,} nodes" in message and str(bomb) in message
    assert float(seconds) < 2.0
    assert int(peak_kb) < 200 * 1024
    # The whole command, interpreter start and imports included, within the same bounds.
    wrapper = (
        "import atexit, sys\n"
        f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
        f"atexit.register(lambda: print({_peak_rss_kb()}))\n"
        "from run_backtest import main\n"
        f"main(['validate', {str(bomb)!r}])\n"
    )
    start = time.perf_counter()
    cli_proc = subprocess.run(
        [sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=60
    )
    wall = time.perf_counter() - start
    assert cli_proc.returncode == 2 and cli_proc.stderr.count("\n") == 1
    assert "Traceback" not in cli_proc.stderr and "more than 200,000 nodes" in cli_proc.stderr
    assert int(cli_proc.stdout.strip()) < 200 * 1024
    assert wall < 10.0  # interpreter start and imports take about 1.5 s of it


def test_alias_count_and_node_budget(tmp_path):
    aliased = "name: x\nbase: &b 1\nlist: [" + ", ".join(["*b"] * (MAX_ALIASES + 1)) + "]\n"
    assert_user_error(invoke("validate", write(tmp_path, aliased)), f"more than {MAX_ALIASES}")
    # a few aliases are fine (a merge key, a repeated size list)
    data = "name: x\nsizes: &s {shares: [1000]}\n" + yaml.safe_dump(
        {k: v for k, v in TINY.items() if k not in ("name", "sizes")}
    )
    data += "extra: *s\n"
    err = assert_user_error(invoke("validate", write(tmp_path, data)), "extra is not a valid key")
    assert "YAML" not in err


def test_oversized_file_is_refused_before_parsing(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("name: x\nsizes:\n  shares: [" + "1, " * (MAX_SCENARIO_BYTES // 3) + "1]\n")
    start = time.perf_counter()
    err = assert_user_error(invoke("validate", big), "larger than 1024 KiB", str(big))
    assert time.perf_counter() - start < 1.0 and "line" not in err


def test_deep_nesting_is_one_line(tmp_path):
    deep = "name: x\nm: " + "[" * 1000 + "]" * 1000 + "\n"
    assert_user_error(invoke("validate", write(tmp_path, deep)), f"more than {MAX_DEPTH} levels")
    nested_maps = "name: x\n" + "".join(" " * i + f"k{i}:\n" for i in range(200))
    assert_user_error(invoke("validate", write(tmp_path, nested_maps)), "nested")


def test_python_tags_are_still_rejected(tmp_path):
    text = "name: !!python/object/apply:os.system ['echo hi']\n"
    assert_user_error(invoke("validate", write(tmp_path, text)), "invalid YAML")


def test_long_but_legitimate_scenarios_still_load(tmp_path):
    data = copy.deepcopy(TINY)
    data["sizes"] = {"shares": [1000 + i for i in range(5000)]}
    scenario = load_scenario(write(tmp_path, data))
    assert len(scenario.sizes.values) == 5000


# --------------------------------------------------------------------------- memory


def test_ten_thousand_sizes_are_refused_up_front_with_the_estimate(tmp_path):
    data = copy.deepcopy(TINY)
    data["market"]["intervals"] = 390
    data["sizes"] = {"shares": [1000 + i for i in range(10_000)]}
    data["evaluation"]["test_days"] = 1
    path = write(tmp_path, data)
    start = time.perf_counter()
    line = assert_user_error(
        invoke("run", path, "--out", tmp_path / "out"),
        "sizes.shares gives 15,600,000 allocation rows (10,000 sizes x 4 schedules x 390",
        f"more than the {MAX_ALLOCATION_ROWS:,} allowed",
        "GB of memory",
        "got '10,000 sizes'",
    )
    assert time.perf_counter() - start < 10 and not (tmp_path / "out").exists()
    assert_user_error(invoke("validate", path), line[len("error: ") :])


@pytest.mark.parametrize(
    ("key", "value", "path"),
    [
        ("days", 10**9, "market.days"),
        ("intervals", 10**8, "market.intervals"),
        ("levels", 10**8, "market.levels"),
        ("bootstrap_samples", 10**11, "evaluation.bootstrap_samples"),
    ],
)
def test_huge_dimensions_are_refused_with_the_estimate(tmp_path, key, value, path):
    data = copy.deepcopy(TINY)
    section = "evaluation" if key == "bootstrap_samples" else "market"
    data[section][key] = value
    line = assert_user_error(
        invoke("validate", write(tmp_path, data)), f"error: {path} ", "of memory", f"got {value}"
    )
    assert "makes the run need about" in line or "allocation rows" in line


def test_memory_budget_from_the_environment(monkeypatch):
    scenario = parse_scenario(TINY)
    estimate = estimate_memory(scenario)
    assert 150e6 < estimate.total_bytes < 400e6
    monkeypatch.setenv("TRADEALLOC_MAX_MEMORY", "100M")
    assert available_memory_bytes() <= 100 * 2**20
    with pytest.raises(ScenarioError, match=r"more than the .* available"):
        check_resources(scenario)
    monkeypatch.setenv("TRADEALLOC_MAX_MEMORY", "lots")
    with pytest.raises(ScenarioError, match="TRADEALLOC_MAX_MEMORY must be a size"):
        check_resources(scenario)
    monkeypatch.delenv("TRADEALLOC_MAX_MEMORY")
    assert check_resources(scenario, available=1e9) is not None


def test_estimate_tracks_measured_allocation_memory():
    # The allocation term was calibrated on measured runs (about 110-140 bytes per row);
    # check its arithmetic against an independent count.
    data = copy.deepcopy(TINY)
    data["sizes"] = {"shares": [1000 + i for i in range(50)]}
    estimate = estimate_memory(parse_scenario(data))
    rows = 1 * 50 * (3 + 1) * 30  # sizes x (3 strategies + oracle) x intervals
    assert estimate.allocation_rows == rows
    assert estimate.terms["allocations"] == pytest.approx(rows * 140.0)


# --------------------------------------------------------------------------- sizes


def test_a_size_whose_cost_overflows_is_rejected(tmp_path):
    data = copy.deepcopy(TINY)
    data["sizes"] = {"shares": [1.0e300]}
    assert_user_error(
        invoke("run", write(tmp_path, data), "--out", tmp_path / "o"),
        "sizes.shares[0] must be <= 1e+12 shares",
        "overflow",
        "got 1e+300",
    )
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- n_jobs


def test_n_jobs_is_capped_at_the_cores():
    cores = available_cores()
    with pytest.warns(ResourceCapWarning, match=f"n_jobs = 1000 exceeds the {cores} available"):
        assert effective_n_jobs(1000) == cores
    with pytest.warns(ResourceCapWarning):
        assert effective_n_jobs(2**40) == cores
    assert effective_n_jobs(-1) == cores
    with pytest.warns(ResourceCapWarning, match="leaves no core"):
        assert effective_n_jobs(-(2**40)) == 1
    assert effective_n_jobs(1) == 1


PID_PLUGIN = """
import os
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from strategies import Strategy


@dataclass(frozen=True)
class Pid(Strategy):
    name: ClassVar[str] = "pid"
    description: ClassVar[str] = "TWAP, logging the worker's pid (test plugin)"
    log: str = ""

    def schedule(self, problem):
        with open(self.log, "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        n = problem.n_intervals
        return np.full(n, problem.total_shares / n)
"""


@pytest.mark.parametrize("n_jobs", ["1000", str(2**40)])
def test_n_jobs_1000_starts_at_most_the_cores(tmp_path, n_jobs):
    plugin = tmp_path / "pid.py"
    plugin.write_text(PID_PLUGIN)
    log = tmp_path / "pids.txt"
    data = copy.deepcopy(TINY)
    data["market"]["days"] = 8
    data["strategies"] = ["equal", {"name": "pid.py:Pid", "params": {"log": str(log)}}]
    result = invoke("run", write(tmp_path, data), "--out", tmp_path / "o", "--n-jobs", n_jobs)
    assert result.exit_code == 0, result.stderr
    cores = available_cores()
    assert f"warning: n_jobs = {n_jobs} exceeds the {cores} available cores" in result.stderr
    workers = set(log.read_text().split())
    assert 1 <= len(workers) <= cores
    assert str(os.getpid()) not in workers or cores == 1
    out = invoke("validate", write(tmp_path, {**data, "evaluation": {"n_jobs": int(n_jobs)}}))
    assert f"n_jobs {n_jobs} (capped at the {cores} available cores)" in out.stdout
