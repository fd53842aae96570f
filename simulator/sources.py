"""Market data of a scenario: synthetic regimes or real books from files.

Each market is a multi-day :class:`models.BookSnapshots` labelled by its regime (synthetic)
or its source (real data); the evaluator runs one study per label.
"""

from __future__ import annotations

import numpy as np

from models import BookSnapshots

from .loaders import load_books
from .synthetic import calibrate_params, synthesize_market

__all__ = ["build_markets", "market_seed"]


def market_seed(seed: int, index: int) -> int:
    """Seed of the ``index``-th synthetic market of a run, from ``SeedSequence(seed)``.

    Keyed by the market's position in the scenario, so every regime gets its own stream and
    the result does not depend on how tasks are scheduled.
    """
    child = np.random.SeedSequence(entropy=seed, spawn_key=(index,))
    return int(child.generate_state(1, dtype=np.uint32)[0])


def build_markets(market, seed: int) -> dict[str, BookSnapshots]:
    """Build every market of a scenario's ``market`` section.

    Parameters
    ----------
    market : simulator.config.MarketConfig
        The scenario's market section.
    seed : int
        Root seed of the run.

    Returns
    -------
    dict of str to BookSnapshots
        One entry per synthetic regime, or one entry for a real-data source.
    """
    if market.source != "synthetic":
        books = load_books(list(market.path), format=market.source, **market.loader_options())
        return {books.symbol or market.source: books}
    params = dict(market.params)
    if market.calibrate_from is not None:
        real = load_books(market.calibrate_from, format=market.calibrate_format)
        params["profile"] = calibrate_params(real)
    markets = {}
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
    return markets
