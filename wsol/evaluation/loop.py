"""The one evaluation entry: a method (or saved maps) over batches, feeding evaluators.

`score_batch` turns one batch into an `EvalBatch`: one forward pass, the ground-truth class's
map (GT-known) through the one CAM pipeline (`wsol.cams.pipeline.scoremaps`), the invalid
maps flagged. `evaluate` loops it over a loader and hands each `EvalBatch` to every
`Evaluator` (``process``), then collects their ``compute()``. The Lightning validation and
test steps call `score_batch` themselves (Lightning owns their loop); every other consumer
(analyses, saved-map scoring, scripts) calls `evaluate`. Evaluators are the protocol's metrics
(`wsol.evaluation.evaluators.ProtocolMetrics`), coverage (`wsol.analysis.coverage`) and the
part/whole and branch studies.

Labels and logits are optional: a batch of saved maps (``scoremaps`` instead of ``images``)
is scored without a method; evaluators that need labels say so.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor
from tqdm import tqdm

from wsol.cams.pipeline import scoremaps as protocol_scoremaps
from wsol.methods.outputs import MethodOutput

#: ``view(method, output, class_ids) -> (logits [B, K], maps [B, h, w])``: what is scored of a
#: forward pass (default: the method's logits and its ``cams``; see `extra_map_view`).
View = Callable[..., tuple[Tensor, Tensor]]


@dataclass
class EvalBatch:
    """What evaluators see of one batch.

    Attributes:
        scoremaps: [B, H, W] float in [0, 1], the protocol's score maps (evaluation frame).
        invalid: [B] bool, maps that could not be normalized (scored as zeros; counted).
        gt_boxes: B tensors [K_n, 4] (x0, y0, x1, y1) in the frame, or None.
        gt_masks: [B, H, W] uint8 (0, 1, 255 ignore), or None.
        labels: [B] ground-truth classes, or None (saved maps).
        logits: [B, K] of the scored view, or None (saved maps).
        indices: [B] dataset indices, or None.
        output: the forward pass's full output (None for saved maps).
        batch: the loader's batch as it came.
    """

    scoremaps: Tensor
    invalid: Tensor
    gt_boxes: list[Tensor] | None = None
    gt_masks: Tensor | None = None
    labels: Tensor | None = None
    logits: Tensor | None = None
    indices: Tensor | None = None
    output: MethodOutput | None = None
    batch: dict = field(default_factory=dict)


class Evaluator(ABC):
    """Takes every `EvalBatch` of a split (``process``), then reports (``compute``)."""

    @abstractmethod
    def process(self, batch: EvalBatch) -> None:
        """Add one batch."""

    @abstractmethod
    def compute(self) -> dict:
        """The split's result (plain numbers and tensors)."""

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Forget every processed batch (for reuse on another split)."""


def method_view(method, output: MethodOutput, class_ids: Tensor) -> tuple[Tensor, Tensor]:
    """The default view: the method's logits and its maps of ``class_ids`` ([B, h, w])."""
    return output.logits, method.cams(output, class_ids)


def extra_map_view(key: str, logits_key: str | None = None) -> View:
    """A view scoring the declared extra map ``key`` (`WSOLMethod.extra_map`) as the map.

    Args:
        key: a key of the method's ``extra_maps``.
        logits_key: ``output.aux`` key of the logits that go with the map; None: the method's.
    """

    def view(method, output: MethodOutput, class_ids: Tensor) -> tuple[Tensor, Tensor]:
        logits = output.logits if logits_key is None else output.aux[logits_key]
        return logits, method.extra_map(output, key, class_ids)

    return view


def score_batch(
    method,
    batch: Mapping,
    view: View | None = None,
    prepare: Callable[[Tensor], Tensor] | None = None,
) -> EvalBatch:
    """One batch → `EvalBatch` (GT-known maps through the one CAM pipeline).

    Args:
        method: a `WSOLMethod`; None when the batch holds saved ``scoremaps`` (and ``invalid``).
        batch: a loader batch: ``images`` [B, 3, H, W] and ``labels`` [B] (with a method),
            ``gt_boxes``, ``gt_masks``, ``indices`` where the split has them.
        view: what to score of the forward pass (default `method_view`).
        prepare: applied to the images before the forward pass (memory layout).
    """
    common = {
        "gt_boxes": batch.get("gt_boxes"),
        "gt_masks": batch.get("gt_masks"),
        "labels": batch.get("labels"),
        "indices": batch.get("indices"),
        "batch": dict(batch),
    }
    if method is None:
        if "scoremaps" not in batch:
            raise ValueError("score_batch without a method needs batch['scoremaps'] (saved maps)")
        maps = batch["scoremaps"]
        invalid = batch.get("invalid")
        if invalid is None:
            invalid = torch.zeros(len(maps), dtype=torch.bool, device=maps.device)
        return EvalBatch(scoremaps=maps, invalid=invalid, logits=batch.get("logits"), **common)
    images, labels = batch["images"], batch["labels"]
    output = method(prepare(images) if prepare is not None else images, labels)
    logits, cams = (view or method_view)(method, output, labels)
    maps, invalid = protocol_scoremaps(cams, tuple(images.shape[-2:]))
    return EvalBatch(scoremaps=maps, invalid=invalid, logits=logits, output=output, **common)


@torch.no_grad()
def evaluate(
    batches: Iterable[Mapping],
    evaluators: Mapping[str, Evaluator],
    method=None,
    view: View | None = None,
    prepare: Callable[[Tensor], Tensor] | None = None,
    desc: str | None = None,
) -> dict[str, dict]:
    """Run ``method`` (or read saved maps) over ``batches`` and feed every evaluator.

    Gradients are off; post-hoc explainers enable them locally (`wsol.cams.extractors`).

    Returns:
        ``{name: evaluator.compute()}`` in the order of ``evaluators``.
    """
    if method is not None:
        method.eval()
    for batch in tqdm(batches, desc=desc or "evaluating", leave=False, disable=desc is None):
        scored = score_batch(method, batch, view=view, prepare=prepare)
        for evaluator in evaluators.values():
            evaluator.process(scored)
    return {name: evaluator.compute() for name, evaluator in evaluators.items()}


__all__ = [
    "EvalBatch",
    "Evaluator",
    "View",
    "evaluate",
    "extra_map_view",
    "method_view",
    "score_batch",
]
