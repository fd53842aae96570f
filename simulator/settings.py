"""Settings of an evaluation run: what to fit, which sizes, which constraints, which market.

These frozen dataclasses are what the evaluator consumes; :mod:`simulator.config` builds them
from a scenario file, and a researcher can build them directly in Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from models.book_walk import DEFAULT_BEYOND_DEPTH_BPS, side_sign
from models.errors import InvalidParameterError

__all__ = ["EvaluationSettings", "SizeSpec", "MODES", "BACKENDS", "MAX_ORDER_SHARES"]

MODES = ("walk_forward", "in_sample")
BACKENDS = ("loky", "threading", "dask")
_MODEL_KINDS = ("linear", "power", "book")
# Largest parent order accepted, in shares.  Costs grow like S**2 (linear model, book walk
# beyond the visible depth), so sizes far beyond any listed company's float overflow float64
# or lose the precision the schedule checks rely on; 1e12 shares is ~10x the largest float.
MAX_ORDER_SHARES = 1e12


def _positive_finite(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise InvalidParameterError(f"{name} must be a finite number > 0; got {value!r}")


@dataclass(frozen=True, kw_only=True)
class SizeSpec:
    """Order sizes of a study: absolute shares or fractions of average daily volume.

    Parameters
    ----------
    shares : tuple of float, optional
        Parent order sizes in shares (each finite and > 0).
    adv_fraction : tuple of float, optional
        Parent order sizes as fractions of the average daily volume of the training days
        (each in (0, 1]).  Exactly one of ``shares`` and ``adv_fraction`` is given.
    lot_size : float, default 0
        Lot the sizes are rounded to, in shares (0 = no rounding): ADV-relative sizes are
        rounded to the nearest whole number of lots (at least one lot) by :meth:`to_shares`,
        and sizes in shares must be whole lots.  :class:`EvaluationSettings` sets it from
        its own ``lot_size``.
    """

    shares: tuple[float, ...] | None = None
    adv_fraction: tuple[float, ...] | None = None
    lot_size: float = 0.0

    def __post_init__(self) -> None:
        if (self.shares is None) == (self.adv_fraction is None):
            raise InvalidParameterError(
                "sizes must give exactly one of shares and adv_fraction; got "
                f"shares={self.shares!r}, adv_fraction={self.adv_fraction!r}"
            )
        values = self.shares if self.shares is not None else self.adv_fraction
        name = "shares" if self.shares is not None else "adv_fraction"
        values = tuple(float(v) for v in values)
        if not values:
            raise InvalidParameterError(f"sizes.{name} must not be empty; got {values!r}")
        lot = self.lot_size
        if not (isinstance(lot, int | float) and math.isfinite(lot) and lot >= 0):
            raise InvalidParameterError(f"lot_size must be finite and >= 0; got {lot!r}")
        object.__setattr__(self, "lot_size", float(lot))
        for i, v in enumerate(values):
            _positive_finite(f"sizes.{name}[{i}]", v)
            if name == "adv_fraction" and v > 1:
                raise InvalidParameterError(f"sizes.adv_fraction[{i}] must be in (0, 1]; got {v!r}")
            if name == "shares" and v > MAX_ORDER_SHARES:
                raise InvalidParameterError(
                    f"sizes.shares[{i}] must be <= {MAX_ORDER_SHARES:g} shares (larger orders "
                    f"overflow the cost arithmetic); got {v!r}"
                )
            if name == "shares" and lot > 0 and not _whole_lots(v, lot):
                raise InvalidParameterError(
                    f"sizes.shares[{i}] must be a whole number of lots of {lot:g} shares "
                    f"(constraints.lot_size); got {v!r}"
                )
        object.__setattr__(self, name, values)

    @property
    def values(self) -> tuple[float, ...]:
        """The configured numbers (shares, or fractions of ADV)."""
        return self.shares if self.shares is not None else self.adv_fraction

    @property
    def unit(self) -> str:
        """``'shares'`` or ``'adv_fraction'``."""
        return "shares" if self.shares is not None else "adv_fraction"

    def to_shares(self, adv_shares: float, lot_size: float | None = None) -> tuple[float, ...]:
        """Sizes in shares given the average daily volume.

        Parameters
        ----------
        adv_shares : float
            Average daily volume of the training days, in shares per day.
        lot_size : float, optional
            Lot in shares; default :attr:`lot_size`.  With a lot > 0, an ADV-relative size
            ``f * adv_shares`` is rounded to the nearest whole number of lots (halves up),
            and to one lot when it would round to zero, so the schedules can be rounded to lots with
            the exact total kept.  Sizes given in shares are returned as they are.

        Returns
        -------
        tuple of float
            One size per configured value, in shares.
        """
        lot = self.lot_size if lot_size is None else float(lot_size)
        if self.shares is not None:
            return self.shares
        raw = tuple(f * float(adv_shares) for f in self.adv_fraction)
        if lot <= 0:
            return raw
        return tuple(max(1.0, math.floor(v / lot + 0.5)) * lot for v in raw)


def _whole_lots(shares: float, lot: float) -> bool:
    ratio = shares / lot
    return abs(ratio - round(ratio)) <= 1e-9 * max(1.0, abs(ratio))


@dataclass(frozen=True, kw_only=True)
class EvaluationSettings:
    """Everything the evaluator needs besides the market data and the strategies.

    Parameters
    ----------
    sizes : SizeSpec
        Parent order sizes.
    side : {'buy', 'sell'}, default 'buy'
        Direction of every parent order.
    model_kind : {'linear', 'power', 'book'}, default 'linear'
        Impact model fitted on the training days and handed to the strategies.
    model_path : str, optional
        A model saved with :meth:`models.BaseImpact.save` used for every test day instead of
        fitting one (its kind must be ``model_kind``; the training window still gives the
        volume profile, caps, ADV and volatility).
    model_options : dict, default {}
        Keyword options of :func:`models.fit_impact_model` (``smoothing`` included).
    training_days : int, default 10
        Walk-forward window W: the model for test day d is fitted on the W days before the
        refit day.
    refit_every : int, default 1
        Refit frequency in test days (1 = refit before every test day).
    mode : {'walk_forward', 'in_sample'}, default 'walk_forward'
        ``in_sample`` fits and realises on the same day (for comparison only).
    test_days : int, optional
        Evaluate only the last ``test_days`` eligible days.
    max_participation : float, optional
        Cap per interval as a fraction of the volume expected from the training days,
        in (0, 1]; ``None`` = uncapped.
    min_shares_per_interval : float, default 0
        Lower bound per interval, in shares.
    lot_size : float, default 0
        Round schedules to lots of this many shares (largest remainder); 0 = no rounding.
        ADV-relative sizes are rounded to whole lots (see :meth:`SizeSpec.to_shares`):
        ``sizes`` is replaced by a copy carrying this lot size.
    transient_half_life : float, default 0
        Half-life of the recovery of consumed liquidity, in intervals (0 = full recovery).
    permanent_impact : float, default 0
        Permanent price move per share traded, in dollars per share.
    beyond_depth_bps : float, default 25
        Beyond-visible-depth penalty in basis points of the mid.
    oracle : bool, default True
        Also schedule the hindsight optimum under the test day's own books.
    seed : int, default 0
        Root of every random stream (``numpy.random.SeedSequence``).
    bootstrap_samples : int, default 2000
        Bootstrap resamples for confidence intervals.
    equivalence_bps : float, default 0.1
        Practical-equivalence margin of the verdict against ``equal``, in basis points of
        arrival notional (>= 0): an improvement whose interval lies within
        ``[-equivalence_bps, +equivalence_bps]`` is ``equivalent``.
    strategy_timeout_s : float, default 60
        Wall-clock limit for one strategy to compute one schedule, in seconds (> 0); a
        strategy that takes longer yields failed rows.
    """

    sizes: SizeSpec
    side: str = "buy"
    model_kind: str = "linear"
    model_options: dict[str, Any] = field(default_factory=dict)
    model_path: str | None = None
    training_days: int = 10
    refit_every: int = 1
    mode: str = "walk_forward"
    test_days: int | None = None
    max_participation: float | None = None
    min_shares_per_interval: float = 0.0
    lot_size: float = 0.0
    transient_half_life: float = 0.0
    permanent_impact: float = 0.0
    beyond_depth_bps: float = DEFAULT_BEYOND_DEPTH_BPS
    oracle: bool = True
    seed: int = 0
    bootstrap_samples: int = 2000
    equivalence_bps: float = 0.1
    strategy_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.sizes, SizeSpec):
            raise InvalidParameterError(f"sizes must be a SizeSpec; got {self.sizes!r}")
        side_sign(self.side)
        if self.model_kind not in _MODEL_KINDS:
            raise InvalidParameterError(
                f"model_kind must be one of {', '.join(_MODEL_KINDS)}; got {self.model_kind!r}"
            )
        if self.mode not in MODES:
            raise InvalidParameterError(
                f"mode must be one of {', '.join(MODES)}; got {self.mode!r}"
            )
        for name in ("training_days", "refit_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidParameterError(f"{name} must be an integer >= 1; got {value!r}")
        if self.test_days is not None and (
            not isinstance(self.test_days, int) or self.test_days < 1
        ):
            raise InvalidParameterError(
                f"test_days must be an integer >= 1; got {self.test_days!r}"
            )
        if self.max_participation is not None and not (
            isinstance(self.max_participation, int | float) and 0 < self.max_participation <= 1
        ):
            raise InvalidParameterError(
                f"max_participation must be in (0, 1]; got {self.max_participation!r}"
            )
        for name in (
            "min_shares_per_interval",
            "lot_size",
            "transient_half_life",
            "permanent_impact",
            "beyond_depth_bps",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise InvalidParameterError(f"{name} must be finite and >= 0; got {value!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise InvalidParameterError(f"seed must be an integer >= 0; got {self.seed!r}")
        if not isinstance(self.bootstrap_samples, int) or self.bootstrap_samples < 100:
            raise InvalidParameterError(
                f"bootstrap_samples must be an integer >= 100; got {self.bootstrap_samples!r}"
            )
        value = self.equivalence_bps
        if not (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value >= 0
        ):
            raise InvalidParameterError(f"equivalence_bps must be finite and >= 0; got {value!r}")
        object.__setattr__(self, "equivalence_bps", float(value))
        value = self.strategy_timeout_s
        if isinstance(value, bool):
            raise InvalidParameterError(f"strategy_timeout_s must be a number > 0; got {value!r}")
        _positive_finite("strategy_timeout_s", value)
        object.__setattr__(self, "strategy_timeout_s", float(value))
        object.__setattr__(self, "model_options", dict(self.model_options))
        if self.sizes.lot_size != self.lot_size:
            object.__setattr__(self, "sizes", replace(self.sizes, lot_size=self.lot_size))
