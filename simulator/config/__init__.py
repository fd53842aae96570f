"""Scenario files: the YAML schema, its validation, and frozen config objects.

A scenario file says which market to replay or synthesize, which impact model to fit, which
strategies to compare at which order sizes, how the simulator charges them and how the
evaluator runs.  :func:`load_scenario` is the one place where YAML is read (a safe loader
within size, depth and alias bounds); :func:`parse_scenario` validates an already-parsed
mapping; :func:`check_resources` refuses a scenario whose memory estimate does not fit.  The
documented schema is ``docs/scenarios.md``.

Every validation error is a :class:`ScenarioError` whose one-line message names the YAML path
(``strategies[2].params.risk_aversion``), the constraint and the offending value, prefixed with
the file and line when the scenario came from a file.  The config objects are frozen
keyword-only dataclasses validated in ``__post_init__``, so variants made with
:func:`dataclasses.replace` are validated too.  They hold no live objects (strategies are
stored as name, parameters and label; :meth:`StrategyConfig.build` instantiates one), so a
scenario pickles cheaply and serialises with :meth:`Scenario.to_dict`.
"""

from .errors import ScenarioError
from .market import DATA_SOURCES, REGIMES, SOURCES, MarketConfig, derive_message_path
from .model import MODEL_KINDS, ModelConfig
from .parse import parse_scenario
from .plugins import StrategyConfig
from .resources import MAX_ALLOCATION_ROWS, MemoryEstimate, check_resources, estimate_memory
from .scenario import Scenario, safe_name
from .sections import (
    BACKENDS,
    MODES,
    REPORT_FORMATS,
    ConstraintsConfig,
    EvaluationConfig,
    OutputConfig,
    SimulationConfig,
)
from .yaml_io import load_scenario

__all__ = [
    "BACKENDS",
    "MAX_ALLOCATION_ROWS",
    "DATA_SOURCES",
    "MODEL_KINDS",
    "MODES",
    "REGIMES",
    "REPORT_FORMATS",
    "SOURCES",
    "ConstraintsConfig",
    "EvaluationConfig",
    "MarketConfig",
    "MemoryEstimate",
    "ModelConfig",
    "OutputConfig",
    "Scenario",
    "ScenarioError",
    "SimulationConfig",
    "StrategyConfig",
    "check_resources",
    "derive_message_path",
    "estimate_memory",
    "load_scenario",
    "parse_scenario",
    "safe_name",
]
