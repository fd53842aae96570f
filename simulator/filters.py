"""Exponential (AR(1)) filtering along an axis, imported lazily.

``scipy.signal`` takes about a second to import; loading it only when a filter actually
runs keeps evaluation workers (which rarely need it) quick to start.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ar1_filter"]


def ar1_filter(x: np.ndarray, coefficient: float, axis: int = -1) -> np.ndarray:
    """y_t = x_t + coefficient * y_(t-1) along ``axis`` (y_(-1) = 0).

    Parameters
    ----------
    x : ndarray
        Input series.
    coefficient : float
        Persistence of the filter (dimensionless, |coefficient| < 1 for stability).
    axis : int, default -1
        Axis of time.

    Returns
    -------
    ndarray
        The filtered series, same shape as ``x``.
    """
    from scipy.signal import lfilter

    return lfilter([1.0], [1.0, -coefficient], x, axis=axis)
