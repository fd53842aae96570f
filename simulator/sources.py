"""Market data of a scenario: synthetic regimes or real books from files.

Each market is a multi-day :class:`models.BookSnapshots` labelled by its regime (synthetic)
or its source (real data); the evaluator runs one study per label.
"""

from __future__ import annotations

import numpy as np

from models import BookSnapshots

from .loaders import load_books
from .synthetic import calibrate_params, synthesize_market

__all__ = ["build_markets", "market_quality", "market_seed"]


def market_seed(seed: int, index: int) -> int:
    """Seed of the ``index``-th synthetic market of a run, from ``SeedSequence(seed)``.

    Keyed by the market's position in the scenario, so every regime gets its own stream and
    the result does not depend on how tasks are scheduled.
    """
    child = np.random.SeedSequence(entropy=seed, spawn_key=(index,))
    return int(child.generate_state(1, dtype=np.uint32)[0])


def market_quality(books: BookSnapshots, report=None) -> dict:
    """What the data looked like: the loader's fault counts (real data) and, for every
    market, the repaired snapshots and the auction prints kept apart from the volume.

    Parameters
    ----------
    books : BookSnapshots
    report : simulator.loaders.DataQualityReport, optional
        The loader's report (real data only).

    Returns
    -------
    dict
        JSON-ready: ``source``, ``days``, ``repaired_snapshots``,
        ``auction_volume_shares`` (opening and closing crosses summed over the days),
        ``continuous_volume_shares`` and, with a report, its fields and notes.
    """
    auction = np.asarray(getattr(books, "auction_volume", np.zeros((books.n_days, 2))))
    out = {
        "source": "synthetic" if report is None else "recorded",
        "days": int(books.n_days),
        "repaired_snapshots": int(np.sum(books.repaired)),
        "continuous_volume_shares": float(books.volume.sum()),
        "auction_volume_shares": float(auction.sum()),
        "opening_cross_shares": float(auction[:, 0].sum()),
        "closing_cross_shares": float(auction[:, 1].sum()),
    }
    if report is not None:
        out.update({k: v for k, v in report.to_dict().items() if k not in out})
        notes = getattr(report, "notes", None)
        if callable(notes):
            out["notes"] = list(notes())
    return out


def build_markets(market, seed: int, *, with_quality: bool = False):
    """Build every market of a scenario's ``market`` section.

    Parameters
    ----------
    market : simulator.config.MarketConfig
        The scenario's market section.
    seed : int
        Root seed of the run.
    with_quality : bool, default False
        Also return :func:`market_quality` per market.

    Returns
    -------
    dict of str to BookSnapshots
        One entry per synthetic regime, or one entry for a real-data source; with
        ``with_quality`` a pair ``(markets, quality)`` of dicts keyed alike.
    """
    markets, quality = {}, {}
    if market.source != "synthetic":
        books, report = load_books(
            list(market.path), format=market.source, return_report=True, **market.loader_options()
        )
        label = books.symbol or market.source
        markets[label], quality[label] = books, market_quality(books, report)
        return (markets, quality) if with_quality else markets
    params = dict(market.params)
    if market.calibrate_from is not None:
        real = load_books(market.calibrate_from, format=market.calibrate_format)
        params["profile"] = calibrate_params(real)
    for index, regime in enumerate(market.regimes):
        synthetic = synthesize_market(
            regime,
            days=market.days,
            intervals=market.intervals,
            levels=market.levels,
            seed=market_seed(seed, index),
            **params,
        )
        markets[regime] = synthetic.books
        quality[regime] = market_quality(synthetic.books)
    return (markets, quality) if with_quality else markets
