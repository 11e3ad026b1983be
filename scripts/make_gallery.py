"""Write the README gallery (docs/images/gallery_*.png) from trained wsol-train runs.

    python scripts/make_gallery.py CAM_RUN_DIR ACOL_RUN_DIR [--out docs/images]

Both runs' ``checkpoints/last.ckpt`` are rebuilt from the configs stored in them; the images
come from the CAM run's data (its stored data config). Every figure is computed here from the
networks, nothing is drawn by hand:

- ``gallery_maps.png``: CAM, ACoL and post-hoc maps (of the CAM network) of the GT class on
  the same test images, GT boxes green, discriminative-part boxes magenta (synthetic data);
- ``gallery_filters.png``: the CAM network's first-layer filters;
- ``gallery_patches.png``: maximally activating test patches of the channel each class's
  linear weights favour most, cropped to the units' receptive field;
- ``gallery_class_viz.png``: class model visualization (gradient ascent from a noise image);
- ``gallery_tsne.png``: t-SNE of the test images' pooled features, coloured by class;
- ``gallery_retrieval.png``: nearest neighbours of a few test images in that feature space.
"""

from __future__ import annotations

import argparse
import inspect
import time
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from wsol.cams.pipeline import scoremaps
from wsol.checkpoints.load import module_from_checkpoint
from wsol.viz.class_viz import class_model_visualization, class_visualization_grid
from wsol.viz.colormap import colormap_lut
from wsol.viz.embeddings import (
    extract_embeddings,
    nearest_neighbors,
    retrieval_grid,
    tsne,
    tsne_figure,
)
from wsol.viz.figures import save_png
from wsol.viz.filters import filter_grid, first_conv
from wsol.viz.map_grid import map_comparison_grid
from wsol.viz.overlay import denormalize
from wsol.viz.patches import max_activating_patches, patch_grid

FEATURES = "backbone"


def load(run_dir: Path):
    """(method, stored config) of a run's last checkpoint."""
    module, config = module_from_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    return module.method, config


def part_boxes(datamodule, split: str, image_ids: list[str]) -> list[torch.Tensor] | None:
    """The synthetic benchmark's part boxes of these images, or None for other data."""
    from wsol.data.synthetic import read_parts

    try:
        parts = read_parts(datamodule.metadata_root / split)
    except FileNotFoundError:
        return None
    return [torch.tensor(parts.get(i, [])).reshape(-1, 4) for i in image_ids]


def posthoc_extractor(name: str, model):
    """A ``wsol.cams`` extractor by class name, at the backbone's output if it takes a layer."""
    import wsol.cams

    cls = getattr(wsol.cams, name)
    kwargs = {}
    if "target_layer" in inspect.signature(cls).parameters:
        kwargs["target_layer"] = FEATURES
    return cls(model, **kwargs)


def maps_figure(cam, acol, posthoc, datamodule, split, count) -> torch.Tensor:
    batch = next(iter(datamodule.dataloader_for(split)))
    images, labels = batch["images"][:count], batch["labels"][:count]
    frame = datamodule.eval_frame
    maps = {}
    with torch.no_grad():
        maps["CAM"] = scoremaps(cam(images).class_maps, frame, class_ids=labels)[0]
        maps["ACoL"] = scoremaps(acol(images, labels).class_maps, frame, class_ids=labels)[0]
    for name in posthoc:
        maps[f"{name} (CAM net)"] = posthoc_extractor(name, cam)(images, labels)
    return map_comparison_grid(
        denormalize(images, datamodule.mean, datamodule.std),
        batch["gt_boxes"][:count],
        {name: m.float() for name, m in maps.items()},
        colormap_lut("inferno"),
        part_boxes=part_boxes(datamodule, split, batch["image_ids"][:count]),
        factor=2,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cam_run", type=Path, help="run directory of a CAM wsol-train run")
    parser.add_argument("acol_run", type=Path, help="run directory of an ACoL wsol-train run")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--split", default="test", help="split the images come from")
    parser.add_argument("--images", type=int, default=4, help="rows of the map comparison")
    parser.add_argument("--posthoc", nargs="*", default=["GradCAMPlusPlus", "ScoreCAM"])
    parser.add_argument("--steps", type=int, default=200, help="class visualization steps")
    parser.add_argument("--patches", type=int, default=8, help="patches per channel")
    parser.add_argument("--tsne-images", type=int, default=800)
    parser.add_argument("--queries", type=int, default=3, help="rows of the retrieval grid")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cam, config = load(args.cam_run)
    acol, _ = load(args.acol_run)
    datamodule = instantiate(OmegaConf.create(config["data"]))
    datamodule.prepare_data()
    mean, std, names = datamodule.mean, datamodule.std, datamodule.class_names
    loader = datamodule.dataloader_for(args.split)
    batches = max(1, args.tsne_images // loader.batch_size)
    written = []

    def step(name: str, image) -> None:
        written.append(save_png(image, args.out / f"gallery_{name}.png"))
        print(f"{written[-1]}  ({time.perf_counter() - start:.0f} s)", flush=True)

    start = time.perf_counter()
    step("maps", maps_figure(cam, acol, args.posthoc, datamodule, args.split, args.images))
    step("filters", filter_grid(first_conv(cam)[1].weight, mode="filter", scale=12))
    # One channel per class: the one with the largest weight in the class's CAM (distinct).
    weights = cam.head.fc.weight.detach()
    channels: list[int] = []
    for row in weights:
        channels.append(next(c for c in row.argsort(descending=True).tolist() if c not in channels))
    patches = max_activating_patches(cam, loader, FEATURES, channels=channels, k=args.patches)
    step("patches", patch_grid(patches, mean, std, scale=2))
    results = [
        class_model_visualization(
            cam,
            c,
            datamodule.eval_frame,
            steps=args.steps,
            lr=0.05,
            l2=1e-4,
            init="random",  # from a uniform image some classes have no active unit
            init_std=1.0,
            mean=mean,
            std=std,
        )
        for c in range(datamodule.num_classes)
    ]
    step("class_viz", class_visualization_grid(results, mean, std, names, scale=1))
    embeddings = extract_embeddings(
        cam, loader, FEATURES, max_batches=batches, keep_images=True, mean=mean, std=std
    )
    points = tsne(embeddings.vectors, perplexity=30, seed=0)
    step("tsne", tsne_figure(points, embeddings.labels, names, "t-SNE of CAM features (test)"))
    queries = list(range(args.queries))
    neighbours, similarity = nearest_neighbors(embeddings.vectors, queries, k=5)
    grid = retrieval_grid(
        embeddings.images, embeddings.labels, queries, neighbours, similarity, names, scale=1
    )
    step("retrieval", grid)
    total = sum(p.stat().st_size for p in written)
    print(f"{len(written)} files, {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
