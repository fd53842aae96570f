"""Print synthetic versus real liquidity side by side for FROG, GOOG and AMZN.

For each real day in ``../shared/data`` (or the folder given as the first argument) the
table shows, for the real books, the default synthetic market (``u_shape`` at the stock's
price) and the market calibrated to that day (``calibrated``, 20 days): median spread in
ticks (open half hour, midday, whole day), median shares per displayed level, mean
volume per minute, and the standard deviation of one-minute log mid returns.

Run: ``python benchmarks/synthetic_vs_real.py [path/to/shared/data]``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from models.snapshots import BookSnapshots
from simulator.loaders import load_databento_mbp10, load_lobster
from simulator.synthetic import calibrate_params, synthesize_market

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _stats(books: BookSnapshots) -> dict[str, float]:
    ticks = books.spread / books.tick_size
    sizes = np.concatenate([books.bid_sz, books.ask_sz], axis=-1)
    return {
        "spread_open_ticks": float(np.median(ticks[:, :30])),
        "spread_midday_ticks": float(np.median(ticks[:, 150:240])),
        "spread_day_ticks": float(np.median(ticks)),
        "depth_per_level_shares": float(np.median(sizes[sizes > 0])),
        "touch_depth_shares": float(np.median(sizes[..., [0, books.n_levels]])),
        "volume_per_min_shares": float(books.volume.mean()),
        "ret_sd_1min_bps": float(1e4 * np.std(np.diff(np.log(books.mid), axis=1))),
    }


def _load(data: Path) -> dict[str, BookSnapshots]:
    lob = data / "lobster_2012-06-21"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "FROG": load_databento_mbp10(data / "databento_mbp10" / "FROG_2025-04-03_mbp10.csv.gz"),
            "GOOG": load_lobster(lob / "GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz"),
            "AMZN": load_lobster(lob / "AMZN_2012-06-21_34200000_57600000_orderbook_5.csv.gz"),
        }


def main(data: Path = DEFAULT_DATA) -> pd.DataFrame:
    rows = []
    for symbol, real in _load(data).items():
        levels = real.n_levels
        default = synthesize_market(
            "u_shape",
            days=20,
            levels=levels,
            seed=1,
            initial_price_usd=float(real.mid[0, 0]),
            tick_size_usd=real.tick_size,
        ).books
        calibrated = synthesize_market(
            "calibrated", days=20, levels=levels, seed=1, profile=calibrate_params(real)
        ).books
        for source, books in (("real", real), ("default", default), ("calibrated", calibrated)):
            rows.append({"symbol": symbol, "source": source, **_stats(books)})
    table = pd.DataFrame(rows).set_index(["symbol", "source"])
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.round(1))
    return table


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA)
