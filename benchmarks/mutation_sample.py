"""A seeded random sample of the core modules' mutants, and the kill-rate table of a run.

Every mutant of the modules in ``[tool.mutmut] only_mutate`` (pyproject.toml) is enumerated
with mutmut's own mutation engine (the names ``mutmut run`` gives them; no test runs).  The
sample is stratified by module: from each module's mutants, sorted by name, ``--per-module``
are drawn without replacement by ``numpy.random.default_rng(seed)`` (one stream, modules in
the order of ``only_mutate``).  A module with fewer mutants gives all of them.  The same
source and seed always give the same sample; a change to a module's source changes only
the draw of that module when its mutant count stays the same, and may change the names.

Usage (from the repository root; docs/testing.md)::

    mkdir -p mutants && python benchmarks/mutation_sample.py sample > mutants/sample.txt
    mutmut run --max-children 1 $(cat mutants/sample.txt)            # run only those
    python benchmarks/mutation_sample.py report mutants/sample.txt   # table + survivors

``report`` reads the results mutmut keeps in ``mutants/**/*.py.meta``; without a names
file it reports every mutant that has a result.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEED = 19
DEFAULT_PER_MODULE = 45

# mutmut's exit codes (mutmut.stats.status_by_exit_code) folded into the table's columns.
_STATUS = {1: "killed", 3: "killed", 0: "survived", 36: "timeout", 24: "timeout", -24: "timeout"}
_STATUS.update({152: "timeout", 255: "timeout", 5: "no tests", 33: "no tests", None: "not run"})


def core_modules() -> list[Path]:
    """The files of ``[tool.mutmut] only_mutate``, relative to the repository root."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [Path(p) for p in config["tool"]["mutmut"]["only_mutate"]]


def mutant_names(path: Path) -> list[str]:
    """Every mutant name of one module, as ``mutmut run`` names them, sorted."""
    from mutmut.mutation.file_mutation import mutate_file_contents
    from mutmut.utils.format_utils import get_mutant_name

    mutated = mutate_file_contents(str(path), (ROOT / path).read_text(encoding="utf-8"))
    return sorted(get_mutant_name(path, name) for name in mutated.mutant_names)


def draw(seed: int, per_module: int) -> dict[str, list[str]]:
    """Module -> sampled mutant names (stratified, without replacement)."""
    rng = np.random.default_rng(seed)
    out = {}
    for path in core_modules():
        names = mutant_names(path)
        k = min(per_module, len(names))
        picked = rng.choice(len(names), size=k, replace=False)
        out[str(path)] = [names[i] for i in sorted(picked)]
    return out


def module_of(name: str) -> str:
    """``'models.fitting.x__fit__mutmut_3'`` -> ``'models/fitting.py'``."""
    module = name.split(".x")[0]
    return module.replace(".", "/") + ".py"


def results() -> dict[str, int | None]:
    """Mutant name -> mutmut exit code from ``mutants/**/*.py.meta`` (None: not run)."""
    codes: dict[str, int | None] = {}
    for meta in sorted((ROOT / "mutants").glob("**/*.py.meta")):
        codes.update(json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"])
    return codes


def report(names: list[str] | None) -> int:
    codes = results()
    if names is None:
        names = sorted(k for k, v in codes.items() if v is not None)
    missing = [n for n in names if n not in codes]
    if missing:
        print(f"{len(missing)} names have no mutant in mutants/ (first: {missing[0]})")
        return 2
    table: dict[str, Counter] = {}
    survivors = []
    for name in names:
        status = _STATUS.get(codes[name], "other")
        table.setdefault(module_of(name), Counter())[status] += 1
        if status in ("survived", "no tests", "other"):
            survivors.append((status, name))
    cols = ("killed", "survived", "timeout", "no tests", "not run", "other")
    print(f"{'module':28s}" + "".join(f"{c:>10s}" for c in cols) + f"{'total':>7s}{'kill %':>8s}")
    total = Counter()
    for module in sorted(table):
        total.update(table[module])
        print(_row(module, table[module], cols))
    print(_row("all", total, cols))
    print("\nkill % = (killed + timeout) / (total - not run)")
    for status, name in survivors:
        print(f"{status:9s} {name}")
    return 0


def _row(label: str, c: Counter, cols) -> str:
    run = sum(c.values()) - c["not run"]
    rate = 100.0 * (c["killed"] + c["timeout"]) / run if run else float("nan")
    cells = "".join(f"{c[col]:>10d}" for col in cols)
    return f"{label:28s}{cells}{sum(c.values()):>7d}{rate:>8.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample", help="print the sampled mutant names, one per line")
    s.add_argument("--seed", type=int, default=DEFAULT_SEED)
    s.add_argument("--per-module", type=int, default=DEFAULT_PER_MODULE)
    c = sub.add_parser("count", help="print the number of mutants of each core module")
    del c
    r = sub.add_parser("report", help="kill-rate table of the names in FILE (or all run)")
    r.add_argument("file", nargs="?", type=Path)
    args = parser.parse_args(argv)
    if args.command == "sample":
        for names in draw(args.seed, args.per_module).values():
            print("\n".join(names))
        return 0
    if args.command == "count":
        for path in core_modules():
            print(f"{len(mutant_names(path)):6d} {path}")
        return 0
    names = None
    if args.file is not None:
        names = [n for n in args.file.read_text(encoding="utf-8").split() if n]
    return report(names)


if __name__ == "__main__":
    sys.exit(main())
