"""Order-book snapshots, walking the book, and impact models fitted from them."""

from .book_model import BookImpact
from .book_walk import (
    DEFAULT_BEYOND_DEPTH_BPS,
    WalkResult,
    beyond_depth_tail,
    marginal_offset,
    side_sign,
    walk_levels,
)
from .errors import (
    DataError,
    FitWarning,
    InfeasibleProblemError,
    InvalidParameterError,
    InvalidTypeError,
    NotFittedError,
    TradeallocError,
    TradeallocWarning,
)
from .fitting import PerDayFit, fit_impact_model, fit_per_day
from .impact import ImpactModel
from .impact_base import BaseImpact, load_model
from .linear import LinearImpact
from .power import PowerLawImpact
from .snapshots import BookSnapshots, regular_session_starts

__all__ = [
    "BaseImpact",
    "BookImpact",
    "BookSnapshots",
    "DEFAULT_BEYOND_DEPTH_BPS",
    "DataError",
    "FitWarning",
    "ImpactModel",
    "InfeasibleProblemError",
    "InvalidParameterError",
    "InvalidTypeError",
    "LinearImpact",
    "PerDayFit",
    "NotFittedError",
    "PowerLawImpact",
    "TradeallocError",
    "TradeallocWarning",
    "WalkResult",
    "beyond_depth_tail",
    "fit_impact_model",
    "fit_per_day",
    "load_model",
    "marginal_offset",
    "regular_session_starts",
    "side_sign",
    "walk_levels",
]
