"""Matplotlib figures of the protocol's curves: box accuracy vs CAM threshold, PxAP's PR curve.

Inputs are the ``curves`` of :meth:`wsol.metrics.WSOLMetrics.compute` (or the same arrays
from the single metrics): thresholds [T], box_acc_v2 [D, T] and box_acc_v1 [1, T] in percent,
precision / recall [T]. Figures are built with matplotlib's object API (no pyplot state), so
they can be drawn from a training process; :func:`save_curve_figures` writes them as PNGs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from torch import Tensor

FIGSIZE = (5.5, 4.0)
# The box-accuracy figure is taller: its legend sits under the axes.
BOX_FIGSIZE = (5.5, 5.0)
DPI = 100


def _array(values: Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
    if isinstance(values, Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def best_thresholds(thresholds: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """Per row, the threshold of the maximum (ties: the lowest threshold, as the protocol).

    Args:
        thresholds: [T]; curve: [D, T].

    Returns:
        [D] float64.
    """
    curve = np.atleast_2d(_array(curve))
    return _array(thresholds)[curve.argmax(axis=1)]


def box_accuracy_figure(
    thresholds: Tensor | np.ndarray,
    box_acc_v2: Tensor | np.ndarray,
    iou_thresholds: Sequence[float],
    box_acc_v1: Tensor | np.ndarray | None = None,
    chosen_threshold: float | None = None,
    title: str = "Box accuracy vs CAM threshold",
) -> Figure:
    """BoxAcc(t, IoU) curves: one line per IoU threshold (V2: all contours), V1 (largest
    contour) dashed.

    Each curve's maximum (its MaxBoxAcc) is marked with a dot and given in the legend.

    Args:
        thresholds: [T] CAM thresholds.
        box_acc_v2: [D, T] percent, multi-contour, one row per IoU threshold.
        iou_thresholds: the D IoU thresholds (percent), for the legend.
        box_acc_v1: [1, T] percent, largest contour at IoU 50, or None.
        chosen_threshold: a threshold to mark with a vertical line (e.g. the localization
            threshold chosen on validation), or None.
        title: figure title.
    """
    t = _array(thresholds)
    v2 = np.atleast_2d(_array(box_acc_v2))
    if v2.shape[0] != len(iou_thresholds) or v2.shape[1] != len(t):
        raise ValueError(
            f"box_acc_v2 is {v2.shape} but there are {len(iou_thresholds)} IoU thresholds "
            f"and {len(t)} CAM thresholds"
        )
    fig = Figure(figsize=BOX_FIGSIZE, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    rows = [(f"V2 IoU {d:g}", row, "-") for d, row in zip(iou_thresholds, v2, strict=True)]
    if box_acc_v1 is not None:
        rows.append(("V1 IoU 50 (largest)", np.atleast_2d(_array(box_acc_v1))[0], "--"))
    for label, row, style in rows:
        best = int(row.argmax())
        (line,) = ax.plot(t, row, style, label=f"{label}: max {row[best]:.1f} @ {t[best]:.2f}")
        ax.plot([t[best]], [row[best]], "o", color=line.get_color())
    if chosen_threshold is not None and np.isfinite(chosen_threshold):
        ax.axvline(
            chosen_threshold, color="grey", linestyle=":", label=f"t = {chosen_threshold:.2f}"
        )
    ax.set_xlabel("CAM threshold")
    ax.set_ylabel("box accuracy (%)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    fig.legend(loc="outside lower center", ncol=2, fontsize="small")
    return fig


def precision_recall_figure(
    precision: Tensor | np.ndarray,
    recall: Tensor | np.ndarray,
    pxap: float | None = None,
    title: str = "Pixel precision-recall",
) -> Figure:
    """PxAP's precision-recall curve over the CAM thresholds.

    Args:
        precision, recall: [T] at "score >= threshold"; precision is NaN where no pixel scores
            that high (those points are left out).
        pxap: the PxAP value for the title, or None.
        title: figure title.
    """
    p, r = _array(precision), _array(recall)
    keep = np.isfinite(p) & np.isfinite(r)
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.plot(r[keep], p[keep], "-", marker=".", markersize=3)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(f"{title} (PxAP {pxap:.2f})" if pxap is not None else title)
    return fig


def curve_figures(
    curves: dict,
    iou_thresholds: Sequence[float],
    scalars: dict | None = None,
    stage: str = "val",
) -> dict[str, Figure]:
    """The figures a ``curves`` dict supports, by name.

    Args:
        curves: ``thresholds`` and optionally ``box_acc_v2``, ``box_acc_v1``, ``precision``,
            ``recall`` (see the module docstring).
        iou_thresholds: IoU thresholds (percent) of the box_acc_v2 rows.
        scalars: the metrics' scalars; ``loc_threshold`` is marked and ``pxap`` titled.
        stage: split name for the titles.

    Returns:
        ``{"box_accuracy": Figure}`` with box curves, ``{"precision_recall": Figure}`` with
        PxAP curves (either may be absent).
    """
    scalars = scalars or {}
    figures: dict[str, Figure] = {}
    if curves.get("box_acc_v2") is not None:
        figures["box_accuracy"] = box_accuracy_figure(
            curves["thresholds"],
            curves["box_acc_v2"],
            iou_thresholds,
            curves.get("box_acc_v1"),
            chosen_threshold=scalars.get("loc_threshold"),
            title=f"{stage}: box accuracy vs CAM threshold",
        )
    if curves.get("precision") is not None and curves.get("recall") is not None:
        figures["precision_recall"] = precision_recall_figure(
            curves["precision"],
            curves["recall"],
            scalars.get("pxap"),
            title=f"{stage}: pixel precision-recall",
        )
    return figures


def save_curve_figures(
    curves: dict,
    out_dir: str | Path,
    iou_thresholds: Sequence[float],
    scalars: dict | None = None,
    stage: str = "test",
) -> list[Path]:
    """Write the figures of :func:`curve_figures` as ``<stage>_<name>.png`` into ``out_dir``.

    Returns:
        The written paths (``<stage>_box_accuracy.png``, ``<stage>_precision_recall.png``).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, figure in curve_figures(curves, iou_thresholds, scalars, stage).items():
        path = out_dir / f"{stage}_{name}.png"
        figure.savefig(path)
        paths.append(path)
    return paths
