"""Market data sources, synthetic markets, realisation, evaluation and reports."""

__all__: list[str] = []
