"""The README's post-hoc table: every ``method=posthoc_*`` config scored by ``wsol-eval`` on a
split of one checkpoint's data, with the wall time of each command.

One ``wsol-eval`` process per row (as a user runs it), in ``--workdir`` (the folder the
checkpoint's ``wsol-train`` ran in, so its data and logs are found there); each row's metrics
are read from its run folder ``logs/eval/runs/<--prefix><row>/metrics.json``. Printed: one
markdown row per map as it finishes (MaxBoxAccV2, PxAP, seconds), then the whole table.

    python scripts/bench_posthoc_table.py --ckpt logs/train/runs/<run>/checkpoints/last.ckpt
        [--workdir .] [--rows cam,posthoc,...] [--override key=value ...]

Settings of the table: occlusion window 32, stride 16 (the config's); SmoothGrad 10 samples
(the config has 25); Score-CAM channel softmax; everything else as configured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# row → (label, method config or None for the checkpoint's own evaluation, extra overrides)
ROWS = {
    "own": ("CAM (the checkpoint's own evaluation)", None, []),
    "cam": ("CAM (post-hoc, same network)", "posthoc_cam", []),
    "gradcam": ("Grad-CAM", "posthoc", []),
    "gradcampp": ("Grad-CAM++", "posthoc_gradcampp", []),
    "xgradcam": ("XGrad-CAM", "posthoc_xgradcam", []),
    "layercam": ("Layer-CAM", "posthoc_layercam", []),
    "scorecam": ("Score-CAM", "posthoc_scorecam", []),
    "saliency": ("Saliency", "posthoc_saliency", []),
    "smoothgrad": ("SmoothGrad", "posthoc_smoothgrad", ["method.extractor.samples=10"]),
    "guided_backprop": ("Guided backprop", "posthoc_guided_backprop", []),
    "deconvnet": ("Deconvnet", "posthoc_deconvnet", []),
    "guided_gradcam": ("Guided Grad-CAM", "posthoc_guided_gradcam", []),
    "occlusion": ("Occlusion", "posthoc_occlusion", []),
}


def run_row(name: str, args) -> tuple[str, float, float, float]:
    """(markdown row, MaxBoxAccV2, PxAP, seconds) of one ``wsol-eval`` command."""
    label, method, extra = ROWS[name]
    run_name = f"{args.prefix}{name}"
    command = [str(Path(sys.executable).with_name("wsol-eval")), f"ckpt_path={args.ckpt}"]
    command += [f"run_name={run_name}", *extra, *args.override]
    if method is not None:
        command.append(f"method={method}")
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=args.workdir, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    metrics_file = Path(args.workdir) / "logs" / "eval" / "runs" / run_name / "metrics.json"
    metrics = json.loads(metrics_file.read_text())
    box, pxap = metrics[f"{args.split}/maxboxaccv2"], metrics[f"{args.split}/pxap"]
    shown = f"`{method}`" if method else "(none)"
    return f"| {label} | {shown} | {box:.1f} | {pxap:.1f} | {seconds:.0f}s |", box, pxap, seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ckpt", required=True, help="a wsol-train checkpoint")
    parser.add_argument("--workdir", default=".", help="where its wsol-train ran (data, logs)")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"some of {','.join(ROWS)}")
    parser.add_argument("--prefix", default="posthoc_table_", help="eval run-folder prefix")
    parser.add_argument("--split", default="test")
    parser.add_argument("--override", nargs="*", default=[], help="more wsol-eval overrides")
    args = parser.parse_args(argv)
    args.ckpt = str(Path(args.ckpt).resolve())
    names = args.rows.split(",")
    unknown = sorted(set(names) - set(ROWS))
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {sorted(ROWS)}")
    lines = []
    for name in names:
        line = run_row(name, args)[0]
        load = " ".join(f"{v:.1f}" for v in os.getloadavg())
        print(f"{line}  <!-- load {load} -->", flush=True)
        lines.append(line)
    print("\n| map | `method=` | MaxBoxAccV2 | PxAP | time |\n|---|---|---:|---:|---:|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
