"""Speed of depthrep.invert against a straightforward loop, measured side by side.

    python benchmarks/invert.py [--size 128] [--steps 30] [--device cpu|cuda] [--families]

The straightforward loop is what the paper's code does: one layer at a time, the model's
parameters left requiring grad, the paper's plain step and torchvision's blur each step.
depthrep runs all layers in one batch with stage-wise early exit and frozen parameters.
"Raw" is the bare forward and backward of each layer's truncated model (frozen, one at a
time), with no optimiser at all: the floor a one-layer-at-a-time loop cannot beat.
Lines print seconds per step (summed over all layers) and ratios, all from this one run.
"""

from __future__ import annotations

import argparse
import time

import torch
from torchvision.models.feature_extraction import create_feature_extractor
from torchvision.transforms.v2 import functional as TF

import depthrep
from depthrep.layers import resolve


def truncated(model, layer):
    """The model up to ``layer`` as its own module (what a per-layer script builds)."""
    node = resolve(model, layer)[layer]
    return create_feature_extractor(model, return_nodes={node: "out"})


def straightforward(model_name, image, layers, steps, device, image_size=None):
    """The paper's loop, one layer at a time, parameters trainable; returns (s/step, m_g)."""
    model = depthrep.load_model(model_name, device=device, image_size=image_size).requires_grad_(True)
    method = depthrep.get_method("paper")
    seconds, final = 0.0, {}
    for layer in layers:
        net = truncated(model, layer)
        with torch.no_grad():
            target = net(image)["out"]
        x = depthrep.start_image(tuple(image.shape)).to(device)
        sync(device)
        start = time.perf_counter()
        for step in range(steps):
            lr, sigma = method.schedule(step, steps)
            x.requires_grad_(True)
            loss = method.loss_scale * (net(x)["out"] - target).abs().sum()
            loss.backward()
            with torch.no_grad():
                x = TF.gaussian_blur(x - lr * x.grad, [3, 3], [sigma, sigma])
        sync(device)
        seconds += time.perf_counter() - start
        with torch.no_grad():
            final[layer] = float((net(x)["out"] - target).norm() / target.norm())
    return seconds / steps, final


def raw(model, image, layers, steps, device):
    """Bare fwd+bwd of each frozen truncated model, one layer at a time."""
    seconds = 0.0
    for layer in layers:
        net = truncated(model, layer)
        x = image.clone().requires_grad_(True)
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            torch.autograd.grad(net(x)["out"].sum(), x)
        sync(device)
        seconds += time.perf_counter() - start
    return seconds / steps


def ours(model, image, layers, steps, device, precision="float32"):
    sync(device)
    start = time.perf_counter()
    results = depthrep.invert(model, image, layers, steps, progress=False, precision=precision)
    sync(device)
    per_step = (time.perf_counter() - start) / steps
    return per_step, {n: float(r.relative_embedding_distance) for n, r in results.items()}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


FAMILIES = ["resnet50", "vgg16", "convnext_tiny", "efficientnet_b0", "mobilenet_v3_large", "densenet121",
            "regnet_y_400mf", "swin_t", "vit_b_16"]  # fmt: skip


def families(size, steps, device):
    """One line per family: every default layer in one call against the straightforward loop."""
    print(f"\nper family, all default layers, {size} px, {steps} steps, {device}")
    print(f"{'model':20s}{'layers':>7s}{'loop s/step':>13s}{'depthrep s/step':>17s}{'speed-up':>10s}")
    image = depthrep.load_image("grace_hopper", size).to(device)
    for name in FAMILIES:
        image_size = size if name.startswith("vit_") else None
        model = depthrep.load_model(name, device=device, image_size=image_size)
        layers = depthrep.layers(model)
        ours(model, image, layers, 2, device)  # warm-up
        t_loop, _ = straightforward(name, image, layers, steps, device, image_size)
        t_ours, _ = ours(model, image, layers, steps, device)
        print(f"{name:20s}{len(layers):7d}{t_loop:13.3f}{t_ours:17.3f}{t_loop / t_ours:9.2f}x", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--device", default=str(depthrep.models.default_device()))
    parser.add_argument("--families", action="store_true", help="also one line per model family")
    parser.add_argument("--family-steps", type=int, default=5)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    model = depthrep.load_model(args.model, device=device)
    layers = [n for n in depthrep.layers(model) if n != "conv1_prepool"]
    image = depthrep.load_image("grace_hopper", args.size).to(device)
    print(f"{args.model} {', '.join(layers)} at {args.size} px, {args.steps} steps, {device}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip

    ours(model, image, layers, 2, device)  # warm-up: first-call allocations and kernels
    t_loop, mg_loop = straightforward(args.model, image, layers, args.steps, device)
    t_raw = raw(model, image, layers, args.steps, device)
    t_ours, mg_ours = ours(model, image, layers, args.steps, device)
    # bfloat16 only where it is native: emulated, it is 15-300x slower (benchmarks/precision.py)
    native = depthrep.precision.bf16_native(device)
    t_bf16, mg_bf16 = ours(model, image, layers, args.steps, device, "bfloat16") if native else (None, {})

    print(f"{'':28s}{'s/step':>8s}")
    print(f"{'straightforward loop':28s}{t_loop:8.3f}")
    print(f"{'raw fwd+bwd, per layer':28s}{t_raw:8.3f}")
    print(f"{'depthrep.invert':28s}{t_ours:8.3f}")
    if native:
        print(f"{'depthrep.invert bf16':28s}{t_bf16:8.3f}")
        print(f"speed-up over the straightforward loop: {t_loop / t_ours:.2f}x (bf16 {t_loop / t_bf16:.2f}x)")
    else:
        print(f"{'depthrep.invert bf16':28s} skipped: bfloat16 is emulated here")
        print(f"speed-up over the straightforward loop: {t_loop / t_ours:.2f}x")
    print(f"depthrep over raw fwd+bwd: {t_ours / t_raw:.2f}x (target <= 1.15)")
    print(f"final m_g/|y| per layer (loop | depthrep{' | depthrep bf16' * native}):")
    for layer in layers:
        bf16 = f" {mg_bf16[layer]:9.4f}" if native else ""
        print(f"  {layer:8s} {mg_loop[layer]:9.4f} {mg_ours[layer]:9.4f}{bf16}")
    if args.families:
        families(args.size, args.family_steps, device)


if __name__ == "__main__":
    main()
