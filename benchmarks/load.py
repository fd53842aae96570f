"""Load throughput of the order-book loaders on the real files in ../shared/data.

Prints, for the FROG Databento MBP-10 day and the GOOG and AMZN LOBSTER days, the best-of-3
wall time and the events loaded per second, with and without the per-day resilience
estimate (``resilience=False`` is the reference of the ratio column, measured in the same
run), and the time of :func:`simulator.loaders.estimate_resilience` with its 1,000-resample
bootstrap.  Usage::

    python benchmarks/load.py [DATA_DIR]
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

from simulator.loaders import (
    DataQualityWarning,
    estimate_resilience,
    load_databento_mbp10,
    load_lobster,
)

REPEATS = 3


def best_of(run, repeats: int = REPEATS):
    """(best wall time in seconds, last result) of ``repeats`` calls of ``run``."""
    best = float("inf")
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(data_dir: Path) -> None:
    lobster = data_dir / "lobster_2012-06-21"
    files = {
        "FROG databento": (
            load_databento_mbp10,
            data_dir / "databento_mbp10" / "FROG_2025-04-03_mbp10.csv.gz",
            "databento",
        ),
        "GOOG lobster": (
            load_lobster,
            lobster / "GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz",
            "lobster",
        ),
        "AMZN lobster": (
            load_lobster,
            lobster / "AMZN_2012-06-21_34200000_57600000_orderbook_5.csv.gz",
            "lobster",
        ),
    }
    print(
        f"{'file':<16}{'events':>9}{'load s':>9}{'+resil. s':>11}{'ratio':>7}"
        f"{'events/s':>11}{'estimate s':>12}  half-life"
    )
    for name, (load, path, fmt) in files.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            plain, (_, report) = best_of(
                lambda load=load, path=path: load(path, resilience=False, return_report=True)
            )
            with_res, (books, _) = best_of(
                lambda load=load, path=path: load(path, resilience=True, return_report=True)
            )
            est_s, est = best_of(lambda path=path, fmt=fmt: estimate_resilience(path, format=fmt))
        rate = report.rows_read / with_res
        print(
            f"{name:<16}{report.rows_read:>9}{plain:>9.3f}{with_res:>11.3f}"
            f"{with_res / plain:>7.2f}{rate:>11,.0f}{est_s:>12.3f}  "
            f"{est.half_life_s:.3g} s [{est.ci_s[0]:.3g}, {est.ci_s[1]:.3g}]; per day "
            f"{books.resilience_half_life[0]:.3g} intervals"
        )


if __name__ == "__main__":
    default = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    if not folder.is_dir():
        sys.exit(f"data folder not found: {folder}")
    main(folder)
