"""Market data sources, synthetic markets, realisation, evaluation and reports.

Names are imported on first use (PEP 562), so ``import simulator.config`` - what
``run-backtest validate`` needs - does not pull in the evaluator, the statistics and the
loaders.
"""

from importlib import import_module

_EXPORTS = {
    "DataQualityReport": ".loaders",
    "DataQualityWarning": ".loaders",
    "Evaluation": ".evaluate",
    "EvaluationSettings": ".settings",
    "IntradayProfile": ".synthetic",
    "Market": ".market",
    "MarketParams": ".synthetic",
    "Realization": ".market",
    "RunResult": ".run",
    "SizeSpec": ".settings",
    "SyntheticMarket": ".synthetic",
    "calibrate_params": ".synthetic",
    "evaluate": ".evaluate",
    "load_books": ".loaders",
    "load_databento_mbp10": ".loaders",
    "load_lobster": ".loaders",
    "run_scenario": ".run",
    "synthesize_market": ".synthetic",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
