"""Allocation problems, strategy plugins and exact solvers."""

__all__: list[str] = []
