"""Command line: list a model's layers, reconstruct an image from some of them, train a model here.

    depthrep layers resnet50
    depthrep invert --model resnet50 --layers conv1 conv5 --image grace_hopper --size 128 \\
        --steps 200 --out out/
    depthrep train resnet18
    depthrep precision

``python -m depthrep ...`` is the same. Exit status:

- 0: success;
- 1: the run did not fit in memory (one line; ``--memory-budget`` splits it);
- 2: a bad argument or input (one line saying why and what to pass instead);
- 3: ``invert`` finished and wrote its results, but some layer's run diverged: that layer is
  marked in the table, the figure and ``distances.json`` (``diverged_at``);
- 130: Ctrl-C; the output folder is left as it was (the old results or none, never a mix).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from depthrep._util.cli import ArgumentParser, examples
from depthrep._util.precision import ENV as PRECISION_ENV
from depthrep._util.precision import INVERSION, PRECISIONS, TRAINING, choose_precision, describe_hardware
from depthrep._util.precision import summary as precision_summary
from depthrep._util.streams import MAX_SEED
from depthrep.core.jobs import Job, image_source, run_job
from depthrep.core.methods import METHODS
from depthrep.studies.train import TrainConfig, ensure_trained
from depthrep.studies.worlds import WORLDS
from depthrep.zoo.checkpoints import atomic_write, load_checkpoint, unwritable
from depthrep.zoo.images import load_image, samples
from depthrep.zoo.layers import named_layers, node_names, resolve
from depthrep.zoo.models import default_device, load_model, local_checkpoint, model_device

from .errors import exit_status, one_line
from .plot import show_reconstructions

PROG = "depthrep"
EXAMPLES = examples(
    "depthrep layers resnet50",
    "depthrep invert --model resnet50 --weights random --layers conv1 conv5 \\",
    "    --image grace_hopper --size 128 --steps 200 --out out/",
    "depthrep train resnet18 && depthrep invert --model resnet18 --weights local --out out/",
)
DIVERGED = 3
"""Exit status of ``invert`` when a layer's run diverged (its results are written, marked)."""
UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


DESCRIPTION = (
    "How much of an image does each layer of a vision model keep? Reconstruct the image from one "
    "layer's embedding by gradient descent, and measure (Badger, arXiv:2211.06496)."
)
INVERT = (
    "Reconstruct an image from each layer's embedding, all layers in one batched run, with a "
    "progress bar. Writes OUT/reconstructions.png (the target, then one reconstruction per layer "
    "labelled with m_i and m_g) and OUT/distances.json (per layer m_i, m_g, the shifted-input "
    "reference m_r, ||a'-a||, relative values; the settings, the sweep's job id and where and how "
    "it ran: device, hardware, precision, threads, seconds, host, versions)."
)
TRAIN = (
    "Train a classifier from scratch on one world (--data): crops of photographs that ship inside "
    "the installed packages, gratings, dead leaves, or noise (the paper's control); or reuse the "
    "cached checkpoint made with the same settings; then `--weights local` loads the photo model. "
    "$DEPTHREP_CACHE sets the cache folder."
)


class Parser(ArgumentParser):
    """An argument parser whose errors are one line: ``depthrep: error: ...`` and status 2; its help
    is in the style of every depthrep command line (:mod:`depthrep._util.cli`)."""

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


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < MAX_SEED:
        raise argparse.ArgumentTypeError(f"{text} is outside 0 to 2^27 - 1 ({MAX_SEED - 1}): larger seeds "
                                         "would share random numbers (depthrep._util.streams)")  # fmt: skip
    return value


def _bytes(text: str) -> int:
    """``"512M"``, ``"4G"``, ``"1.5g"`` or a number of bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not match or float(match.group(1)) * UNITS[match.group(2)] < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size in bytes, like 512M or 4G")
    return int(float(match.group(1)) * UNITS[match.group(2)])


def _device(text: str) -> torch.device:
    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a torch device (cpu, cuda, cuda:1, mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError("CUDA is not available on this machine: pass --device cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(
            f"{text}: this machine has {torch.cuda.device_count()} CUDA device(s)"
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError("MPS is not available on this machine: pass --device cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"{text!r}: depthrep runs on cpu, cuda or mps")
    return device


def parser() -> Parser:
    top = Parser(prog=PROG, description=DESCRIPTION, epilog=EXAMPLES)
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
                                    "JSON", description=INVERT)  # fmt: skip
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
    option("--seed", type=_seed, default=0, help="seeds random weights, the starting noise and the shift")
    option("--device", **device)
    option("--precision", default=INVERSION, **precision)
    option("--memory-budget", type=_bytes, metavar="BYTES", help="split the run into chunks whose "
           "activations fit, e.g. 2G; same results (default: free GPU memory; CPU: none)")  # fmt: skip
    option("--out", type=_folder, required=True, help="folder to write the PNG and the JSON to")

    training = commands.add_parser("train", help="train a model here, offline (or reuse the cached one)",
                                   description=TRAIN)  # fmt: skip
    option = training.add_argument
    option("model", help="a torchvision classifier, e.g. resnet18")
    option("--steps", type=_positive, default=TrainConfig.steps, help=f"batches of {TrainConfig.batch}")
    option("--seed", type=_seed, default=0, help="seeds the weights and the data")
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
    commands.add_parser("book", add_help=False, help="execute the chapters with papermill at a profile, "
                        "keeping inversions in the store (`make book`); `depthrep book --help`")  # fmt: skip
    commands.add_parser("sweep", add_help=False, help="a study as jobs: plan, run a shard, submit (Slurm or "
                        "local processes), merge; `depthrep sweep --help`")  # fmt: skip
    return top


OUTPUTS = ("reconstructions.png", "distances.json")
"""What ``invert`` writes into ``--out``."""


def _folder(text: str) -> Path:
    """``--out``: a folder's path; an empty one would mean the working folder unasked."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: pass a folder, e.g. --out out/ (or . for this one)")
    return Path(text)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sweep"]:  # its own parser (depthrep.sweep.cli), and submitit only when asked for
        from depthrep.sweep.cli import main as sweep

        return sweep(argv[1:])
    if argv[:1] == ["book"]:  # its own parser (depthrep.book.run), and papermill only when asked for
        from depthrep.book.run import main as book

        return book(argv[1:])
    cli = parser()
    args = cli.parse_args(argv)
    if args.command == "invert" and (problem := unwritable(args.out)):
        cli.error(f"--out {args.out}: {problem}; pass a folder you can write to")
    if args.command == "invert" and Path(args.image).resolve() in {(args.out / f).resolve() for f in OUTPUTS}:
        cli.error(f"--image {args.image} is a file that --out {args.out} would overwrite: pass another --out")
    command = {"layers": _layers, "invert": _invert, "train": _train, "precision": _precision}[args.command]
    return exit_status(
        PROG,
        lambda: command(args),
        interrupted="interrupted; the output folder is as it was",
        out_of_memory=_memory_hint,
    )


def _memory_hint(message: str) -> str:
    """An out-of-memory message that names the CLI's option for splitting the run."""
    message = message.replace("memory_budget=<bytes>", "--memory-budget")
    if "--memory-budget" in message:
        return message
    return f"{message.rstrip('.') or 'the run does not fit'}; --memory-budget (e.g. 2G) splits it"


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
    checkpoint = local_checkpoint(args.model) if args.weights == "local" else None  # the one load_model takes
    model = load_model(args.model, args.weights, seed=args.seed, device=args.device, image_size=args.size)
    names = list(resolve(model, args.layers or list(named_layers(model))))
    device = model_device(model)
    job = Job(args.model, str(args.weights), tuple(names), image_source(args.image), args.size, args.seed,
              args.method, args.steps, args.precision)  # fmt: skip
    precision = choose_precision(device, job.precision)
    print(f"{args.model} ({args.weights} weights) on {device} ({describe_hardware(device)}), {precision}: "
          f"{len(names)} layer(s), {args.image} at {args.size} px, {args.steps} steps of {args.method}, "
          f"seed {args.seed}", flush=True)  # fmt: skip
    with warnings.catch_warnings():
        warnings.showwarning = _warn  # restored by catch_warnings
        done = run_job(job, model=model, image=image, progress=True, memory_budget=args.memory_budget)
    results, seconds = done.results, done.seconds

    title = f"{args.model} ({args.weights} weights), {args.image}, {args.size} px, {args.steps} steps"
    fig = show_reconstructions(results, image, title=title)
    report = {
        "model": args.model, "weights": str(args.weights), "image": str(args.image), "size": args.size,
        "steps": args.steps, "method": args.method, "seed": args.seed, "job": job.id, **done.run(),
        "layers": {name: _distances(r, image) for name, r in results.items()},
    }  # fmt: skip
    if checkpoint is not None:  # which model was trained here, and how
        report["checkpoint"] = {"file": checkpoint.name, **load_checkpoint(checkpoint)[1]}
    png, data = (args.out / name for name in OUTPUTS)
    text = json.dumps(_finite(report), indent=2, allow_nan=False) + "\n"

    def write_png(tmp: Path) -> None:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
        # The JSON lands only once the PNG is complete, and the PNG right after it: the folder
        # holds the old pair or the new pair.
        atomic_write(data, lambda tmp_json: tmp_json.write_text(text))

    try:
        atomic_write(png, write_png)
    except OSError as err:
        raise OSError(f"cannot write the results into {args.out}: {err.strerror or err}") from err
    finally:
        plt.close(fig)
    _print_table(report["layers"])
    print(
        f"{len(names)} layer(s), {results[names[0]].steps} steps in {seconds:.1f} s; wrote {png} and {data}"
    )
    diverged = {
        name: d["diverged_at"] for name, d in report["layers"].items() if d["diverged_at"] is not None
    }
    if diverged:
        where = ", ".join(f"{name} (step {step})" for name, step in diverged.items())
        print(
            f"{PROG}: diverged at {where}: results written, marked in the table, the figure and "
            f"{data.name}; lower the step size or use --method adam",
            file=sys.stderr,
        )
        return DIVERGED
    return 0


def _warn(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning during the run (a zero embedding, say) on one line, as it happens."""
    print(f"{PROG}: warning: {one_line(message)}", file=sys.stderr, flush=True)


COLUMNS = {"m_i": "m_i", "shift_distance": "||a'-a||", "relative_m_g": "m_g/|O(a)|",
           "relative_m_r": "m_r/|O(a)|", "m_g_over_m_r": "m_g/m_r", "psnr": "PSNR dB",
           "ssim": "SSIM"}  # fmt: skip
"""The table's columns: keys of a layer's numbers in distances.json, and their headings."""


def _print_table(layers: dict[str, dict]) -> None:
    print(f"{'layer':<14}" + "".join(f"{h:>12}" for h in COLUMNS.values()) + "  note")
    for name, d in layers.items():
        cells = "".join(f"{'n/a':>12}" if d[k] is None else f"{d[k]:>12.3g}" for k in COLUMNS)
        notes = [f"diverged at step {d['diverged_at']}"] if d["diverged_at"] is not None else []
        notes += [d["undefined"]] if d.get("undefined") else []
        print(f"{name:<14}{cells}  {'; '.join(notes)}".rstrip())


ZERO_EMBEDDING = "the target's embedding is zero here: relative distances are undefined"


def _distances(result, target: torch.Tensor) -> dict[str, float | int | str | None]:
    """One layer's numbers for the JSON (the first image of the batch): :meth:`InversionResult.summary`;
    a ratio whose denominator is zero is ``None``, with the reason under ``"undefined"``."""
    numbers: dict[str, float | int | str | None] = {**result.summary(0, target), "steps": result.steps}
    if float(result.target_norm[0]) == 0:
        numbers["undefined"] = ZERO_EMBEDDING
    return numbers


def _finite(value):
    """``value`` with every NaN or infinite float replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _train(args) -> int:
    load_model(args.model, device="meta")  # an unknown name fails here, before any data is built
    config = TrainConfig(
        model=args.model, data=args.data, steps=args.steps, seed=args.seed, precision=args.precision
    )
    trained = ensure_trained(config, device=args.device, progress=True)
    print(f"{trained.describe()}\n{trained.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
