"""Issue 13, cases 1-4: a run directory is a transaction.

Each test reproduces one case of the fault-injection trial with its commands (resume without a
manifest, concurrent runs, a failure while the outputs are replaced, corrupt parts, foreign
files) and checks the fixed behaviour: one line and exit 2 where the run must refuse, a
warning naming the file where it recovers, and outputs that are the previous set or the new
one, never a mix.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from run_backtest import cli
from simulator.rundir import INTERNAL_DIR

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, str(REPO_ROOT / "run_backtest.py")]

# Two sizes, 30 intervals, 4 walk-forward test days: about a second per run.
TINY = {
    "name": "tiny",
    "market": {"source": "synthetic", "regime": "u_shape", "days": 6, "intervals": 30},
    "model": {"kind": "linear", "training_days": 2},
    "strategies": ["equal", "vwap", "exact"],
    "sizes": {"shares": [2000, 4000]},
    "evaluation": {"bootstrap_samples": 200},
    "output": {"figures": False},
}

# A strategy that sleeps, and logs the pid of the process that ran it.
SLOW_PLUGIN = """
import os, time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from strategies import Strategy


@dataclass(frozen=True)
class Slow(Strategy):
    name: ClassVar[str] = "slow"
    description: ClassVar[str] = "TWAP after a pause (test plugin)"
    delay_s: float = 0.0
    log: str = ""

    def schedule(self, problem):
        if self.log:
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


def assert_user_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def digests(directory: Path) -> dict[str, str]:
    """SHA-256 of every file under ``directory`` (tradealloc's own folder excluded)."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and ".tradealloc" not in p.relative_to(directory).parts
    }


def outputs_only(directory: Path) -> dict[str, str]:
    return {k: v for k, v in digests(directory).items() if not k.startswith("parts/")}


def interrupted_run(tmp_path, data, out, monkeypatch, after: int = 2, extra=()):
    """Run ``data`` into ``out`` and interrupt it after ``after`` finished days."""
    evaluate_module = importlib.import_module("simulator.evaluate")
    real = evaluate_module.run_day_task
    calls = []

    def interrupted(task):
        calls.append(task.day_index)
        if len(calls) > after:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(evaluate_module, "run_day_task", interrupted)
    try:
        result = invoke("run", write(tmp_path, data), "--out", out, "--quiet", *extra)
    finally:
        monkeypatch.setattr(evaluate_module, "run_day_task", real)
    assert result.exit_code == 130, result.stderr
    return result


def results_without_timing(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "results.parquet").drop(columns=["solve_ms"])


@pytest.fixture(autouse=True)
def _private_digest_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRADEALLOC_CACHE_DIR", str(tmp_path / "cache"))


# --------------------------------------------------------------------------- case 1


def test_case1_resume_without_manifest_refuses_another_scenario(tmp_path):
    # Trial: run quickstart into D, delete parts/manifest.json and some day parts, then
    # `run sensitivity.yaml --out D --resume` exited 0 with quickstart's days inside.
    out = tmp_path / "D"
    assert invoke("run", write(tmp_path, TINY), "--out", out, "--quiet").exit_code == 0
    before = digests(out)
    (out / "parts" / "manifest.json").unlink()
    for part in sorted((out / "parts").glob("*day0000[23]*")):
        part.unlink()
    before = digests(out)
    other = {**TINY, "name": "other", "sizes": {"shares": [3000, 5000, 7000]}}
    result = invoke("run", write(tmp_path, other, "o.yaml"), "--out", out, "--quiet", "--resume")
    assert_user_error(result, f"cannot resume in '{out}'", "no fingerprint", "--overwrite")
    # ... and with the same scenario under another seed
    path = write(tmp_path, TINY)
    result = invoke("run", path, "--out", out, "--quiet", "--resume", "--seed", "5")
    assert_user_error(result, "cannot resume", "no fingerprint")
    assert digests(out) == before  # nothing was touched


def test_case1_resume_names_what_changed(tmp_path, monkeypatch):
    out = tmp_path / "D"
    interrupted_run(tmp_path, TINY, out, monkeypatch)
    path = write(tmp_path, TINY)
    result = invoke("run", path, "--out", out, "--quiet", "--resume", "--seed", "5")
    assert_user_error(result, "its parts were made with seed 0, not 5")
    other = {**TINY, "sizes": {"shares": [3000]}}
    result = invoke("run", write(tmp_path, other, "o.yaml"), "--out", out, "--quiet", "--resume")
    assert_user_error(result, "different scenario")
    # the margin of the verdict changes results, so it is part of the fingerprint
    margin = copy.deepcopy(TINY)
    margin["evaluation"]["equivalence_bps"] = 0.5
    result = invoke("run", write(tmp_path, margin, "m.yaml"), "--out", out, "--quiet", "--resume")
    assert_user_error(result, "different scenario")
    # execution settings do not: n_jobs, backend
    result = invoke("run", path, "--out", out, "--quiet", "--resume", "--backend", "threading")
    assert result.exit_code == 0, result.stderr


def test_case1_resume_refuses_an_edited_plugin(tmp_path, monkeypatch):
    # Trial: edit the plugin between the interrupted run and --resume: old and new days mixed.
    plugin = tmp_path / "slow.py"
    plugin.write_text(SLOW_PLUGIN)
    data = {**TINY, "strategies": ["equal", {"name": "slow.py:Slow", "label": "slow"}]}
    out = tmp_path / "D"
    interrupted_run(tmp_path, data, out, monkeypatch)
    plugin.write_text(SLOW_PLUGIN.replace("np.full(n,", "0.0 + np.full(n,"))
    result = invoke("run", write(tmp_path, data), "--out", out, "--quiet", "--resume")
    assert_user_error(result, "the source of plugin strategy 'slow' changed", str(plugin))


def test_case1_resume_refuses_a_replaced_data_file(tmp_path, monkeypatch):
    from simulator.synthetic import synthesize_market

    data_file = tmp_path / "books.parquet"
    synthesize_market("u_shape", days=6, intervals=30, seed=1).books.to_parquet(data_file)
    data = {**TINY, "market": {"source": "parquet", "path": "books.parquet"}}
    out = tmp_path / "D"
    interrupted_run(tmp_path, data, out, monkeypatch)
    synthesize_market("u_shape", days=6, intervals=30, seed=2).books.to_parquet(data_file)
    result = invoke("run", write(tmp_path, data), "--out", out, "--quiet", "--resume")
    assert_user_error(result, f"data file '{data_file}' changed")


def test_data_file_digest_is_cached_by_stat_signature(tmp_path, monkeypatch):
    from simulator import rundir

    data_file = tmp_path / "big.bin"
    data_file.write_bytes(os.urandom(1 << 20))
    calls = []
    real = rundir.file_sha256
    monkeypatch.setattr(rundir, "file_sha256", lambda p: calls.append(p) or real(p))
    first = rundir.cached_file_digest(data_file)
    again = rundir.cached_file_digest(data_file)
    assert (
        first
        == again
        == {
            "size": 1 << 20,
            "sha256": hashlib.sha256(data_file.read_bytes()).hexdigest(),
        }
    )
    assert len(calls) == 1  # the second call used the cache
    # same size and mtime restored (cp -p, touch -d): ctime still changes, so it is re-hashed
    st = data_file.stat()
    with open(data_file, "r+b") as fh:
        fh.write(b"\0" * 16)
    os.utime(data_file, ns=(st.st_atime_ns, st.st_mtime_ns))
    changed = rundir.cached_file_digest(data_file)
    assert len(calls) == 2 and changed["sha256"] != first["sha256"]


# --------------------------------------------------------------------------- case 2


def _hold_lock(out: Path) -> subprocess.Popen:
    code = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from simulator.rundir import RunLock
        lock = RunLock({str(out)!r}).acquire()
        print("locked", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_case2_a_second_run_is_refused_while_one_holds_the_directory(tmp_path):
    # Trial: a second --overwrite run counted the other run's parts as its own.
    import socket

    out = tmp_path / "D"
    path = write(tmp_path, TINY)
    assert invoke("run", path, "--out", out, "--quiet").exit_code == 0
    before = digests(out)
    holder = _hold_lock(out)
    try:
        result = invoke("run", path, "--out", out, "--quiet", "--overwrite", "--seed", "5")
        line = assert_user_error(result, "is in use by another run", f"pid {holder.pid}")
        assert f"host {socket.gethostname()}" in line
        assert_user_error(invoke("report", out), "is in use by another run")
    finally:
        holder.kill()
        holder.wait()
    assert digests(out) == before
    # The killed holder's lock is stale: the next run takes it over and says so.
    result = invoke("run", path, "--out", out, "--quiet", "--overwrite", "--seed", "5")
    assert result.exit_code == 0, result.stderr
    assert f"took over the stale lock of '{out}'" in result.stderr
    assert f"pid {holder.pid}" in result.stderr and "no longer running" in result.stderr
    run_info = json.loads((out / "run.json").read_text())
    assert run_info["scenario"]["evaluation"]["seed"] == 5
    assert set(pd.read_parquet(out / "results.parquet")["day_index"]) == {2, 3, 4, 5}


@pytest.mark.slow
def test_case2_two_real_runs_at_once(tmp_path):
    # Two processes race for one directory: exactly one runs, the other exits 2 at once.
    plugin = tmp_path / "slow.py"
    plugin.write_text(SLOW_PLUGIN)
    data = {
        **TINY,
        "strategies": ["equal", {"name": "slow.py:Slow", "params": {"delay_s": 1.0}}],
    }
    path = write(tmp_path, data)
    out = tmp_path / "D"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    first = subprocess.Popen(
        [*CLI, "run", str(path), "--out", str(out), "--quiet"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The first run holds the lock from its start; its slow plugin plans every window (a
    # second per call) before any day runs, so it is still running when the second starts.
    lock = out / INTERNAL_DIR / "lock"
    deadline = time.monotonic() + 60
    while not lock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, "the first run ended before the second started"
    second = subprocess.run(
        [*CLI, "run", str(path), "--out", str(out), "--quiet", "--overwrite", "--seed", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert first.wait(timeout=120) == 0, first.stderr.read()
    assert second.returncode == 2 and "is in use by another run" in second.stderr
    assert f"pid {first.pid}" in second.stderr
    rows = pd.read_parquet(out / "results.parquet")
    assert json.loads((out / "run.json").read_text())["scenario"]["evaluation"]["seed"] == 0
    assert sorted(rows["day_index"].unique()) == [2, 3, 4, 5]


# --------------------------------------------------------------------------- case 3


@pytest.mark.slow
def test_case3_file_size_limit_leaves_the_previous_set_whole(tmp_path):
    # Trial: an --overwrite that hit the file-size limit left new results beside the old
    # report and run.json, and said "unexpected OSError ... File too large" without a name.
    import resource

    data = copy.deepcopy(TINY)
    data["output"] = {"figures": True, "report": "markdown"}
    path = write(tmp_path, data)
    out = tmp_path / "D"
    assert invoke("run", path, "--out", out, "--quiet").exit_code == 0
    before = outputs_only(out)
    parts = max(p.stat().st_size for p in (out / "parts").iterdir())
    limit = parts + 4096
    too_big = sorted(
        name
        for name, _ in before.items()
        if (out / name).stat().st_size > limit and name != "results.parquet"
    )
    assert too_big, "the scenario must write an output larger than every part"

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(
        [*CLI, "run", str(path), "--out", str(out), "--quiet", "--overwrite", "--seed", "9"],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        preexec_fn=limited,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: File too large "), proc.stderr
    assert "the previous ones are unchanged" in lines[0]
    named = lines[0].rsplit(": ", 1)[1]  # the output file that hit the limit
    assert named in {str(out / name) for name in too_big}
    assert outputs_only(out) == before
    assert not list((out / ".tradealloc").glob("staging-*"))


KILL_AFTER_REPLACE = """
import os, signal, sys
sys.path.insert(0, {repo!r})
real = os.replace

def replace(src, dst, *a, **k):
    real(src, dst, *a, **k)
    if str(dst).endswith({victim!r}) and ".tradealloc" not in str(dst):
        os.kill(os.getpid(), signal.SIGKILL)

os.replace = replace
from run_backtest import main
main(sys.argv[1:])
"""


@pytest.mark.slow
def test_case3_kill_during_the_swap_is_completed_by_the_next_command(tmp_path):
    # Trial: kill -9 right after results.parquet was replaced: new results beside the old
    # report and run.json.  Now the commit plan is recorded before the first rename, and the
    # next command that opens the directory completes it: the new set, whole.
    data = copy.deepcopy(TINY)
    data["output"] = {"figures": True, "report": "markdown"}
    path = write(tmp_path, data)
    out = tmp_path / "D"
    assert invoke("run", path, "--out", out, "--quiet").exit_code == 0
    before = outputs_only(out)
    script = tmp_path / "killer.py"
    script.write_text(KILL_AFTER_REPLACE.format(repo=str(REPO_ROOT), victim="results.parquet"))
    proc = subprocess.run(
        [sys.executable, str(script), "run", str(path), "--out", str(out), "--quiet"]
        + ["--overwrite", "--seed", "9"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL
    assert (out / ".tradealloc" / "commit.json").is_file()  # the swap is pending
    # Any command completes it; `report` re-renders from a consistent set.
    result = invoke("report", out)
    assert result.exit_code == 0, result.stderr
    assert "completed the interrupted replacement of the outputs" in result.stderr
    after = outputs_only(out)
    assert json.loads((out / "run.json").read_text())["scenario"]["evaluation"]["seed"] == 9
    assert after["results.parquet"] != before["results.parquet"]
    assert after["summary.csv"] != before["summary.csv"]
    recorded = json.loads((out / ".tradealloc" / "outputs.json").read_text())["files"]
    for name, digest in recorded.items():
        if not name.startswith(("figures/", "report.")):  # re-rendered by `report`
            assert after[name] == digest, name
    fresh = tmp_path / "fresh"
    assert invoke("run", path, "--out", fresh, "--quiet", "--seed", "9").exit_code == 0
    pd.testing.assert_frame_equal(results_without_timing(out), results_without_timing(fresh))


def test_case3_error_while_writing_keeps_the_previous_set(tmp_path, monkeypatch):
    # A failure at any point before the commit (here: the report) changes nothing visible.
    from simulator import run as run_module

    data = copy.deepcopy(TINY)
    data["output"] = {"figures": True, "report": "markdown"}
    path = write(tmp_path, data)
    out = tmp_path / "D"
    assert invoke("run", path, "--out", out, "--quiet").exit_code == 0
    before = outputs_only(out)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_module, "render_report", full_disk)
    result = invoke("run", path, "--out", out, "--quiet", "--overwrite", "--seed", "4")
    assert_user_error(result, "No space left on device")
    assert outputs_only(out) == before
    assert not list((out / ".tradealloc").glob("staging-*"))


def test_overwrite_with_another_format_removes_only_files_of_the_previous_set(tmp_path):
    data = copy.deepcopy(TINY)
    data["output"] = {"figures": True, "report": "markdown"}
    out = tmp_path / "D"
    assert invoke("run", write(tmp_path, data), "--out", out, "--quiet").exit_code == 0
    (out / "notes.md").write_text("mine")
    (out / "figures" / "my_plot.png").write_bytes(b"png")
    (out / "figures" / "sensitivity.png").write_bytes(b"edited by hand")
    data["output"] = {"figures": False}
    result = invoke("run", write(tmp_path, data), "--out", out, "--quiet", "--overwrite")
    assert result.exit_code == 0, result.stderr
    assert not (out / "report.md").exists()
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["my_plot.png", "sensitivity.png"]
    assert (out / "figures" / "sensitivity.png").read_bytes() == b"edited by hand"
    assert (out / "notes.md").read_text() == "mine"


# --------------------------------------------------------------------------- case 4


def test_case4_corrupt_part_is_recomputed_with_a_warning(tmp_path, monkeypatch):
    # Trial: a part with garbage bytes stopped --resume with "unexpected ArrowInvalid ...
    # Parquet magic bytes not found" (exit 1).
    out = tmp_path / "D"
    interrupted_run(tmp_path, TINY, out, monkeypatch)
    rows = sorted((out / "parts").glob("*.rows.parquet"))
    assert len(rows) == 2
    rows[0].write_bytes(b"garbage, not parquet")
    result = invoke("run", write(tmp_path, TINY), "--out", out, "--quiet", "--resume")
    assert result.exit_code == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning: part")]
    assert len(warning) == 1 and f"'{rows[0]}'" in warning[0] and "checksum" in warning[0]
    fresh = tmp_path / "fresh"
    assert invoke("run", write(tmp_path, TINY), "--out", fresh, "--quiet").exit_code == 0
    pd.testing.assert_frame_equal(results_without_timing(out), results_without_timing(fresh))


def test_case4_garbled_part_model_names_the_file(tmp_path, monkeypatch):
    # Trial: a part model with kind 'banana' gave "kind must be one of ...; got 'banana'"
    # without naming the file.  Here the manifest is updated too, so the checksum passes and
    # the reader itself must fail, name the file and recompute.  Only the representative
    # (last) day stores its model, so the run is finished first and then resumed.
    out = tmp_path / "D"
    assert invoke("run", write(tmp_path, TINY), "--out", out, "--quiet").exit_code == 0
    (model,) = sorted((out / "parts").glob("*.model.json"))
    text = json.loads(model.read_text())
    text["kind"] = "banana"
    model.write_text(json.dumps(text))
    manifest_path = out / "parts" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    entry = manifest["parts"][model.name[: -len(".model.json")]]
    entry["files"][model.name] = {
        "size": model.stat().st_size,
        "sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
    }
    manifest_path.write_text(json.dumps(manifest))
    result = invoke("run", write(tmp_path, TINY), "--out", out, "--quiet", "--resume")
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning: part")]
    assert len(lines) == 1 and f"'{model}'" in lines[0] and "banana" in lines[0]
    assert len(pd.read_parquet(out / "results.parquet")["day_index"].unique()) == 4


def test_case4_overwrite_keeps_foreign_files_under_parts(tmp_path, monkeypatch):
    # Trial: --overwrite deleted everything under OUT/parts/, files tradealloc never wrote too.
    out = tmp_path / "D"
    interrupted_run(tmp_path, TINY, out, monkeypatch)
    ours = sorted(p.name for p in (out / "parts").glob("*.parquet"))
    (out / "parts" / "notes.txt").write_text("keep me")
    lookalike = out / "parts" / "u_shape__day00099.rows.parquet"
    lookalike.write_bytes(b"not written by tradealloc")
    again = {**TINY, "name": "again"}
    interrupted_run(tmp_path, again, out, monkeypatch, after=1, extra=("--overwrite",))
    assert (out / "parts" / "notes.txt").read_text() == "keep me"
    assert lookalike.read_bytes() == b"not written by tradealloc"
    now = sorted(p.name for p in (out / "parts").glob("*.parquet") if p != lookalike)
    assert len(now) == 1 and now[0] in ours  # the old parts went, the new run wrote one
    # a part file the manifest does not list is never reused
    result = invoke("run", write(tmp_path, again), "--out", out, "--quiet", "--resume")
    assert result.exit_code == 0, result.stderr
    assert lookalike.read_bytes() == b"not written by tradealloc"


# --------------------------------------------------------------------------- OSError


def test_every_os_error_names_the_path_and_exits_2(tmp_path):
    path = write(tmp_path, TINY)
    blocker = tmp_path / "afile"
    blocker.write_text("")
    result = invoke("run", path, "--out", blocker / "sub", "--quiet")
    assert_user_error(result, str(blocker))
    out = tmp_path / "D"
    assert invoke("run", path, "--out", out, "--quiet").exit_code == 0
    before = outputs_only(out)
    (out / "summary.csv").unlink()
    (out / "summary.csv").mkdir()  # something that is not a file where an output goes
    del before["summary.csv"]
    result = invoke("run", path, "--out", out, "--quiet", "--overwrite", "--seed", "3")
    assert_user_error(result, "is not a file", str(out / "summary.csv"), "unchanged")
    assert outputs_only(out) == before
    assert not (out / ".tradealloc" / "commit.json").exists()


def test_umask_022_gives_0644_outputs(tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "D"
        data = copy.deepcopy(TINY)
        data["output"] = {"figures": True, "report": "html"}
        assert invoke("run", write(tmp_path, data), "--out", out, "--quiet").exit_code == 0
    finally:
        os.umask(old)
    files = [p for p in out.rglob("*") if p.is_file() and ".tradealloc" not in p.parts]
    assert {"results.csv", "report.html", "run.json"} <= {p.name for p in files}
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {"0o644"}
