"""Seed statistics and Markdown tables for study summaries (scripts/summarize_sweep.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value); NaN when empty."""
    values = [float(v) for v in values]
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) == 1:
        return mean, 0.0
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(variance)


def format_mean_std(values: Sequence[float], digits: int = 1) -> str:
    """``"41.2 ± 1.3"`` over seeds; the value alone for one value; ``"–"`` for none."""
    mean, std = mean_std(values)
    if math.isnan(mean):
        return "–"
    if len(values) == 1:
        return f"{mean:.{digits}f}"  # one value has no spread to show
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table: first column left-aligned, the others right-aligned."""
    if any(len(row) != len(header) for row in rows):
        raise ValueError(f"every row needs {len(header)} cells")
    align = [":---"] + ["---:"] * (len(header) - 1)
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(str(cell) for cell in line) + " |" for line in lines)
