"""The validated :class:`Scenario`: all sections together, its settings and its summary."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..settings import EvaluationSettings, SizeSpec
from .errors import ScenarioError, _check_choice, _check_str, _one_line
from .market import MarketConfig
from .model import MODEL_KINDS, ModelConfig
from .plugins import StrategyConfig
from .sections import ConstraintsConfig, EvaluationConfig, OutputConfig, SimulationConfig

__all__ = ["Scenario", "safe_name"]

SIDES = ("buy", "sell")
# Labels the evaluator gives a meaning of its own: the baseline and the hindsight optimum.
BASELINE_LABEL = "equal"
RESERVED_LABELS = ("oracle",)


def safe_name(name: str, default: str = "scenario") -> str:
    """``name`` as one path component that stays inside its parent directory.

    Runs of characters other than letters, digits, ``_``, ``.`` and ``-`` become ``-``;
    leading and trailing dots and dashes are dropped (so ``..`` and hidden names cannot
    arise), and an empty result is ``default``.  ``"../../x"`` gives ``"x"``.
    """
    text = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(name)).strip(".-")
    return text or default


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A validated scenario: market, model, strategies, sizes, constraints, simulation, run.

    Parameters
    ----------
    name : str
        Scenario name, copied into every result row.
    description : str, default ''
        Free text for the report.
    market : MarketConfig
    model : ModelConfig
    strategies : tuple of StrategyConfig
        Non-empty; labels unique.  The evaluator adds ``equal`` (the baseline) when absent.
    sizes : simulator.settings.SizeSpec
        Parent order sizes, in shares or as fractions of average daily volume.
    side : {'buy', 'sell'}, default 'buy'
    constraints : ConstraintsConfig
    simulation : SimulationConfig
    evaluation : EvaluationConfig
    output : OutputConfig
    source_path : Path, optional
        The scenario file it was read from (not part of equality or :meth:`to_dict`).
    """

    name: str
    description: str = ""
    market: MarketConfig = field(default_factory=MarketConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    strategies: tuple[StrategyConfig, ...] = ()
    sizes: SizeSpec | None = None
    side: str = "buy"
    constraints: ConstraintsConfig = field(default_factory=ConstraintsConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    output: OutputConfig | None = None
    source_path: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _check_str(("name",), self.name)
        if not isinstance(self.description, str):
            raise ScenarioError(("description",), "must be a string", self.description)
        for key, cls in (
            ("market", MarketConfig),
            ("model", ModelConfig),
            ("constraints", ConstraintsConfig),
            ("simulation", SimulationConfig),
            ("evaluation", EvaluationConfig),
        ):
            if not isinstance(getattr(self, key), cls):
                raise ScenarioError((key,), f"must be a {cls.__name__}", getattr(self, key))
        if self.output is None:
            object.__setattr__(
                self, "output", OutputConfig(dir=Path("results") / safe_name(self.name))
            )
        if not isinstance(self.output, OutputConfig):
            raise ScenarioError(("output",), "must be an OutputConfig", self.output)
        if not isinstance(self.sizes, SizeSpec):
            raise ScenarioError(("sizes",), "is required (shares or adv_fraction)", self.sizes)
        _check_choice(("side",), self.side, SIDES)
        self._check_strategies()
        self._check_saved_model()
        self._check_model_kinds()
        self._check_lots()
        self._check_days()

    def _check_strategies(self) -> None:
        entries = tuple(self.strategies)
        if not entries:
            raise ScenarioError(("strategies",), "must list at least one strategy", [])
        seen: dict[str, int] = {}
        for i, entry in enumerate(entries):
            if not isinstance(entry, StrategyConfig):
                raise ScenarioError(("strategies", i), "must be a StrategyConfig", entry)
            if entry.label in seen:
                raise ScenarioError(
                    ("strategies", i, "label"),
                    f"duplicates the label of strategies[{seen[entry.label]}]; set a distinct "
                    "label",
                    entry.label,
                )
            if entry.label in RESERVED_LABELS:
                raise ScenarioError(
                    ("strategies", i, "label"),
                    "is reserved for the hindsight optimum",
                    entry.label,
                )
            if entry.label == BASELINE_LABEL and entry.name != BASELINE_LABEL:
                raise ScenarioError(
                    ("strategies", i, "label"),
                    "is reserved for the equal (TWAP) baseline",
                    entry.label,
                )
            seen[entry.label] = i
        object.__setattr__(self, "strategies", entries)

    def _check_model_kinds(self) -> None:
        """Reject a strategy that cannot plan with ``model.kind`` (it would fail every row)."""
        kind = self.model.kind
        for i, entry in enumerate(self.strategies):
            strategy = entry.build()
            kinds = tuple(getattr(strategy, "supported_kinds", MODEL_KINDS))
            if kind not in kinds:
                raise ScenarioError(
                    ("strategies", i, "name"),
                    f"strategy {entry.label!r} does not support model.kind {kind!r} (it "
                    f"supports {', '.join(kinds)}): every one of its rows would fail; choose "
                    "another strategy or model kind",
                    entry.name,
                )

    def _check_lots(self) -> None:
        lot = self.constraints.lot_size
        if lot <= 0 or self.sizes.unit != "shares":
            return
        for i, value in enumerate(self.sizes.values):
            ratio = value / lot
            if abs(ratio - round(ratio)) > 1e-9 * max(1.0, abs(ratio)):
                raise ScenarioError(
                    ("sizes", "shares", i),
                    f"must be a whole number of lots of {lot:g} shares (constraints.lot_size)",
                    value,
                )

    def _check_saved_model(self) -> None:
        """A saved model (``model.from``) must price this scenario's side and intervals."""
        md = self.model
        if md.from_path is None:
            return
        if md.saved_side != self.side:
            raise ScenarioError(
                ("model", "from"),
                f"prices {md.saved_side} orders; the scenario's side is {self.side!r}",
                str(md.from_path),
            )
        intervals = self.market.intervals
        if intervals is not None and md.saved_intervals != intervals:
            raise ScenarioError(
                ("model", "from"),
                f"has {md.saved_intervals} intervals; the market has {intervals}",
                str(md.from_path),
            )

    def _check_days(self) -> None:
        market, ev = self.market, self.evaluation
        if market.source != "synthetic":
            return
        walk = ev.mode == "walk_forward"
        eligible = market.days - self.model.training_days if walk else market.days
        if eligible < 1:
            raise ScenarioError(
                ("market", "days"),
                f"must exceed model.training_days ({self.model.training_days}) for "
                "walk_forward evaluation",
                market.days,
            )
        if ev.test_days is not None and ev.test_days > eligible:
            raise ScenarioError(
                ("evaluation", "test_days"),
                f"must be <= the {eligible} eligible days of this market",
                ev.test_days,
            )

    @property
    def test_day_count(self) -> int | None:
        """Test days per market (None when it depends on recorded data)."""
        if self.market.source != "synthetic":
            return self.evaluation.test_days
        walk = self.evaluation.mode == "walk_forward"
        eligible = self.market.days - (self.model.training_days if walk else 0)
        return eligible if self.evaluation.test_days is None else self.evaluation.test_days

    def build_strategies(self) -> tuple[tuple[str, Any], ...]:
        """``(label, strategy)`` pairs, freshly built (build them where they run)."""
        return tuple((entry.label, entry.build()) for entry in self.strategies)

    def to_settings(self) -> EvaluationSettings:
        """The evaluator's :class:`simulator.settings.EvaluationSettings` for this scenario."""
        c, s, e, m = self.constraints, self.simulation, self.evaluation, self.model
        return EvaluationSettings(
            sizes=self.sizes,
            side=self.side,
            model_kind=m.kind,
            model_options={} if m.from_path is not None else m.fit_options,
            model_path=None if m.from_path is None else str(m.from_path),
            training_days=m.training_days,
            refit_every=m.refit_every,
            mode=e.mode,
            test_days=e.test_days,
            max_participation=c.max_participation,
            min_shares_per_interval=c.min_shares_per_interval,
            lot_size=c.lot_size,
            transient_half_life=s.transient_half_life,
            permanent_impact=s.permanent_impact,
            beyond_depth_bps=s.beyond_depth_bps,
            oracle=e.oracle,
            seed=e.seed,
            bootstrap_samples=e.bootstrap_samples,
            equivalence_bps=e.equivalence_bps,
            strategy_timeout_s=e.strategy_timeout_s,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able mapping in the scenario schema (paths absolute).

        ``parse_scenario(scenario.to_dict(), base_dir=...)`` gives back an equal scenario.
        """
        return {
            "name": self.name,
            "description": self.description,
            "market": self.market.to_dict(),
            "model": self.model.to_dict(),
            "strategies": [entry.to_dict() for entry in self.strategies],
            "sizes": {self.sizes.unit: list(self.sizes.values)},
            "side": self.side,
            "constraints": self.constraints.to_dict(),
            "simulation": self.simulation.to_dict(),
            "evaluation": self.evaluation.to_dict(),
            "output": self.output.to_dict(),
        }

    def describe(self) -> str:
        """A one-paragraph, human-readable summary of the scenario."""
        mk, md, ev = self.market, self.model, self.evaluation
        if mk.source == "synthetic":
            regimes = ", ".join(mk.regimes)
            label = "regime" if len(mk.regimes) == 1 else "regimes (one sub-run each)"
            market = (
                f"a synthetic market, {label} {regimes}, {mk.days} days x {mk.intervals} "
                f"intervals x {mk.levels} levels"
            )
        else:
            files = ", ".join(p.name for p in mk.path[:3]) + (", ..." if len(mk.path) > 3 else "")
            market = f"{mk.source} data ({len(mk.path)} file(s): {files}), {mk.intervals} intervals"
        lot = self.constraints.lot_size
        if self.sizes.unit == "shares":
            sizes = ", ".join(f"{v:,.0f}" for v in self.sizes.values) + " shares"
            if lot > 0:
                sizes += f" in lots of {lot:g}"
        else:
            sizes = ", ".join(f"{v:g}" for v in self.sizes.values) + " of average daily volume"
            if lot > 0:
                sizes += (
                    f" (each rounded to the nearest whole number of lots of {lot:g} shares, at "
                    "least one lot; the rounded size is the one evaluated)"
                )
        cap = (
            "no participation cap"
            if self.constraints.max_participation is None
            else f"participation capped at {self.constraints.max_participation:g}"
        )
        labels = ", ".join(entry.label for entry in self.strategies)
        days = self.test_day_count
        days_text = "all eligible days" if days is None else f"{days} test day(s)"
        protocol = (
            f"walk-forward on {days_text}, fitted on the {md.training_days} days before each "
            f"and refitted every {md.refit_every} test day(s)"
            if ev.mode == "walk_forward"
            else f"in-sample on {days_text}"
        )
        backend = ev.backend + (f" at {ev.scheduler}" if ev.scheduler else "")
        jobs = f"n_jobs {ev.n_jobs}"
        if ev.backend != "dask" or not ev.scheduler:
            from ..workers import available_cores, effective_n_jobs

            workers = effective_n_jobs(ev.n_jobs, warn=False)
            if workers != ev.n_jobs and ev.n_jobs > 0:
                jobs += f" (capped at the {available_cores()} available cores)"
        text = (
            f"Scenario {self.name!r}"
            + (f" ({self.description.strip()})" if self.description.strip() else "")
            + f": {self.side} {sizes} on {market}; {md.kind} impact model "
            + (
                f"loaded from {md.from_path.name} (not refitted)"
                if md.from_path is not None
                else f"(smoothing {md.smoothing:g} intervals)"
            )
            + f"; {len(self.strategies)} strateg"
            f"{'y' if len(self.strategies) == 1 else 'ies'} ({labels}); {cap}; transient "
            f"half-life {self.simulation.transient_half_life:g} intervals, permanent impact "
            f"{self.simulation.permanent_impact:g} $/share/share, beyond-depth penalty "
            f"{self.simulation.beyond_depth_bps:g} bps; evaluated {protocol}, {jobs} "
            f"({backend}), seed {ev.seed}, {ev.bootstrap_samples} bootstrap samples, "
            f"equivalence margin {ev.equivalence_bps:g} bps, strategy timeout "
            f"{ev.strategy_timeout_s:g} s, oracle {'on' if ev.oracle else 'off'}; "
            f"{self.output.report} report"
            f"{' with figures' if self.output.figures else ''} in {self.output.dir}."
        )
        return _one_line(text)
