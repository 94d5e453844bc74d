"""Command line: list a model's layers, reconstruct an image from some of them, train a model here.

    depthrep layers resnet50
    depthrep invert --model resnet50 --layers conv1 conv5 --image grace_hopper --size 128 \\
        --steps 200 --out out/
    depthrep train resnet18 --steps 500
    depthrep precision

``python -m depthrep ...`` is the same. Bad arguments exit with status 2 and one line saying
why; running out of memory exits with 1; Ctrl-C exits with 130 and leaves no partial
files; success exits with 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from .checkpoints import CheckpointError, atomic_write
from .images import ImageError, load_image, samples
from .invert import METHODS, invert
from .layers import UnknownLayerError, named_layers, node_names, resolve
from .models import UnknownModelError, WeightsUnavailable, default_device, load_model, model_device
from .plot import show_reconstructions
from .precision import ENV as PRECISION_ENV
from .precision import INVERSION, PRECISIONS, TRAINING, PrecisionError, choose_precision, describe_hardware
from .precision import summary as precision_summary
from .train import TrainConfig, ensure_trained
from .worlds import WORLDS

PROG = "depthrep"
EXAMPLES = """examples:
  depthrep layers resnet50
  depthrep invert --model resnet50 --weights random --layers conv1 conv5 \\
      --image grace_hopper --size 128 --steps 200 --out out/
  depthrep train resnet18 --steps 500 && depthrep invert --model resnet18 --weights local --out out/"""
USER_ERRORS = (
    UnknownModelError, UnknownLayerError, ImageError, WeightsUnavailable, CheckpointError, PrecisionError
)  # fmt: skip
"""The library's errors about what was asked for: exit status 2, their message on one line."""


DESCRIPTION = """How much of an image does each layer of a vision model keep? Reconstruct the image
from one layer's embedding by gradient descent, and measure (Badger, arXiv:2211.06496)."""
INVERT = (
    "Reconstruct an image from each layer's embedding, all layers in one batched run, with a "
    "progress bar. Writes OUT/reconstructions.png (the target, then one reconstruction per layer "
    "labelled with m_i and m_g) and OUT/distances.json (per layer m_i, m_g, the shifted-input "
    "reference m_r, ||a'-a||, relative values; the settings and the wall time)."
)
TRAIN = (
    "Train a classifier from scratch on one world (--data): crops of photographs that ship inside "
    "the installed packages, gratings, dead leaves, or noise (the paper's control); or reuse the "
    "cached checkpoint made with the same settings; then `--weights local` loads the photo model. "
    "$DEPTHREP_CACHE sets the cache folder."
)


class Formatter(argparse.HelpFormatter):
    """Adds "(default: ...)" to the help of an option that has a default."""

    def _get_help_string(self, action):
        none = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        return action.help if none or not action.option_strings else f"{action.help} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``depthrep: error: ...`` and status 2."""

    def error(self, message: str):
        self.exit(2, f"{PROG}: error: {message} (see {self.prog} --help)\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not positive")
    return value


def _device(text: str) -> torch.device:
    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a torch device (cpu, cuda, cuda:1, mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError("CUDA is not available on this machine: pass --device cpu")
    return device


def parser() -> Parser:
    top = Parser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    device = {"type": _device, "help": "cpu, cuda, cuda:1, ... (default: CUDA when available)"}
    precision = {"choices": PRECISIONS, "help": "auto: bfloat16 where the device runs it natively, else "
                 f"float32; ${PRECISION_ENV} replaces auto's choice"}  # fmt: skip

    listing = commands.add_parser("layers", help="list a model's layers, shallow to deep", description=(
        "List a model's layers, shallow to deep, each with the torchvision node it stands for."
    ))  # fmt: skip
    listing.add_argument("model", help="a torchvision model name: resnet50, vgg16, vit_b_16, ...")
    listing.add_argument("--nodes", action="store_true", help="list every torchvision node name instead")

    inverting = commands.add_parser("invert", help="reconstruct an image from layers: grid PNG, distances "
                                    "JSON", description=INVERT, formatter_class=Formatter)  # fmt: skip
    option = inverting.add_argument
    option("--model", required=True, help="a torchvision model name, e.g. resnet50")
    option("--weights", default="random", help="random (untrained), imagenet (torchvision's, from the "
           "torch hub cache), local (trained here: see `depthrep train`) or a checkpoint file")  # fmt: skip
    option("--layers", nargs="+", metavar="LAYER", help="layer names (`depthrep layers MODEL`) or "
           "torchvision node names (default: every layer of the model)")  # fmt: skip
    option("--image", default="grace_hopper", help=f"a sample ({', '.join(samples())}) or an image file")
    option("--size", type=_positive, default=128, help="image side in pixels")
    option("--steps", type=_positive, default=200, help="optimisation steps")
    option("--method", choices=list(METHODS), default="adam", help="optimiser preset (paper: the paper's "
           "plain gradient step)")  # fmt: skip
    option("--seed", type=int, default=0, help="seeds random weights, the starting noise and the shift")
    option("--device", **device)
    option("--precision", default=INVERSION, **precision)
    option("--out", type=Path, required=True, help="folder to write the PNG and the JSON to")

    training = commands.add_parser("train", help="train a model here, offline (or reuse the cached one)",
                                   description=TRAIN, formatter_class=Formatter)  # fmt: skip
    option = training.add_argument
    option("model", help="a torchvision classifier, e.g. resnet18")
    option("--steps", type=_positive, default=TrainConfig.steps, help=f"batches of {TrainConfig.batch}")
    option("--seed", type=int, default=0, help="seeds the weights and the data")
    option(
        "--data",
        choices=list(WORLDS),
        default="photos",
        help="the world to train on (noise: the paper's control)",
    )
    option("--device", **device)
    option("--precision", default=TRAINING, **precision)
    commands.add_parser("precision", help="say which precision runs here, and why", description=(
        "Print the device, its CPU capability (or GPU) and the precision inversion and training use."
    ))  # fmt: skip
    return top


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    cli = parser()
    args = cli.parse_args(argv)
    if args.command == "invert" and args.out.exists() and not args.out.is_dir():
        cli.error(f"--out {args.out} is a file: pass a folder")
    command = {"layers": _layers, "invert": _invert, "train": _train, "precision": _precision}[args.command]
    try:
        return command(args)
    except USER_ERRORS as err:
        print(f"{PROG}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except MemoryError as err:  # the run, not the arguments: say so in one line, status 1
        print(f"{PROG}: out of memory: {' '.join(str(err).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing written", file=sys.stderr)
        return 130


def _precision(args) -> int:
    print(precision_summary(default_device()))
    return 0


def _layers(args) -> int:
    model = load_model(args.model, device="meta")  # the architecture alone
    if args.nodes:
        print("\n".join(node_names(model)))
        return 0
    named = named_layers(model)
    width = max(map(len, named))
    print("\n".join(f"{name:<{width}}  {node}" for name, node in named.items()))
    return 0


def _invert(args) -> int:
    image = load_image(args.image, args.size)
    model = load_model(args.model, args.weights, seed=args.seed, device=args.device, image_size=args.size)
    names = list(resolve(model, args.layers or list(named_layers(model))))
    device = model_device(model)
    precision = choose_precision(device, args.precision)
    print(f"{args.model} ({args.weights} weights) on {device} ({describe_hardware(device)}), {precision}: "
          f"{len(names)} layer(s), {args.image} at {args.size} px, {args.steps} steps of {args.method}, "
          f"seed {args.seed}", flush=True)  # fmt: skip
    start = time.perf_counter()
    results = invert(
        model,
        image,
        names,
        args.steps,
        seed=args.seed,
        method=args.method,
        precision=precision,
        progress=True,
    )
    seconds = time.perf_counter() - start

    title = f"{args.model} ({args.weights} weights), {args.image}, {args.size} px, {args.steps} steps"
    fig = show_reconstructions(results, image, title=title)
    report = {
        "model": args.model, "weights": str(args.weights), "image": str(args.image), "size": args.size,
        "steps": args.steps, "method": args.method, "seed": args.seed, "device": str(device),
        "hardware": describe_hardware(device), "precision": precision, "seconds": round(seconds, 2),
        "torch": torch.__version__,
        "layers": {name: _distances(r) for name, r in results.items()},
    }  # fmt: skip
    png, data = args.out / "reconstructions.png", args.out / "distances.json"
    try:
        atomic_write(png, lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))
        atomic_write(data, lambda tmp: tmp.write_text(json.dumps(report, indent=2) + "\n"))
    except BaseException:
        png.unlink(missing_ok=True)  # both files or neither
        raise
    finally:
        plt.close(fig)
    head = ("m_i", "||a'-a||", "m_g/|O(a)|", "m_r/|O(a)|", "m_g/m_r")
    print(f"{'layer':<14}" + "".join(f"{h:>12}" for h in head))
    for name, d in report["layers"].items():
        values = (d["m_i"], d["shift_distance"], d["relative_m_g"], d["relative_m_r"], d["m_g_over_m_r"])
        print(f"{name:<14}" + "".join(f"{v:>12.3g}" for v in values))
    print(
        f"{len(names)} layer(s), {results[names[0]].steps} steps in {seconds:.1f} s; wrote {png} and {data}"
    )
    return 0


def _distances(result) -> dict[str, float | int]:
    """One layer's numbers for the JSON (the first image of the batch)."""
    m_i, m_g = float(result.input_distance[0]), float(result.embedding_distance[0])
    m_r, shift = float(result.reference_distance[0]), float(result.shift_distance[0])
    norm = float(result.target_norm[0])
    return {
        "m_i": m_i, "m_g": m_g, "m_r": m_r, "shift_distance": shift, "target_norm": norm,
        "relative_m_g": m_g / norm, "relative_m_r": m_r / norm, "m_g_over_m_r": m_g / m_r,
        "m_i_over_shift": m_i / shift, "steps": result.steps,
    }  # fmt: skip


def _train(args) -> int:
    load_model(args.model, device="meta")  # an unknown name fails here, before any data is built
    config = TrainConfig(
        model=args.model, data=args.data, steps=args.steps, seed=args.seed, precision=args.precision
    )
    print(ensure_trained(config, device=args.device, progress=True).describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
