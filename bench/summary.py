"""The one line each benchmark prints per measure: ours, the same run's baseline, ratio."""

from __future__ import annotations


def summary(measure: str, ours: float, baseline: float, unit: str, goal: str) -> str:
    """`ratio` is ours / baseline, so higher is better for rates; `goal` is on it."""
    ratio = ours / baseline if baseline else float("nan")
    line = f"SUMMARY {measure}: ours {ours:.0f} {unit}, baseline {baseline:.0f} {unit}, "
    return line + f"ratio {ratio:.2f}" + (f" (goal {goal})" if goal else "")
