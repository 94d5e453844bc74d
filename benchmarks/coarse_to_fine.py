"""Coarse to fine against the flat schedule at equal wall time.

    python benchmarks/coarse_to_fine.py [--models resnet18 resnet50] [--seeds 0 1] [--size 128]
                                        [--steps 100] [--scales 0.5 1.0]

For each model (untrained, seeded) and seed, the flat schedule runs ``--steps`` steps at full
size; coarse to fine (``Method(scales=...)``) gets as many steps as fit in the same wall time,
from per-step costs measured at each scale in this run (rescaled once by the measured wall
times where they still differ by more than ``--tolerance``). Both are judged only by the final
full-size ``m_g/m_r`` and ``m_i`` per layer. Coarse to fine wins a layer when both are lower;
it should become a default only where it wins on every model and seed.
"""

from __future__ import annotations

import argparse

import torch
from timing import step_seconds, timed

import depthrep


def seconds(model, image, layers, steps, method) -> tuple[float, dict]:
    return timed(lambda: depthrep.invert(model, image, layers, steps, method=method, progress=False))


def per_step(model, image, layers, method) -> float:
    """Seconds per step of ``method`` at ``image``'s size, setup taken out."""
    return step_seconds(lambda n: depthrep.invert(model, image, layers, n, method=method, progress=False))[0]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["resnet18", "resnet50"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.5, 1.0])
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.1,
        help="largest relative gap between the two wall times before rescaling the steps",
    )
    args = parser.parse_args(argv)
    flat, fine = depthrep.get_method("adam"), depthrep.get_method("adam", scales=tuple(args.scales))
    image = depthrep.load_image("grace_hopper", args.size)
    print(f"{args.size} px, flat {args.steps} steps against scales {fine.scales} at equal wall time, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    wins: dict[tuple[str, str], list[bool]] = {}
    for name in args.models:
        for seed in args.seeds:
            model = depthrep.load_model(name, seed=seed)
            layers = depthrep.layers(model)
            sized = {s: depthrep.load_image("grace_hopper", round(s * args.size)) for s in fine.scales}
            cost = {s: per_step(model, small, layers, flat) for s, small in sized.items()}
            # flat: steps * cost[1]; coarse to fine: steps_c / len(scales) per scale
            steps_c = round(args.steps * cost[1.0] * len(fine.scales) / sum(cost.values()))
            t_flat, r_flat = seconds(model, image, layers, args.steps, flat)
            t_fine, r_fine = seconds(model, image, layers, steps_c, fine)
            if abs(t_fine / t_flat - 1) > args.tolerance:  # the per-step costs missed: rescale once
                steps_c = round(steps_c * t_flat / t_fine)
                t_fine, r_fine = seconds(model, image, layers, steps_c, fine)
            print(f"\n{name} seed {seed}: flat {args.steps} steps {t_flat:.1f} s, coarse to fine "
                  f"{steps_c} steps {t_fine:.1f} s")  # fmt: skip
            print(f"  {'layer':14s}{'m_g/m_r flat':>14s}{'c2f':>8s}{'m_i flat':>10s}{'c2f':>8s}")
            for layer in layers:
                a, b = r_flat[layer], r_fine[layer]
                ratio = (float(a.reference_ratio[0]), float(b.reference_ratio[0]))
                m_i = (float(a.input_distance[0]), float(b.input_distance[0]))
                won = ratio[1] < ratio[0] and m_i[1] < m_i[0]
                wins.setdefault((name, layer), []).append(won)
                print(f"  {layer:14s}{ratio[0]:14.3f}{ratio[1]:8.3f}{m_i[0]:10.2f}{m_i[1]:8.2f}"
                      f"{'  c2f wins' if won else ''}")  # fmt: skip
    everywhere = [f"{m} {layer}" for (m, layer), won in wins.items() if all(won)]
    print(f"\ncoarse to fine wins on every seed at: {', '.join(everywhere) or 'no layer'}")


if __name__ == "__main__":
    main()
