"""Exception hierarchy shared by every layer of tradealloc.

All errors caused by user input derive from :class:`TradeallocError` and from
``ValueError`` or ``TypeError``, so callers can catch one root while the CLI
prints them as a single line and exits with code 2.  Warnings derive from
:class:`TradeallocWarning` (a ``UserWarning``).
"""

from __future__ import annotations

__all__ = [
    "TradeallocError",
    "InvalidParameterError",
    "InvalidTypeError",
    "InfeasibleProblemError",
    "DataError",
    "NotFittedError",
    "TradeallocWarning",
    "FitWarning",
]


class TradeallocError(Exception):
    """Root of every error tradealloc raises on purpose."""


class InvalidParameterError(TradeallocError, ValueError):
    """A parameter or field has a value outside its documented range."""


class InvalidTypeError(TradeallocError, TypeError):
    """A parameter or field has the wrong type."""


class InfeasibleProblemError(InvalidParameterError):
    """Constraints admit no schedule (for example ``S > sum(upper)``)."""


class DataError(InvalidParameterError):
    """Market data is missing, malformed or unusable (empty, crossed, no session rows)."""


class NotFittedError(TradeallocError, AttributeError):
    """A model was used before ``fit`` was called."""


class TradeallocWarning(UserWarning):
    """Root of every warning tradealloc issues on purpose."""


class FitWarning(TradeallocWarning):
    """A fit went through with a caveat: training days dropped, minutes not fittable.

    The message is one line naming how many days or minutes and why; the same counts are
    in the fitted model's ``fit_info``.
    """
