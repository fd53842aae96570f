"""Order-book snapshots, walking the book, and impact models fitted from them."""

from .book_walk import DEFAULT_BEYOND_DEPTH_BPS, WalkResult, side_sign, walk_levels
from .errors import (
    DataError,
    InfeasibleProblemError,
    InvalidParameterError,
    InvalidTypeError,
    NotFittedError,
    TradeallocError,
)
from .snapshots import BookSnapshots, regular_session_starts

__all__ = [
    "BookSnapshots",
    "DEFAULT_BEYOND_DEPTH_BPS",
    "DataError",
    "InfeasibleProblemError",
    "InvalidParameterError",
    "InvalidTypeError",
    "NotFittedError",
    "TradeallocError",
    "WalkResult",
    "regular_session_starts",
    "side_sign",
    "walk_levels",
]
