"""Time wsol-train's training step against a plain PyTorch loop on the same model, batches and
optimizer, in the same process, and print the overhead in percent (target <= 5 %).

Both sides start from the same weights (a deep copy), run the same fixed batches and the
optimizer/scheduler built from the run's config; a step is timed start to start (everything
between two batches: forward, loss, backward, step, and on the Lightning side its logging,
metric updates and hooks). Rounds alternate which side runs first; medians are reported. On a
GPU it also prints images per second of each backbone at 224 px.

    python scripts/bench_train.py                         # tiny backbone, 96 px, CPU
    python scripts/bench_train.py --backbone resnet50 --size 224 --batch 32 --steps 30
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from functools import partial

import lightning as L
import torch
from torch.utils.data import DataLoader

from wsol.configuration.compose import compose_config
from wsol.configuration.resolvers import register_resolvers


def build_module(backbone: str, method: str, module: str, num_classes: int, overrides: list[str]):
    """The LightningModule exactly as wsol-train builds it (no pretrained download)."""
    from hydra.utils import instantiate

    register_resolvers()
    cfg = compose_config(
        "train",
        [
            f"backbone={backbone}",
            f"method={method}",
            f"module={module}",
            "backbone.pretrained=false",
            f"data.preparer.num_classes={num_classes}",
            *overrides,
        ],
    )
    return instantiate(cfg.module, _partial_=True)(run_config={})


def make_batches(count: int, batch: int, size: int, num_classes: int, seed: int = 0) -> list[dict]:
    generator = torch.Generator().manual_seed(seed)
    return [
        {
            "images": torch.randn(batch, 3, size, size, generator=generator),
            "labels": torch.randint(0, num_classes, (batch,), generator=generator),
        }
        for _ in range(count)
    ]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepClock(L.Callback):
    """Records the time at the start of every training batch."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.starts = device, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        sync(self.device)
        self.starts.append(time.perf_counter())

    def on_train_end(self, trainer, pl_module) -> None:
        sync(self.device)
        self.starts.append(time.perf_counter())


def step_times(starts: list[float], warmup: int) -> list[float]:
    return [b - a for a, b in zip(starts[warmup:], starts[warmup + 1 :], strict=False)]


def lightning_steps(module, batches, steps, warmup, accelerator, device) -> list[float]:
    clock = StepClock(device)
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        max_steps=steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[clock],
        deterministic=False,
    )
    loader = DataLoader(batches * (steps // len(batches) + 1), batch_size=None, shuffle=False)
    trainer.fit(module, train_dataloaders=loader)
    return step_times(clock.starts, warmup)


def plain_steps(module, batches, steps, warmup, device) -> list[float]:
    """The same work in a hand-written loop: forward, loss, backward, optimizer and LR steps."""
    method = module.method.to(device).train()
    lr = module.optimizer_factory.keywords["lr"]
    groups = method.param_groups(lr=lr, head_lr_mult=module.hparams.head_lr_mult)
    optimizer = module.optimizer_factory(params=groups)
    scheduler = None
    if module.scheduler_factory is not None and module.hparams.scheduler_interval == "step":
        from wsol.optim import build_scheduler

        scheduler = build_scheduler(module.scheduler_factory, optimizer, total_steps=steps)
    layout = torch.channels_last if module.hparams.channels_last else torch.contiguous_format
    starts = []
    for step in range(steps):
        sync(device)
        starts.append(time.perf_counter())
        batch = batches[step % len(batches)]
        images = batch["images"].to(device).contiguous(memory_format=layout)
        labels = batch["labels"].to(device)
        loss = method.loss(method(images, labels), labels)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    sync(device)
    starts.append(time.perf_counter())
    return step_times(starts, warmup)


def compare(args, device: torch.device, accelerator: str) -> tuple[float, float]:
    """Median step seconds (lightning, plain) over the rounds."""
    build = partial(build_module, args.backbone, args.method, args.module, args.classes, [])
    template = build()
    batches = make_batches(4, args.batch, args.size, args.classes)
    medians = {"lightning": [], "plain": []}
    for round_index in range(args.rounds):
        order = ("lightning", "plain") if round_index % 2 == 0 else ("plain", "lightning")
        for side in order:
            module = copy.deepcopy(template)
            if side == "lightning":
                times = lightning_steps(
                    module, batches, args.steps, args.warmup, accelerator, device
                )
            else:
                times = plain_steps(module, batches, args.steps, args.warmup, device)
            medians[side].append(statistics.median(times))
        print(
            f"  round {round_index + 1}: wsol-train {medians['lightning'][-1] * 1e3:8.2f} ms/step"
            f"   plain {medians['plain'][-1] * 1e3:8.2f} ms/step"
        )
    return statistics.median(medians["lightning"]), statistics.median(medians["plain"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument("--method", default="cam")
    parser.add_argument("--module", default="adamw_onecycle")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gpu-backbones", nargs="*", default=["vgg16", "resnet50", "inception_v3"])
    args = parser.parse_args()
    torch.manual_seed(0)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    accelerator = "gpu" if cuda else "cpu"
    name = torch.cuda.get_device_name(0) if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"device: {name}; {args.backbone}/{args.method}/{args.module}, batch {args.batch} at "
        f"{args.size} px, {args.steps} steps ({args.warmup} warm-up), {args.rounds} rounds"
    )
    lightning, plain = compare(args, device, accelerator)
    overhead = (lightning - plain) / plain * 100
    print(
        f"median step: wsol-train {lightning * 1e3:.2f} ms, plain loop {plain * 1e3:.2f} ms; "
        f"overhead {overhead:+.1f} % (target <= 5 %)"
    )
    if cuda:
        print("images/s at 224 px (batch 32, CAM, SGD; wsol-train step | plain loop):")
        for backbone in args.gpu_backbones:
            gpu_args = copy.copy(args)
            gpu_args.backbone, gpu_args.size, gpu_args.batch = backbone, 224, 32
            gpu_args.module, gpu_args.rounds = "sgd_step", 3
            lightning, plain = compare(gpu_args, device, accelerator)
            print(f"  {backbone:<13} {32 / lightning:8.1f} | {32 / plain:8.1f}")


if __name__ == "__main__":
    main()
