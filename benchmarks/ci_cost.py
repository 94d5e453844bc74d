"""What two of ``make test``'s savings buy on this machine, side by side in one run.

    python benchmarks/ci_cost.py [--models vgg16 vit_b_16 convnext_tiny] [--steps 20]

1. Shapes only: :func:`depthrep.load_model` on ``"meta"`` (no values drawn) against the same
   untrained model built on the CPU, per architecture.
2. A ``ci`` world model's training step at the ``ci`` batch and learning rate
   (:attr:`depthrep.profiles.Profile.world_batch`, :func:`depthrep.studies.train.scaled_lr`) against the
   batch of 64 the other profiles use, and what that makes of the profile's world steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
from unittest import mock

import torch
from timing import timed

import depthrep
from depthrep._util import precision
from depthrep.studies import train


def build_seconds(name: str, device: str) -> float:
    seconds, _ = timed(lambda: depthrep.load_model(name, device=device))
    return seconds


def training_step(batch: int, steps: int) -> float:
    """Seconds per step of one world model at ``batch`` (the warm-up run of 2 steps taken out)."""
    first = train.world_trainings(depthrep.profiles.get_profile("ci"))[0]  # ci's first world model
    config = dataclasses.replace(first, batch=batch, lr=train.scaled_lr(batch), steps=steps)
    with tempfile.TemporaryDirectory() as cache, mock.patch.dict(os.environ, {"DEPTHREP_CACHE": cache}):
        short = train.train(dataclasses.replace(config, steps=2), device="cpu", progress=False).seconds
        long = train.train(config, device="cpu", progress=False).seconds
    return (long - short) / (steps - 2)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["vgg16", "vit_b_16", "convnext_tiny"])
    parser.add_argument("--steps", type=int, default=20, help="training steps timed per batch size")
    args = parser.parse_args(argv)
    print(f"{precision.summary(torch.device('cpu'))}; {torch.get_num_threads()} threads")
    for name in args.models:
        build_seconds(name, "meta")  # imports and first-call costs out of the comparison
        meta, cpu = build_seconds(name, "meta"), build_seconds(name, "cpu")
        print(f"build {name:>14}: meta {meta:6.2f} s, cpu {cpu:6.2f} s, cpu / meta = {cpu / meta:5.1f}x")
    profile = depthrep.profiles.get_profile("ci")
    steps = {batch: training_step(batch, args.steps) for batch in (train.BATCH, profile.world_batch)}
    what = f"train {profile.trained_model} at {profile.world_size} px"
    for batch, seconds in steps.items():
        per_model = seconds * profile.world_steps
        print(f"{what}, batch {batch:>2}, lr {train.scaled_lr(batch):.3f}: {seconds * 1e3:5.0f} ms a step, "
              f"{per_model:5.0f} s for ci's {profile.world_steps} steps")  # fmt: skip
    full, ci = steps[train.BATCH], steps[profile.world_batch]
    print(f"ci's world batch ({profile.world_batch}) against {train.BATCH}: {full / ci:.2f}x faster a model")


if __name__ == "__main__":
    main()
