"""Load throughput of the order-book loaders on the real files in ../shared/data.

Prints, for the FROG Databento MBP-10 day and the GOOG LOBSTER day, the best-of-3 wall
time and the events loaded per second.  Usage::

    python benchmarks/load.py [DATA_DIR]
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

from simulator.loaders import DataQualityWarning, load_databento_mbp10, load_lobster

REPEATS = 3


def best_of(load, repeats: int = REPEATS):
    """(best wall time in seconds, report) of ``repeats`` calls of ``load``."""
    best = float("inf")
    report = None
    for _ in range(repeats):
        start = time.perf_counter()
        _, report = load()
        best = min(best, time.perf_counter() - start)
    return best, report


def main(data_dir: Path) -> None:
    cases = {
        "FROG databento": lambda: load_databento_mbp10(
            data_dir / "databento_mbp10" / "FROG_2025-04-03_mbp10.csv.gz", return_report=True
        ),
        "GOOG lobster": lambda: load_lobster(
            data_dir
            / "lobster_2012-06-21"
            / "GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz",
            return_report=True,
        ),
    }
    print(f"{'file':<16}{'events':>10}{'best wall s':>13}{'events/s':>12}")
    for name, load in cases.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            seconds, report = best_of(load)
        rate = report.rows_read / seconds
        print(f"{name:<16}{report.rows_read:>10}{seconds:>13.3f}{rate:>12,.0f}")


if __name__ == "__main__":
    default = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    if not folder.is_dir():
        sys.exit(f"data folder not found: {folder}")
    main(folder)
