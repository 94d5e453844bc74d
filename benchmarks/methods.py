"""Compare optimiser settings per layer: the measurements behind depthrep's default method.

    python benchmarks/methods.py [--model resnet50] [--sizes 64 128] [--steps 100 200]

For each size and step budget, prints per layer the relative embedding distance
m_g/|O(a)| reached by each setting, beside the reference m_r/|O(a)|, and the input
distance m_i. Two images (grace_hopper, astronaut) show the spread.
"""

from __future__ import annotations

import argparse
import time

import torch

import depthrep

SETTINGS = {
    "adam lr 0.05": dict(lr=(0.05, 0.05)),
    "adam lr 0.1->0.01": dict(lr=(0.1, 0.01)),
    "adam lr 0.1->0.02 (default)": dict(lr=(0.1, 0.02)),
}


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--paper", action="store_true", help="also run the paper's plain step")
    args = parser.parse_args(argv)
    model = depthrep.load_model(args.model)
    layers = depthrep.layers(model)
    settings = {name: depthrep.get_method("adam", **kw) for name, kw in SETTINGS.items()}
    if args.paper:
        settings["paper"] = depthrep.get_method("paper")
    for size in args.sizes:
        images = torch.cat([depthrep.load_image(n, size) for n in ("grace_hopper", "astronaut")])
        for steps in args.steps:
            print(f"\n{args.model} {size} px, {steps} steps; layers: {' '.join(layers)}")
            for name, method in settings.items():
                start = time.perf_counter()
                results = depthrep.invert(model, images, layers, steps, method=method, progress=False)
                seconds = time.perf_counter() - start
                for b in range(len(images)):
                    m_g = " ".join(f"{float(r.relative_embedding_distance[b]):.3f}" for r in results.values())
                    m_r = " ".join(
                        f"{float(r.reference_distance[b] / r.target_norm[b]):.3f}" for r in results.values()
                    )
                    m_i = " ".join(f"{float(r.input_distance[b]):5.1f}" for r in results.values())
                    print(f"  {name:28s} img{b} {seconds:5.1f}s  m_g/|y| {m_g} | m_r/|y| {m_r} | m_i {m_i}")


if __name__ == "__main__":
    main()
