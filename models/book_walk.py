"""Walking a limit-order book with a market order, vectorised over any leading axes.

Definitions (DESIGN.md):

* Side ``buy`` walks the asks (prices rising away from the touch), ``sell`` walks the bids.
* Slippage per share of a market order of ``x`` shares is ``VWAP - mid`` for a buy and
  ``mid - VWAP`` for a sell, in dollars per share; it includes the half spread.
* Impact cost is ``x * slippage``, in dollars.
* The *offset* of a price is its distance from the mid in the order's direction,
  ``sign * (price - mid)`` (``sign`` = +1 for a buy, -1 for a sell), dollars per share: it is
  positive and grows away from the touch on both sides.

Liquidity beyond the visible book (the *tail*)
----------------------------------------------
A book shows only its first L levels, holding V shares between the touch offset o_1 and
the deepest offset o_L.  Shares past V are not unlimited at one price: the book's own
depth density is continued past the deepest level, with a floor on the price slope.

* Density of the visible book: mean displayed size per level over the mean gap between
  levels, ``rho = (V / L) / ((o_L - o_1) / (L - 1))`` shares per dollar (L >= 2).
* The marginal offset of the (V + e)-th share is ``o_L + k e`` (continuous at the deepest
  level), with the slope ``k`` in dollars per share per share

      k = max(1 / rho, beyond_depth_bps * 1e-4 * mid / V)
        = max(L / (L - 1) * (o_L - o_1), beyond_depth_bps * 1e-4 * mid) / V,

  the first term taken as 0 for a one-level book.  In words: past the visible depth the
  price keeps rising as fast as it rises across the displayed levels, and at least by
  ``beyond_depth_bps`` basis points of the mid per visible depth's worth of extra shares,
  so a one-level or very dense book still gets a rising tail.
* The tail adds ``o_L e + k e**2 / 2`` dollars to the cost of the visible depth: the cost
  stays convex, increasing and continuously differentiable at V; it is quadratic in e, the
  cost of the constant-density (Kyle-lambda) book continued.

Assumptions: the hidden part of the book has the visible part's average density; the
mid in the floor is the book's own mid (the replayed, unshifted one in the market); the
price is not floored at 0 for sells (a sell deep enough to reach it is meaningless in the
first place).  With ``beyond_depth_bps = 0`` a one-level book has a flat tail.  A book
with no displayed level has no shape to continue: any order > 0 costs +inf.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidParameterError

__all__ = [
    "WalkResult",
    "walk_levels",
    "marginal_offset",
    "beyond_depth_tail",
    "side_sign",
    "DEFAULT_BEYOND_DEPTH_BPS",
]

DEFAULT_BEYOND_DEPTH_BPS = 25.0
"""Default floor of the beyond-depth price slope: basis points of the mid per visible depth."""

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


def _check_bps(beyond_depth_bps) -> float:
    if not np.isfinite(beyond_depth_bps) or beyond_depth_bps < 0:
        raise InvalidParameterError(
            f"beyond_depth_bps must be finite and >= 0; got {beyond_depth_bps!r}"
        )
    return float(beyond_depth_bps)


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
        True where the order exceeded the visible depth (part of it filled in the tail).
    beyond_shares : ndarray
        Shares filled beyond the visible depth, ``max(shares - visible depth, 0)``.
    """

    shares: np.ndarray
    vwap: np.ndarray
    slippage: np.ndarray
    cost: np.ndarray
    exhausted: np.ndarray
    beyond_shares: np.ndarray


def _tail_from_offsets(offset, present, sz0, mid, bps):
    """(visible, deepest offset, tail slope) of books given as offsets; shapes (...)."""
    visible = sz0.sum(axis=-1)
    n_levels = present.sum(axis=-1)
    deepest = np.max(np.where(present, offset, -np.inf), axis=-1)
    touch = np.min(np.where(present, offset, np.inf), axis=-1)
    empty = n_levels == 0
    deepest = np.where(empty, 0.0, deepest)
    with np.errstate(invalid="ignore", divide="ignore"):
        # The span of L levels plus one mean gap: L / (L - 1) times o_L - o_1.
        span = np.where(n_levels > 1, (deepest - touch) * n_levels / (n_levels - 1), 0.0)
        floor = bps * 1e-4 * mid
        slope = np.where(empty, np.inf, np.maximum(span, floor) / np.where(empty, 1.0, visible))
    return visible, deepest, slope


def beyond_depth_tail(offsets, sizes, mid, beyond_depth_bps: float = DEFAULT_BEYOND_DEPTH_BPS):
    """Visible depth, deepest offset and slope of the beyond-depth tail of books.

    Parameters
    ----------
    offsets : ndarray, shape (..., L)
        Offsets of the levels from the mid in the order's direction, dollars per share;
        NaN marks an empty level.
    sizes : ndarray, shape (..., L)
        Displayed shares per level (0 where empty).
    mid : ndarray, shape (...)
        Mid price in dollars (for the ``beyond_depth_bps`` floor).
    beyond_depth_bps : float, default 25
        Floor of the tail's price slope: basis points of ``mid`` per visible depth of
        extra shares (module docstring); finite and >= 0.

    Returns
    -------
    visible : ndarray, shape (...)
        Visible depth V, shares.
    deepest : ndarray, shape (...)
        Deepest offset o_L, dollars per share (0 for a book with no level).
    slope : ndarray, shape (...)
        Tail slope k, dollars per share per share: the marginal offset of the (V + e)-th
        share is ``deepest + slope * e`` (+inf for a book with no level).

    Raises
    ------
    InvalidParameterError
        If ``beyond_depth_bps`` is negative or not finite.
    """
    bps = _check_bps(beyond_depth_bps)
    offsets = np.asarray(offsets, dtype=float)
    sizes = np.asarray(sizes, dtype=float)
    present = np.isfinite(offsets) & (sizes > 0)
    sz0 = np.where(present, sizes, 0.0)
    return _tail_from_offsets(offsets, present, sz0, np.asarray(mid, dtype=float), bps)


def _tail_cost(excess, deepest, slope):
    """Cost in dollars of ``excess`` shares in the tail (0 where excess is 0)."""
    with np.errstate(invalid="ignore"):
        return np.where(excess > 0, excess * (deepest + 0.5 * slope * excess), 0.0)


def _walk_chunk(px, sz, x, mid, sign, bps):
    finite = np.isfinite(px) & (sz > 0)
    sz0 = np.where(finite, sz, 0.0)
    # Prices measured from the mid in the side's direction: positive and rising away
    # from the touch for both sides, so one formula serves buys and sells.
    offset = np.where(finite, sign * (px - mid[..., None]), 0.0)
    depth_before = np.cumsum(sz0, axis=-1) - sz0
    visible = sz0.sum(axis=-1)
    touch = offset[..., 0]

    x_ = x[..., None]
    filled = np.clip(x_ - depth_before[..., None, :], 0.0, sz0[..., None, :])
    excess = np.maximum(x - visible[..., None], 0.0)
    cost = np.einsum("...kl,...l->...k", filled, offset)
    if np.any(excess > 0):
        _, deepest, slope = _tail_from_offsets(offset, finite, sz0, mid, bps)
        cost = cost + _tail_cost(excess, deepest[..., None], slope[..., None])
    # An order that fits in the first level fills at the touch: slippage is the touch offset
    # exactly (cost / x would lose it to underflow for vanishingly small orders).
    at_touch = x <= sz0[..., :1]
    with np.errstate(invalid="ignore", divide="ignore"):
        slip = np.where(at_touch, touch[..., None], cost / np.where(at_touch, 1.0, x))
    cost = np.where(at_touch, x * touch[..., None], cost)
    return cost, slip, excess


def _broadcast_books(price, size, mid, shares):
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
    return price, size, mid, x, lead


def _chunked(fn, price, size, x, mid, lead, *args):
    """Apply ``fn`` to row chunks of the first axis, bounding (rows, K, L) temporaries."""
    k, n_levels = x.shape[-1], price.shape[-1]
    if len(lead) == 0 or price.size * k <= _CHUNK_ELEMENTS:
        return fn(price, size, x, mid, *args)
    rows = max(1, _CHUNK_ELEMENTS // max(1, int(np.prod(lead[1:])) * k * n_levels))
    parts = [
        fn(price[i : i + rows], size[i : i + rows], x[i : i + rows], mid[i : i + rows], *args)
        for i in range(0, lead[0], rows)
    ]
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(p, axis=0) for p in zip(*parts, strict=True))
    return np.concatenate(parts, axis=0)


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
        Floor of the beyond-depth price slope, in basis points of the mid per visible
        depth's worth of shares past the deepest level (module docstring): shares beyond
        the visible depth fill on a tail whose marginal price rises from the deepest level
        at the book's own depth density, and at least this fast.

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
    bps = _check_bps(beyond_depth_bps)
    price, size, mid, x, lead = _broadcast_books(price, size, mid, shares)
    cost, slip, excess = _chunked(_walk_chunk, price, size, x, mid, lead, sign, bps)
    vwap = mid[..., None] + sign * slip
    return WalkResult(
        shares=np.array(x),
        vwap=vwap,
        slippage=slip,
        cost=cost,
        exhausted=excess > 0,
        beyond_shares=excess,
    )


def _marginal_chunk(px, sz, x, mid, sign, bps):
    finite = np.isfinite(px) & (sz > 0)
    sz0 = np.where(finite, sz, 0.0)
    offset = np.where(finite, sign * (px - mid[..., None]), np.nan)
    visible, deepest, slope = _tail_from_offsets(offset, finite, sz0, mid, bps)
    cum = np.cumsum(sz0, axis=-1)
    # Level holding share q: the first whose cumulative depth reaches q (the left
    # derivative of the piecewise-linear cost; the touch at q = 0).  Empty levels have
    # the cumulative depth of the level before, so they are never chosen for q > 0.
    idx = (cum[..., None, :] < x[..., None]).sum(axis=-1)
    n_lvl = offset.shape[-1]
    level = np.take_along_axis(offset, np.minimum(idx, n_lvl - 1), axis=-1)
    excess = x - visible[..., None]
    with np.errstate(invalid="ignore"):
        tail = deepest[..., None] + slope[..., None] * np.maximum(excess, 0.0)
    return np.where(excess > 0, tail, level)


def marginal_offset(
    price: np.ndarray,
    size: np.ndarray,
    mid: np.ndarray,
    shares: np.ndarray,
    side: str,
    beyond_depth_bps: float = DEFAULT_BEYOND_DEPTH_BPS,
) -> np.ndarray:
    """Marginal offset of the q-th share: the left derivative of the walk cost, tail included.

    For ``q`` within the visible depth it is the offset of the level that fills the q-th
    share (the touch offset at q = 0); past the visible depth V it is
    ``deepest + slope * (q - V)`` (module docstring).  Side-signed like the slippage:
    ``price - mid`` for a buy, ``mid - price`` for a sell, dollars per share.

    Parameters
    ----------
    price, size, mid, side, beyond_depth_bps
        As in :func:`walk_levels`.
    shares : ndarray, shape (..., K)
        Cumulative shares q (>= 0) at which the marginal offset is wanted.

    Returns
    -------
    ndarray, shape ``broadcast(...) + (K,)``
        Dollars per share; +inf for q > 0 on a book with no displayed level.

    Raises
    ------
    InvalidParameterError
        As :func:`walk_levels`.
    """
    sign = side_sign(side)
    bps = _check_bps(beyond_depth_bps)
    price, size, mid, x, lead = _broadcast_books(price, size, mid, shares)
    return _chunked(_marginal_chunk, price, size, x, mid, lead, sign, bps)
