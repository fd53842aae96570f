"""The ``model`` section: the impact model strategies plan with, and its refitting."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .errors import (
    PathKey,
    ScenarioError,
    _check_choice,
    _check_int,
    _check_mapping,
    _check_number,
    _one_line,
    _unknown_name,
)

__all__ = ["MODEL_KINDS", "ModelConfig"]

MODEL_KINDS = ("linear", "power", "book")
# fit_impact_model options that other scenario keys already set.
_RESERVED_MODEL_OPTIONS = ("books", "kind", "side", "smoothing")


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """The impact model strategies plan with, and how often it is refitted.

    Parameters
    ----------
    kind : {'linear', 'power', 'book'}, default 'linear'
        Model family passed to :func:`models.fit_impact_model`.
    training_days : int, default 10
        Walk-forward window W in days: the model for test day d is fitted on the W days
        before d.
    refit_every : int, default 1
        Refit frequency in test days (1 = refit before every test day).
    smoothing : float, default 0
        Kernel bandwidth across intervals for the fitted parameters, in intervals
        (0 = none).
    options : dict, default {}
        Further keyword options of :func:`models.fit_impact_model` (e.g. ``h: half_spread``,
        ``delta: 0.5``); ``kind``, ``side`` and ``smoothing`` are set by other keys.
    from_path : Path, optional
        YAML key ``from``: a model saved by ``run-backtest fit`` (or
        :meth:`models.BaseImpact.save`) used for every test day instead of fitting one.
        Its kind becomes ``kind``; the training window still gives the volume profile,
        caps, ADV and volatility.  ``smoothing`` and ``options`` do not apply.
    """

    _SECTION: ClassVar[str] = "model"

    kind: str = "linear"
    training_days: int = 10
    refit_every: int = 1
    smoothing: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    from_path: Path | None = None

    def __post_init__(self) -> None:
        m = (self._SECTION,)
        if self.from_path is not None:
            self._check_saved_model()
        _check_choice(m + ("kind",), self.kind, MODEL_KINDS)
        days = _check_int(m + ("training_days",), self.training_days, minimum=1)
        object.__setattr__(self, "training_days", days)
        refit = _check_int(m + ("refit_every",), self.refit_every, minimum=1)
        object.__setattr__(self, "refit_every", refit)
        smoothing = _check_number(m + ("smoothing",), self.smoothing, low=0.0)
        object.__setattr__(self, "smoothing", smoothing)
        options = _check_mapping(m + ("options",), self.options)
        for key in options:
            if key in _RESERVED_MODEL_OPTIONS:
                raise ScenarioError(
                    m + ("options", key),
                    f"is set by {'model.' + key if key != 'side' else 'side'}, not options",
                    options[key],
                )
        _check_fit_options(m + ("options",), options)
        object.__setattr__(self, "options", options)

    def _check_saved_model(self) -> None:
        m = (self._SECTION,)
        from models.errors import TradeallocError
        from models.impact_base import load_model

        path = Path(self.from_path)
        try:
            model = load_model(path)
        except TradeallocError as exc:
            raise ScenarioError(m + ("from",), _one_line(str(exc)), str(path)) from None
        if self.smoothing or self.options:
            raise ScenarioError(
                m + ("from",),
                "takes the saved model as it is: smoothing and options do not apply",
                str(path),
            )
        object.__setattr__(self, "from_path", path)
        object.__setattr__(self, "kind", model.kind)
        object.__setattr__(self, "_intervals", int(model.n_intervals))
        object.__setattr__(self, "_side", str(model.side))

    @property
    def saved_intervals(self) -> int | None:
        """Intervals of the saved model (``from``), or None when the model is fitted."""
        return getattr(self, "_intervals", None)

    @property
    def saved_side(self) -> str | None:
        """Side of the saved model (``from``), or None when the model is fitted."""
        return getattr(self, "_side", None)

    @property
    def fit_options(self) -> dict[str, Any]:
        """Keyword options of :func:`models.fit_impact_model`, ``smoothing`` included."""
        return {**self.options, "smoothing": self.smoothing}

    def to_dict(self) -> dict[str, Any]:
        """The section as scenario YAML keys."""
        out = {
            "kind": self.kind,
            "training_days": self.training_days,
            "refit_every": self.refit_every,
            "smoothing": self.smoothing,
            "options": dict(self.options),
        }
        if self.from_path is not None:
            out["from"] = str(self.from_path)
        return out


def _check_fit_options(path: PathKey, options: Mapping[str, Any]) -> None:
    """Reject option names ``fit_impact_model`` does not accept (when it lists them)."""
    try:
        from models import fit_impact_model
    except ImportError:
        return
    params = inspect.signature(fit_impact_model).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    valid = [
        p.name
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name not in _RESERVED_MODEL_OPTIONS
    ]
    for key in options:
        if key not in valid:
            raise _unknown_name(path, key, valid, "fit_impact_model option")
