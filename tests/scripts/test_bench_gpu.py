"""scripts/bench_gpu.py in its CPU dry run: every code path runs, the no-CUDA note is printed.

No timing is asserted (the figures of a dry run mean nothing); the script's own CUDA paths
(decode_jpeg on the device, cudnn, synchronization) run only on a GPU machine.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from wsol.models.registry import registered

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_gpu.py"


def load_script():
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench_gpu():
    return load_script()


def rows(output: str, backbone: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines() if line.split()[:1] == [backbone]]


@pytest.mark.slow
def test_dry_run_covers_every_variant_and_both_decoders(bench_gpu, capsys):
    """Precision x layout x compile on one backbone, then worker and on-device decoding."""
    bench_gpu.main(["--dry-run", "--backbones", "tiny"])
    output = capsys.readouterr().out
    if not torch.cuda.is_available():
        assert bench_gpu.NO_CUDA_NOTE in output
    table = rows(output, "tiny")
    variants = {(row[1], row[2], row[3]) for row in table}
    assert variants == {
        (precision, layout, compile_)
        for precision in ("fp32", "bf16-mixed")
        for layout in ("contiguous", "channels_last")
        for compile_ in ("off", "on")
    }
    for row in table:  # train and eval images/s are positive numbers
        assert float(row[4]) > 0 and float(row[5]) > 0
    decoders = [line.split()[0] for line in output.splitlines() if line.startswith("  workers")]
    assert decoders == ["workers"]
    assert "gpu" in output.split("JPEG decoding")[1]


def test_default_backbones_are_the_registry_but_tiny(bench_gpu):
    """The benchmark's networks and every one the backbone contract added (timm's if installed)."""
    backbones = bench_gpu.parse_args([]).backbones
    assert set(backbones) == set(registered()) - {"tiny"}
    expected = {"vgg16", "resnet50", "inception_v3", "vit_b_16"}
    if importlib.util.find_spec("timm") is not None:
        expected |= {"timm", "timm_vit"}
    assert expected <= set(backbones)


@pytest.mark.slow
def test_dry_run_builds_and_steps_the_real_backbones(bench_gpu, capsys):
    backbones = ["vgg16", "resnet50", "inception_v3", "vit_b_16"]
    if importlib.util.find_spec("timm") is not None:  # a timm CNN and a timm ViT, by model name
        backbones += ["timm:resnet18", "timm_vit:deit_tiny_patch16_224"]
    bench_gpu.main(
        ["--dry-run", "--backbones", *backbones, "--precisions", "fp32", "--compile", "off"]
        + ["--channels-last", "on", "--skip-decode"]
    )
    output = capsys.readouterr().out
    for backbone in backbones:
        assert len(rows(output, backbone)) == 1, output
    assert "JPEG decoding" not in output


def test_dry_run_settings(bench_gpu):
    args = bench_gpu.parse_args(["--dry-run"])
    assert (args.device, args.size, args.steps, args.compile_backend) == ("cpu", 64, 2, "eager")
    assert bench_gpu.parse_args([]).size == 224
