"""Curve figures: one line per IoU threshold and V1, the PR curve, PNG files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wsol.viz.curves import (
    best_thresholds,
    box_accuracy_figure,
    curve_figures,
    precision_recall_figure,
    save_curve_figures,
)

T = np.arange(0, 1, 0.01)


def _curves(with_masks: bool = True) -> dict:
    v2 = np.stack([100 - 50 * T, 80 * np.exp(-((T - 0.4) ** 2) * 20), 30 * T])
    curves = {
        "thresholds": torch.from_numpy(T),
        "box_acc_v2": torch.from_numpy(v2),
        "box_acc_v1": torch.from_numpy(v2[1:2] * 0.9),
    }
    if with_masks:
        precision = np.linspace(0.3, 1.0, len(T))
        precision[-3:] = np.nan  # no pixel scores that high
        curves.update(precision=torch.from_numpy(precision), recall=torch.from_numpy(1 - T))
    return curves


def test_best_thresholds_take_the_lowest_of_ties():
    curve = np.array([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 1.0, 0.0]])
    assert best_thresholds(np.array([0.0, 0.1, 0.2, 0.3]), curve).tolist() == [0.1, 0.0]


def test_box_accuracy_figure_has_a_line_per_curve():
    curves = _curves()
    figure = box_accuracy_figure(
        curves["thresholds"], curves["box_acc_v2"], (30, 50, 70), curves["box_acc_v1"], 0.4
    )
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert sum(label.startswith("V2 IoU") for label in labels) == 3
    assert any(label.startswith("V1") for label in labels)
    assert any("max 80.0 @ 0.40" in label for label in labels)


def test_box_accuracy_figure_checks_shapes():
    with pytest.raises(ValueError, match="2 IoU thresholds"):
        box_accuracy_figure(T, np.zeros((3, len(T))), (30, 50))


def test_precision_recall_leaves_out_undefined_precision():
    curves = _curves()
    figure = precision_recall_figure(curves["precision"], curves["recall"], pxap=51.2)
    (line,) = figure.axes[0].get_lines()
    assert len(line.get_xdata()) == len(T) - 3
    assert "51.20" in figure.axes[0].get_title()


def test_curve_figures_follow_the_available_curves(tmp_path):
    assert set(curve_figures(_curves(), (30, 50, 70))) == {"box_accuracy", "precision_recall"}
    assert set(curve_figures(_curves(False), (30, 50, 70))) == {"box_accuracy"}
    paths = save_curve_figures(_curves(), tmp_path, (30, 50, 70), {"pxap": 50.0}, stage="val")
    assert sorted(p.name for p in paths) == ["val_box_accuracy.png", "val_precision_recall.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
