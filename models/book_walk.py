"""Walking a limit-order book with a market order, vectorised over any leading axes.

Definitions (DESIGN.md):

* Side ``buy`` walks the asks (prices rising away from the touch), ``sell`` walks the bids.
* Slippage per share of a market order of ``x`` shares is ``VWAP - mid`` for a buy and
  ``mid - VWAP`` for a sell, in dollars per share; it includes the half spread.
* Impact cost is ``x * slippage``, in dollars.

Beyond the visible depth the remaining shares fill at the deepest visible price moved
further from the touch by ``beyond_depth_bps`` basis points of the mid (the *beyond-depth
penalty*); such walks are flagged as exhausted.  They never fill silently at the last price.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidParameterError

__all__ = ["WalkResult", "walk_levels", "side_sign", "DEFAULT_BEYOND_DEPTH_BPS"]

DEFAULT_BEYOND_DEPTH_BPS = 25.0
"""Default beyond-depth penalty, in basis points of the mid, added to the deepest price."""

_SIDES = ("buy", "sell")
_CHUNK_ELEMENTS = 4_000_000


def side_sign(side: str) -> float:
    """Return +1 for ``'buy'`` and -1 for ``'sell'``.

    Raises
    ------
    InvalidParameterError
        If ``side`` is neither ``'buy'`` nor ``'sell'``.
    """
    if side not in _SIDES:
        raise InvalidParameterError(f"side must be 'buy' or 'sell'; got {side!r}")
    return 1.0 if side == "buy" else -1.0


@dataclass(frozen=True, eq=False)
class WalkResult:
    """Outcome of walking books with market orders; every array has the same shape.

    Attributes
    ----------
    shares : ndarray
        Order size walked, in shares.
    vwap : ndarray
        Volume-weighted average fill price, in dollars per share (the touch price for a
        zero-size order, the limit of small orders).
    slippage : ndarray
        Slippage per share versus the mid, in dollars per share (DESIGN.md sign convention).
    cost : ndarray
        Impact cost ``shares * slippage``, in dollars.
    exhausted : ndarray of bool
        True where the order exceeded the visible depth and the beyond-depth penalty applied.
    """

    shares: np.ndarray
    vwap: np.ndarray
    slippage: np.ndarray
    cost: np.ndarray
    exhausted: np.ndarray


def _walk_chunk(px, sz, x, mid, sign, penalty_bps):
    finite = np.isfinite(px) & (sz > 0)
    sz0 = np.where(finite, sz, 0.0)
    # Prices measured from the mid in the side's direction: positive and rising away
    # from the touch for both sides, so one formula serves buys and sells.
    offset = np.where(finite, sign * (px - mid[..., None]), 0.0)
    depth_before = np.cumsum(sz0, axis=-1) - sz0
    visible = sz0.sum(axis=-1)
    n_levels = finite.sum(axis=-1)
    last = np.clip(n_levels - 1, 0, None)
    deepest = np.take_along_axis(offset, last[..., None], axis=-1)[..., 0]
    touch = offset[..., 0]
    beyond = deepest + penalty_bps * 1e-4 * mid

    x_ = x[..., None]
    filled = np.clip(x_ - depth_before[..., None, :], 0.0, sz0[..., None, :])
    excess = np.maximum(x - visible[..., None], 0.0)
    cost = np.einsum("...kl,...l->...k", filled, offset) + excess * beyond[..., None]
    # An order that fits in the first level fills at the touch: slippage is the touch offset
    # exactly (cost / x would lose it to underflow for vanishingly small orders).
    at_touch = x <= sz0[..., :1]
    with np.errstate(invalid="ignore", divide="ignore"):
        slip = np.where(at_touch, touch[..., None], cost / np.where(at_touch, 1.0, x))
    cost = np.where(at_touch, x * touch[..., None], cost)
    exhausted = excess > 0
    return cost, slip, exhausted


def walk_levels(
    price: np.ndarray,
    size: np.ndarray,
    mid: np.ndarray,
    shares: np.ndarray,
    side: str,
    beyond_depth_bps: float = DEFAULT_BEYOND_DEPTH_BPS,
) -> WalkResult:
    """Walk one side of many books with many order sizes at once.

    Parameters
    ----------
    price : ndarray, shape (..., L)
        Level prices of the side being walked (asks for a buy, bids for a sell), in
        dollars; NaN marks an empty level.  Levels move away from the touch.
    size : ndarray, shape (..., L)
        Displayed shares at each level (0 where empty).
    mid : ndarray, shape (...)
        Mid price of each book, in dollars.
    shares : ndarray, shape (..., K)
        Order sizes in shares (>= 0), broadcast against the books' leading axes.
    side : {'buy', 'sell'}
        Direction of the market order.
    beyond_depth_bps : float, default 25
        Shares beyond the visible depth fill at the deepest visible price moved away from
        the touch by this many basis points of the mid.

    Returns
    -------
    WalkResult
        Arrays of shape ``broadcast(...) + (K,)``.

    Raises
    ------
    InvalidParameterError
        If ``side`` is unknown, ``beyond_depth_bps`` is negative or not finite, or a
        size is negative or not finite.
    """
    sign = side_sign(side)
    if not np.isfinite(beyond_depth_bps) or beyond_depth_bps < 0:
        raise InvalidParameterError(
            f"beyond_depth_bps must be finite and >= 0; got {beyond_depth_bps!r}"
        )
    price = np.asarray(price, dtype=float)
    size = np.asarray(size, dtype=float)
    mid = np.asarray(mid, dtype=float)
    x = np.asarray(shares, dtype=float)
    if x.ndim == 0:
        x = x[None]
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        bad = float(x[~(np.isfinite(x) & (x >= 0))].ravel()[0])
        raise InvalidParameterError(f"shares must be finite and >= 0; got {bad!r}")
    lead = np.broadcast_shapes(price.shape[:-1], size.shape[:-1], mid.shape, x.shape[:-1])
    n_levels = price.shape[-1]
    price = np.broadcast_to(price, lead + (n_levels,))
    size = np.broadcast_to(size, lead + (n_levels,))
    mid = np.broadcast_to(mid, lead)
    x = np.broadcast_to(x, lead + (x.shape[-1],))
    k = x.shape[-1]

    if len(lead) == 0 or price.size * k <= _CHUNK_ELEMENTS:
        cost, slip, exhausted = _walk_chunk(price, size, x, mid, sign, beyond_depth_bps)
    else:
        # Bound temporary memory: (rows, K, L) intermediates are chunked over the first axis.
        rows = max(1, _CHUNK_ELEMENTS // max(1, int(np.prod(lead[1:])) * k * n_levels))
        parts = [
            _walk_chunk(
                price[i : i + rows],
                size[i : i + rows],
                x[i : i + rows],
                mid[i : i + rows],
                sign,
                beyond_depth_bps,
            )
            for i in range(0, lead[0], rows)
        ]
        cost, slip, exhausted = (np.concatenate(p, axis=0) for p in zip(*parts, strict=True))
    vwap = mid[..., None] + sign * slip
    return WalkResult(shares=np.array(x), vwap=vwap, slippage=slip, cost=cost, exhausted=exhausted)
