"""Integer lots: largest-remainder rounding that keeps the exact total and the bounds."""

from __future__ import annotations

import numpy as np

from models.errors import InfeasibleProblemError, InvalidParameterError

__all__ = ["round_schedule"]


def round_schedule(x, lot: float = 1, lower=None, upper=None) -> np.ndarray:
    """Round a schedule to whole lots, keeping its total and the bounds (largest remainder).

    Each interval gets floor(x_t / lot) lots (raised to ceil(lower_t / lot), lowered to
    floor(upper_t / lot)); the lots still missing from the total go one at a time to the
    intervals with the largest remainders that have room (surplus lots come off the smallest
    remainders), so the result differs from ``x`` by less than one lot per interval wherever
    the bounds allow.

    Parameters
    ----------
    x : array_like of shape (N,)
        Schedule in shares (>= 0); its total must be a whole number of lots.
    lot : float, default 1
        Lot size in shares (> 0).
    lower, upper : None or array_like of shape (N,)
        Bounds in shares (defaults 0 and +inf).

    Returns
    -------
    ndarray of shape (N,)
        Whole-lot schedule in shares with the same total as ``x``.

    Raises
    ------
    InvalidParameterError
        If ``x`` is not finite and >= 0, ``lot`` is not > 0, or the total is not a whole
        number of lots.
    InfeasibleProblemError
        If no whole-lot schedule within the bounds has that total (shortfall stated).
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or not np.all(np.isfinite(x)) or np.any(x < 0):
        raise InvalidParameterError(f"x must be a 1-D array of finite shares >= 0; got {x!r}")
    lot = float(lot)
    if not np.isfinite(lot) or lot <= 0:
        raise InvalidParameterError(f"lot must be finite and > 0; got {lot!r}")
    n = x.shape[0]
    lo = np.zeros(n) if lower is None else np.broadcast_to(np.asarray(lower, float), (n,))
    up = np.full(n, np.inf) if upper is None else np.broadcast_to(np.asarray(upper, float), (n,))
    units = x / lot
    total_units = units.sum()
    target = int(round(total_units))
    if abs(total_units - target) > 1e-9 * max(1.0, total_units):
        raise InvalidParameterError(
            f"sum(x) must be a whole number of lots of {lot:g}; got {x.sum():.10g} shares"
        )
    # Small tolerance so 99.99999999 lots counts as 100 and bounds given in shares that are
    # lot multiples up to float noise stay attainable.
    eps = 1e-9
    lo_u = np.ceil(lo / lot - eps)
    up_u = np.floor(up / lot + eps)
    if np.any(up_u < lo_u):
        i = int(np.argmax(up_u < lo_u))
        raise InfeasibleProblemError(
            f"bounds must contain a whole lot; got [{lo[i]:g}, {up[i]:g}] at interval {i} "
            f"for lot {lot:g}"
        )
    if lo_u.sum() > target or up_u.sum() < target:
        gap = lo_u.sum() - target if lo_u.sum() > target else target - up_u.sum()
        raise InfeasibleProblemError(
            f"whole-lot bounds must admit the total; got a shortfall of {gap * lot:g} shares"
        )
    base = np.clip(np.floor(units + eps), lo_u, up_u)
    remainder = units - base
    missing = int(target - base.sum())
    while missing != 0:
        if missing > 0:
            room = base < up_u
            key = np.where(room, -remainder, np.inf)
        else:
            room = base > lo_u
            key = np.where(room, remainder, np.inf)
        k = min(abs(missing), int(room.sum()))
        picked = np.argsort(key, kind="stable")[:k]
        step = 1.0 if missing > 0 else -1.0
        base[picked] += step
        remainder[picked] -= step
        missing -= int(step) * k
    return base * lot
