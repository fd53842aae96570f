"""The hand-written mutants of issue 19, each applied alone to a copy of the code: a test must fail.

Each mutant is one textual edit of one source file (a bug the suite once missed).  The
script copies the packages, the tests and pyproject.toml to a temporary folder, applies one
edit there (the checkout is never touched), runs the tests named for it and reports which
failed.  A mutant whose text no longer matches the source is reported as ``stale`` (update
the edit); one that no named test catches is ``SURVIVED`` and the exit code is 1.

Run (from the repository root; one to three minutes on one core)::

    python benchmarks/hand_mutants.py            # every mutant
    python benchmarks/hand_mutants.py H4 H9      # some of them
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class HandMutant:
    key: str
    what: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


_TEST_DAY_CAPS = """    inputs = task.inputs
    import dataclasses as _dc

    from .plan import _bounds as _b

    _ev = task.test.volume.mean(axis=0)
    _lo, _up = _b(s, _ev)
    inputs = _dc.replace(inputs, expected_volume=_ev, lower=_lo, upper=_up, plans=None)
"""

_TEST_DAY_VOLATILITY = """    inputs = task.inputs
    import dataclasses as _dc

    inputs = _dc.replace(inputs, volatility=price_volatility(task.test), plans=None)
"""

_LAST_DAY_NEVER_DRAWN = """    rng = np.random.default_rng(seed)
    b, k = int(block_length), int(samples)
    starts = rng.integers(0, max(n_days - b, 1), size=(k, -(-n_days // b)))
    return (starts[:, :, None] + np.arange(b)).reshape(k, -1)[:, :n_days].astype(np.intp)
"""

MUTANTS = (
    HandMutant(
        "H1",
        "the day task re-plans with participation caps from the test day's volume",
        "simulator/daytask.py",
        "    inputs = task.inputs\n",
        _TEST_DAY_CAPS,
        ("tests/simulator/test_lookahead.py", "tests/simulator/test_mutants_daytask.py"),
    ),
    HandMutant(
        "H2",
        "the day task re-plans with price volatility from the test day",
        "simulator/daytask.py",
        "    inputs = task.inputs\n",
        _TEST_DAY_VOLATILITY,
        ("tests/simulator/test_lookahead.py", "tests/simulator/test_mutants_daytask.py"),
    ),
    HandMutant(
        "H3",
        "the fit walks the asks for a sell model (side ignored)",
        "models/fitting.py",
        "    px, sz = books.side_levels(side)\n    present",
        '    side = "buy"\n    px, sz = books.side_levels(side)\n    present',
        ("tests/models/test_fitting.py", "tests/models/test_fitting_options.py"),
    ),
    HandMutant(
        "H4",
        "a 90% bootstrap interval reported as 95%",
        "simulator/summary.py",
        "[alpha / 2.0, 1.0 - alpha / 2.0]",
        "[alpha, 1.0 - alpha]",
        ("tests/simulator/test_summary.py",),
    ),
    HandMutant(
        "H5",
        "ties counted as wins",
        "simulator/summary.py",
        '"win_share": float(np.mean(dd > tie_bps))',
        '"win_share": float(np.mean(dd >= -tie_bps))',
        ("tests/simulator/test_summary.py",),
    ),
    HandMutant(
        "H6",
        "captured_saving with its sign flipped",
        "simulator/score.py",
        "return improvement, improvement / achievable",
        "return improvement, -improvement / achievable",
        ("tests/simulator/test_one_day_by_hand.py", "tests/simulator/test_oracle.py"),
    ),
    HandMutant(
        "H7",
        "power-law stderr_alpha cross-term with the wrong sign",
        "models/fitting.py",
        '- 2 * alpha * ls * np.nan_to_num(fit.se["cov_bd"])',
        '+ 2 * alpha * ls * np.nan_to_num(fit.se["cov_bd"])',
        ("tests/models/test_fitting.py", "tests/models/test_fitting_options.py"),
    ),
    HandMutant(
        "H8",
        "Databento times converted with a fixed UTC-4 offset",
        "simulator/loaders/databento.py",
        "stamps.dt.tz_convert(tz).dt.tz_localize(None)",
        "(stamps.dt.tz_localize(None) - pd.Timedelta(hours=4))",
        ("tests/simulator/test_loaders_databento.py",),
    ),
    HandMutant(
        "H9",
        "walk-forward window shifted by one (test day in its own training set)",
        "simulator/evaluate.py",
        "plan.append((d, refit - w, refit))",
        "plan.append((d, refit - w + 1, refit + 1))",
        ("tests/simulator/test_evaluate.py", "tests/simulator/test_lookahead.py"),
    ),
    HandMutant(
        "H10",
        "the bootstrap never draws the last day",
        "simulator/summary.py",
        re.escape("    bs = MovingBlockBootstrap(") + r"[\s\S]*?astype\(np\.intp\)\n",
        _LAST_DAY_NEVER_DRAWN,
        ("tests/simulator/test_summary.py",),
    ),
    HandMutant(
        "H11",
        "transient depletion beyond the visible book: the depletion's own beyond-depth "
        "shares not subtracted (the correction term of the difference)",
        "simulator/market.py",
        "beyond = both.beyond_shares.T[:k] - both.beyond_shares.T[k:]",
        "beyond = both.beyond_shares.T[:k]",
        ("tests/simulator/test_market.py", "tests/simulator/test_mutants_market.py"),
    ),
)


def _apply(m: HandMutant, root: Path) -> bool:
    path = root / m.path
    text = path.read_text(encoding="utf-8")
    if m.key == "H10":
        new, count = re.subn(m.old, m.new, text, count=1)
    else:
        count = text.count(m.old)
        new = text.replace(m.old, m.new, 1)
    if count != 1:
        return False
    path.write_text(new, encoding="utf-8")
    return True


def _copy(dest: Path) -> None:
    for name in ("models", "strategies", "simulator", "tests"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")


def run(m: HandMutant) -> tuple[str, list[str]]:
    """('killed' | 'SURVIVED' | 'stale', failing test ids)."""
    with tempfile.TemporaryDirectory(prefix="hand-mutant-") as tmp:
        root = Path(tmp)
        _copy(root)
        if not _apply(m, root):
            return "stale", []
        env = {**os.environ, "PYTHONPATH": str(root), "TRADEALLOC_SHARED_DATA": str(DATA)}
        tests = [t for t in m.tests if (root / t).is_file()]
        cmd = [sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider"]
        cmd += ["-m", "not slow", "-rfE", "--tb=no"]
        out = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True).stdout
    failed = [
        line.split()[1] for line in out.splitlines() if line.startswith(("FAILED ", "ERROR "))
    ]
    return ("killed" if failed else "SURVIVED"), failed


def main(argv: list[str]) -> int:
    unknown = sorted(set(argv) - {m.key for m in MUTANTS})
    if unknown:
        keys = ", ".join(m.key for m in MUTANTS)
        print(f"hand_mutants.py: mutant keys must be among {keys}; got {unknown}", file=sys.stderr)
        return 2
    chosen = [m for m in MUTANTS if not argv or m.key in argv]
    worst = 0
    for m in chosen:
        status, failed = run(m)
        worst = max(worst, status != "killed")
        print(f"{m.key:4s} {status:8s} {m.what} ({m.path})")
        for test in failed:
            print(f"       {test}")
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
