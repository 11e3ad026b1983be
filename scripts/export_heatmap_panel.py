"""Write a run's CAM heatmap panel (TensorBoard tag ``val/cam_heatmaps``) as a PNG file.

    python scripts/export_heatmap_panel.py logs/train/runs/<run> docs/images/heatmap_panel.png

Takes the panel of the last logged epoch (``--step`` for another) from the run's TensorBoard
events, exactly as TensorBoard shows it.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

TAG = "val/cam_heatmaps"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a wsol-train run directory")
    parser.add_argument("output", type=Path, help="PNG file to write")
    parser.add_argument("--step", type=int, default=None, help="global step (default: last)")
    args = parser.parse_args()
    events = EventAccumulator(str(args.run_dir / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    if TAG not in events.Tags()["images"]:
        raise SystemExit(f"{args.run_dir}: no {TAG} images in its TensorBoard events")
    images = events.Images(TAG)
    chosen = (
        images[-1] if args.step is None else next((i for i in images if i.step == args.step), None)
    )
    if chosen is None:
        steps = ", ".join(str(i.step) for i in images)
        raise SystemExit(f"{args.run_dir}: no {TAG} at step {args.step} (steps: {steps})")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    Image.open(io.BytesIO(chosen.encoded_image_string)).save(args.output, optimize=True)
    print(f"{args.output}: {TAG} at step {chosen.step}")


if __name__ == "__main__":
    main()
