"""Arrays nobody can write to: model parameters and problem data shared with plugins."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["frozen_array"]


def frozen_array(values: Any, dtype=float) -> np.ndarray:
    """A read-only copy of ``values`` whose write flag cannot be switched back on.

    ``ndarray.setflags(write=False)`` on an array that owns its memory can be undone by
    anyone holding it (``setflags(write=True)``).  The copy returned here is a view of an
    immutable ``bytes`` buffer, so a strategy that tries to write into the model's or the
    problem's arrays gets ``ValueError`` instead of silently changing what every other
    strategy and the evaluator's predictions see.

    Parameters
    ----------
    values : array_like
        Any array-like of numbers.
    dtype : numpy dtype, default float

    Returns
    -------
    ndarray
        Same shape and values, not writeable, not re-writeable.
    """
    arr = np.ascontiguousarray(values, dtype=dtype)
    out = np.frombuffer(arr.tobytes(), dtype=arr.dtype).reshape(arr.shape)
    return out
