"""Seed statistics and Markdown tables of the experiment reports."""

from __future__ import annotations

import math

import pytest

from wsol.analysis.summary import format_mean_std, markdown_table, mean_std


def test_mean_and_sample_std():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_std([4.0]) == (4.0, 0.0)
    assert all(math.isnan(v) for v in mean_std([]))


def test_format():
    assert format_mean_std([40.0, 42.0, 44.0]) == "42.0 ± 2.0"
    assert format_mean_std([0.5], digits=2) == "0.50"
    assert format_mean_std([]) == "–"


def test_markdown_table():
    table = markdown_table(["a", "b"], [["x", 1], ["y", 2.5]])
    assert table.splitlines() == ["| a | b |", "| :--- | ---: |", "| x | 1 |", "| y | 2.5 |"]
    with pytest.raises(ValueError, match="2 cells"):
        markdown_table(["a", "b"], [["x"]])
