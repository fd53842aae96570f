"""Market data sources, synthetic markets, realisation, evaluation and reports."""

from .evaluate import Evaluation, evaluate
from .loaders import (
    DataQualityReport,
    DataQualityWarning,
    load_books,
    load_databento_mbp10,
    load_lobster,
)
from .market import Market, Realization
from .run import RunResult, run_scenario
from .settings import EvaluationSettings, SizeSpec
from .synthetic import (
    IntradayProfile,
    MarketParams,
    SyntheticMarket,
    calibrate_params,
    synthesize_market,
)

__all__ = [
    "DataQualityReport",
    "DataQualityWarning",
    "Evaluation",
    "EvaluationSettings",
    "IntradayProfile",
    "Market",
    "MarketParams",
    "Realization",
    "RunResult",
    "SizeSpec",
    "SyntheticMarket",
    "calibrate_params",
    "evaluate",
    "load_books",
    "load_databento_mbp10",
    "load_lobster",
    "run_scenario",
    "synthesize_market",
]
