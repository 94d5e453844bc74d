"""float32 against bfloat16 on this machine, side by side: training and inversion seconds per step.

    python benchmarks/precision.py [--train-steps 3] [--invert-steps 3] [--device cpu|cuda]

bfloat16 is native on CPUs with AVX-512 BF16 or AMX and emulated elsewhere (15-300 times
slower). This prints what each precision costs here and which one depthrep picks
(:func:`depthrep._util.precision.choose_precision`). Both precisions are forced through
``$DEPTHREP_PRECISION``, so the emulated one is measured too. Training is
``depthrep.studies.train.train`` at the ``ci`` profile's model, image size and batch (into a
temporary cache); inversion is ``depthrep.invert`` over ResNet50's five stages at 128 px.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from unittest import mock

import torch

import depthrep
from depthrep._util import precision
from depthrep.studies import train


def forced(name: str, **more: str):
    """``$DEPTHREP_PRECISION=name`` (and ``more`` variables) for the runs inside."""
    return mock.patch.dict(os.environ, {precision.ENV: name, **more})


def training_step(name: str, steps: int, device: torch.device) -> float:
    profile = depthrep.profiles.get_profile("ci")
    config = dataclasses.replace(train.world_trainings(profile)[0], steps=steps)  # its first world model
    with tempfile.TemporaryDirectory() as cache, forced(name, DEPTHREP_CACHE=cache):
        train.train(dataclasses.replace(config, steps=1), device=device, progress=False)  # warm-up
        done = train.train(config, device=device, progress=False)
    assert done.config.precision == name
    return done.seconds / steps


def inversion_step(name: str, steps: int, device: torch.device) -> float:
    model = depthrep.load_model("resnet50", device=device)
    layers = [n for n in depthrep.layers(model) if n != "conv1_prepool"]
    image = depthrep.load_image("grace_hopper", 128).to(device)
    with forced(name):
        depthrep.invert(model, image, layers, 1, precision="auto", progress=False)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        depthrep.invert(model, image, layers, steps, precision="auto", progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--invert-steps", type=int, default=3)
    parser.add_argument("--device", default=str(depthrep.zoo.models.default_device()))
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    os.environ.pop(precision.ENV, None)
    print(f"{precision.summary(device)}; {torch.get_num_threads()} threads")
    times = {}
    for name in ("float32", "bfloat16"):
        times[name] = (
            training_step(name, args.train_steps, device),
            inversion_step(name, args.invert_steps, device),
        )
    print(f"{'s/step':10s}{'training':>10s}{'inversion':>11s}")
    for name, (t, i) in times.items():
        print(f"{name:10s}{t:10.3f}{i:11.3f}")
    (tf, inf), (tb, inb) = times["float32"], times["bfloat16"]
    print(f"{'bf16/fp32':10s}{tb / tf:9.2f}x{inb / inf:10.2f}x")
    print(
        f"depthrep picks: training {precision.choose_precision(device, precision.TRAINING)}, "
        f"inversion {precision.choose_precision(device, precision.INVERSION)}"
    )


if __name__ == "__main__":
    main()
