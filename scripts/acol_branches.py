"""ACoL seen from inside: each branch's own localization and accuracy, and what erasing removes.

    python scripts/acol_branches.py logs/train/runs/<acol run>        [--split test] [--output F]

ACoL's fused map can only beat CAM if branch B learns to find the object outside A's peak. Two
measurements say whether it did: B's own numbers (its accuracy, its map's MaxBoxAccV2 and
coverage, evaluated like any method's map under the run's protocol) and where the erasing lands
(which share of the feature positions, of the object and of its discriminative part is erased).
One method's study, so it lives here and not in the generic ``wsol.analysis``; it runs through
the one evaluation entry (`wsol.evaluation.loop.evaluate`) like every analysis.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from wsol.analysis.part_whole import part_mask_in_frame
from wsol.analysis.run_analyses import evaluate_view, stored_datamodule
from wsol.checkpoints.load import module_from_checkpoint
from wsol.data.records import Box
from wsol.data.synthetic import read_parts
from wsol.evaluation.loop import EvalBatch, Evaluator, View, evaluate, extra_map_view

BRANCHES = ("a", "b")


def branch_view(branch: str) -> View:
    """A view scoring one ACoL branch: ``"a"`` (the method's logits and ``maps_a``) or
    ``"b"`` (``logits_b`` and ``maps_b``; B's maps come from the erased features, as in
    training)."""
    if branch not in BRANCHES:
        raise ValueError(f"branch must be one of {BRANCHES}, got {branch!r}")
    return extra_map_view(f"maps_{branch}", None if branch == "a" else "logits_b")


def evaluate_branches(
    module,
    datamodule,
    parts: dict[str, list[Box]] | None,
    split: str = "test",
    threshold_split: str = "val",
) -> dict[str, dict[str, float]]:
    """Each branch's map evaluated as a method of its own (`evaluate_view`): at its own
    optimum threshold on ``threshold_split`` (the stored one belongs to the fused map).

    Returns:
        ``{"a": {...}, "b": {...}}`` with the keys of `evaluate_part_whole`.
    """
    return {
        branch: evaluate_view(
            module, datamodule, branch_view(branch), parts, split, threshold_split
        )
        for branch in BRANCHES
    }


class ErasingStats(Evaluator):
    """Where ACoL's erasing (GT label, as in training) lands, fed by the evaluation entry.

    Erased feature cells are mapped to the evaluation frame (each cell covers its stride x
    stride pixels). ``compute()`` gives means over images of:

    - ``erased_fraction``: erased share of the feature positions;
    - ``object_erased``: share of the object mask's pixels inside erased cells;
    - ``erased_on_object``: share of the erased pixels that lie on the object;
    - ``part_erased``: share of the part boxes' pixels inside erased cells (with ``parts``);
    - ``constant_attention``: share of images whose attention was constant (nothing erased).

    Args:
        threshold: the method's ``erase_threshold``.
        records: the split's records (dataset order); parts: part boxes per image id or None.
    """

    def __init__(self, threshold: float, records, parts: dict[str, list[Box]] | None) -> None:
        self.threshold, self.records, self.parts = float(threshold), records, parts
        self.reset()

    def reset(self) -> None:
        keys = ["erased_fraction", "object_erased", "erased_on_object"]
        keys += ["part_erased"] if self.parts is not None else []
        self.sums, self.counts = dict.fromkeys(keys, 0.0), dict.fromkeys(keys, 0)
        self.constant = self.images = 0

    def process(self, batch: EvalBatch) -> None:
        aux = batch.output.aux
        erased_cells = aux["attention"] >= self.threshold
        self.constant += int(aux["constant_attention"].sum())
        self.images += len(erased_cells)
        frame = tuple(batch.scoremaps.shape[-2:])
        erased = F.interpolate(erased_cells[:, None].float(), size=frame, mode="nearest")[:, 0]
        erased = erased.bool()
        objects = batch.gt_masks == 1
        self._add("erased_fraction", erased_cells.flatten(1).float().mean(1))
        self._add("object_erased", _share(erased, objects))
        self._add("erased_on_object", _share(objects, erased))
        if self.parts is not None:
            chosen = [self.records[i] for i in batch.indices.tolist()]
            part_masks = torch.stack(
                [part_mask_in_frame(r, self.parts.get(r.image_id, []), frame) for r in chosen]
            )
            self._add("part_erased", _share(erased, part_masks))

    def _add(self, key: str, values: torch.Tensor) -> None:
        finite = values[torch.isfinite(values)]
        self.sums[key] += float(finite.sum())
        self.counts[key] += int(finite.numel())

    def compute(self) -> dict[str, float]:
        result = {k: self.sums[k] / self.counts[k] if self.counts[k] else float("nan")
                  for k in self.sums}  # fmt: skip
        result["constant_attention"] = self.constant / self.images if self.images else float("nan")
        return result


def erasing_stats(
    module, datamodule, split: str, parts: dict[str, list[Box]] | None = None
) -> dict[str, float]:
    """`ErasingStats` of a split (see there)."""
    stats = ErasingStats(module.method.erase_threshold, datamodule.split(split).records, parts)
    return evaluate(
        datamodule.dataloader_for(split),
        {"erasing": stats},
        method=module.method,
        desc=f"erasing {split}",
    )["erasing"]


def _share(inside: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Per image, the share of ``region``'s pixels that are ``inside`` (NaN: empty region)."""
    area = region.flatten(1).sum(1).double()
    hits = (inside & region).flatten(1).sum(1).double()
    return torch.where(area > 0, hits / area.clamp(min=1), torch.nan)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a finished wsol-train run of method=acol")
    parser.add_argument("--split", default="test")
    parser.add_argument("--output", type=Path, help="write the numbers as JSON here")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="where the run's data are (default: $WSOL_DATA_DIR, else ./data)",
    )
    args = parser.parse_args(argv)
    checkpoint = args.run_dir / "checkpoints" / "last.ckpt"
    module, stored = module_from_checkpoint(checkpoint)
    datamodule = stored_datamodule(checkpoint, stored, args.data_dir)
    try:
        parts = read_parts(datamodule.split(args.split).metadata_dir)
    except FileNotFoundError:
        parts = None
    results = {
        "branches": evaluate_branches(module, datamodule, parts, args.split),
        "erasing": erasing_stats(module, datamodule, args.split, parts),
    }
    print(json.dumps(results, indent=2))
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
