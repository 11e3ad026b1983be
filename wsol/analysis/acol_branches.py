"""ACoL seen from inside: each branch's own localization and accuracy, and what erasing removes.

ACoL's fused map can only beat CAM if branch B learns to find the object outside A's peak. Two
measurements say whether it did: B's own numbers (its accuracy, its map's MaxBoxAccV2 and
coverage, evaluated like any method's map) and where the erasing lands (which share of the
feature positions, of the object and of its discriminative part is erased).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm

from wsol.analysis.part_whole import part_mask_in_frame
from wsol.analysis.run_analyses import aux_map_view, evaluate_view
from wsol.data.records import Box
from wsol.methods.outputs import MethodOutput

BRANCHES = ("a", "b")


def branch_view(branch: str) -> Callable[[MethodOutput], MethodOutput]:
    """A ``view`` for :func:`evaluate_part_whole` that keeps one ACoL branch.

    Args:
        branch: ``"a"`` (logits and ``maps_a``) or ``"b"`` (``logits_b`` and ``maps_b``; B's
            maps are computed from the erased features, as in training).
    """
    if branch not in BRANCHES:
        raise ValueError(f"branch must be one of {BRANCHES}, got {branch!r}")
    return aux_map_view(f"maps_{branch}", None if branch == "a" else "logits_b")


def evaluate_branches(
    module,
    datamodule,
    parts: dict[str, list[Box]] | None,
    split: str = "test",
    threshold_split: str = "val",
) -> dict[str, dict[str, float]]:
    """Each branch's map evaluated as a method of its own.

    The coverage / loc threshold of a branch is its own optimum on ``threshold_split`` (the
    module's stored threshold belongs to the fused map).

    Returns:
        ``{"a": {...}, "b": {...}}`` with the keys of :func:`evaluate_part_whole`.
    """
    return {
        branch: evaluate_view(
            module, datamodule, branch_view(branch), parts, split, threshold_split
        )
        for branch in BRANCHES
    }


@torch.no_grad()
def erasing_stats(
    module, datamodule, split: str, parts: dict[str, list[Box]] | None = None
) -> dict[str, float]:
    """Where ACoL's erasing (GT label, as in training) lands on a split's images.

    Erased feature cells are mapped to the evaluation frame (each cell covers its stride x
    stride pixels). Means over images of:

    - ``erased_fraction``: erased share of the feature positions;
    - ``object_erased``: share of the object mask's pixels inside erased cells;
    - ``erased_on_object``: share of the erased pixels that lie on the object;
    - ``part_erased``: share of the part boxes' pixels inside erased cells (with ``parts``);
    - ``constant_attention``: share of images whose attention was constant (nothing erased).
    """
    method = module.method.eval()
    threshold = float(method.erase_threshold)
    records = datamodule.split(split).records
    sums = {"erased_fraction": 0.0, "object_erased": 0.0, "erased_on_object": 0.0}
    sums.update({"part_erased": 0.0} if parts is not None else {})
    counts = dict.fromkeys(sums, 0)
    constant = 0
    for batch in tqdm(datamodule.dataloader_for(split), desc=f"erasing {split}", leave=False):
        output = method(batch["images"], batch["labels"])
        erased_cells = output.aux["attention"] >= threshold
        constant += int(output.aux["constant_attention"].sum())
        frame = tuple(batch["images"].shape[-2:])
        erased = F.interpolate(erased_cells[:, None].float(), size=frame, mode="nearest")[:, 0]
        erased = erased.bool()
        objects = batch["gt_masks"] == 1
        _add(sums, counts, "erased_fraction", erased_cells.flatten(1).float().mean(1))
        _add(sums, counts, "object_erased", _share(erased, objects))
        _add(sums, counts, "erased_on_object", _share(objects, erased))
        if parts is not None:
            part_masks = torch.stack(
                [
                    part_mask_in_frame(records[i], parts.get(records[i].image_id, []), frame)
                    for i in batch["indices"].tolist()
                ]
            )
            _add(sums, counts, "part_erased", _share(erased, part_masks))
    result = {key: sums[key] / counts[key] if counts[key] else float("nan") for key in sums}
    result["constant_attention"] = constant / len(records)
    return result


def _share(inside: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Per image, the share of ``region``'s pixels that are ``inside`` (NaN: empty region)."""
    area = region.flatten(1).sum(1).double()
    hits = (inside & region).flatten(1).sum(1).double()
    return torch.where(area > 0, hits / area.clamp(min=1), torch.nan)


def _add(sums: dict, counts: dict, key: str, values: torch.Tensor) -> None:
    finite = values[torch.isfinite(values)]
    sums[key] += float(finite.sum())
    counts[key] += int(finite.numel())
