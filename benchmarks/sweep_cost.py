"""What a sweep costs: seconds per inversion step per model, and the paper study's total.

    python benchmarks/sweep_cost.py [--profile paper] [--device cpu|cuda] [--threads 1]

Each model inverts every default layer in one batch (a sweep job's unit of work) at the
profile's size. A step's cost is ``(time of 6 steps - time of 2 steps) / 4``, so the
one-off setup is printed apart. The total multiplies it by the jobs ``depthrep sweep plan
--profile P`` writes (models x images x seeds, each the profile's steps).
"""

from __future__ import annotations

import argparse
from functools import partial

import torch
from timing import step_seconds

import depthrep
from depthrep.core.jobs import plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="paper", choices=list(depthrep.profiles.PROFILES))
    parser.add_argument("--device", default=None, help="default: CUDA when available")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (a sweep job's default: 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    p = depthrep.profiles.get_profile(args.profile)
    image = depthrep.load_image(p.images[0], p.size)
    jobs = plan(p.models, p.images, p.seeds, (p.steps,), size=p.size)
    total = 0.0
    for name in p.models:
        model = depthrep.load_model(name, seed=0, device=args.device)
        layers = depthrep.layers(model)
        run = partial(depthrep.invert, model, image, layers, progress=False)
        step, short = step_seconds(run)
        count = sum(job.model == name for job in jobs)
        total += count * (short + (p.steps - 2) * step)
        hours = count * p.steps * step / 3600
        print(f"{name}: {len(layers)} layers at {p.size} px, {step:.2f} s/step, setup + 2 steps "
              f"{short:.1f} s; {count} jobs of {p.steps} steps: {hours:.1f} h", flush=True)  # fmt: skip
    device = depthrep.zoo.models.model_device(model)
    print(f"{args.profile} study: {len(jobs)} jobs, {total / 3600:.1f} h of one {device} worker "
          f"({args.threads} thread(s)); N shards in parallel take about 1/N of it")  # fmt: skip


if __name__ == "__main__":
    main()
