"""``scenarios/large.yaml`` now against an earlier commit, measured side by side in one run.

Checks the earlier commit out into a temporary git worktree, writes one copy of its
``large.yaml`` with ``market.days`` set to ``--days`` (140 by default) and figures off, and
runs it serially (``--n-jobs 1``) with both checkouts, alternating, ``--repeats`` times each;
then runs this checkout's own ``large.yaml`` (same days, figures off) and, as shipped (270
days, figures and HTML report on), with ``--n-jobs 1`` and ``--n-jobs 2`` (cold pool: a
fresh process each time) and prints wall times and ratios.  Both checkouts
import their own code (``PYTHONPATH``) and the same installed packages.

Usage: ``python benchmarks/large_vs_baseline.py [--base 8e91906] [--days 140] [--repeats 1]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _scenario(checkout: Path, days: int | None, out_dir: Path) -> Path:
    """``large.yaml`` writing to ``out_dir``; with ``days`` also that many days, figures off."""
    data = yaml.safe_load((checkout / "scenarios" / "large.yaml").read_text())
    data.setdefault("output", {})["dir"] = str(out_dir)
    if days is not None:
        data["market"]["days"] = days
        data["output"]["figures"] = False
    path = out_dir.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _run(checkout: Path, scenario: Path, out: Path, n_jobs: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, str(checkout / "run_backtest.py"), "run", str(scenario)]
    command += ["--out", str(out), "--n-jobs", str(n_jobs), "--quiet", "--overwrite"]
    start = time.perf_counter()
    subprocess.run(command, cwd=checkout, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="8e91906", help="earlier commit")
    parser.add_argument("--days", type=int, default=140, help="synthetic market days")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = tmp / "base"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(base), args.base],
            check=True,
            capture_output=True,
        )
        try:
            same = _scenario(base, args.days, tmp / "same")
            own = _scenario(REPO, args.days, tmp / "own")
            shipped = _scenario(REPO, None, tmp / "shipped")
            times: dict[str, list[float]] = {
                "base": [],
                "now": [],
                "now own": [],
                "now own 2": [],
                "shipped": [],
                "shipped 2": [],
            }
            for _ in range(args.repeats):
                times["base"].append(_run(base, same, tmp / "out_base", 1))
                times["now"].append(_run(REPO, same, tmp / "out_now", 1))
                times["now own"].append(_run(REPO, own, tmp / "out_own", 1))
                times["now own 2"].append(_run(REPO, own, tmp / "out_own2", 2))
                times["shipped"].append(_run(REPO, shipped, tmp / "out_shipped", 1))
                times["shipped 2"].append(_run(REPO, shipped, tmp / "out_shipped2", 2))
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)],
                check=False,
                capture_output=True,
            )
    best = {k: min(v) for k, v in times.items()}
    print(f"large.yaml with {args.days} synthetic days, figures off, best of {args.repeats}:")
    print(f"  {args.base} (its large.yaml, 6 strategies), n_jobs=1: {best['base']:7.2f} s")
    print(f"  this checkout, the same file,            n_jobs=1: {best['now']:7.2f} s")
    print(f"  this checkout, its own large.yaml,       n_jobs=1: {best['now own']:7.2f} s")
    print(f"  this checkout, its own large.yaml,       n_jobs=2: {best['now own 2']:7.2f} s")
    print(f"speed-up over {args.base} (same file, serial): {best['base'] / best['now']:.2f}x")
    print(f"n_jobs=2 vs n_jobs=1 (own file, cold pool): {best['now own'] / best['now own 2']:.2f}x")
    print(
        f"large.yaml as shipped (270 days, figures and report), n_jobs=1 / 2: "
        f"{best['shipped']:.2f} s / {best['shipped 2']:.2f} s "
        f"({best['shipped'] / best['shipped 2']:.2f}x, cold pool)"
    )


if __name__ == "__main__":
    main()
