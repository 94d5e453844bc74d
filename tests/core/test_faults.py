"""Faults: divergence caught member by member, interruption, memory chunks, determinism."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

import depthrep
from depthrep import get_method, invert, load_model
from depthrep.core.divergence import DIVERGENCE
from depthrep.errors import CheckpointError, DivergenceError, DivergenceWarning
from depthrep.zoo.checkpoints import save_checkpoint

EXPLODE = get_method("paper", lr=(1e4, 1e4), blur=None)  # a plain step far too large for any layer


@pytest.fixture
def linear(device):
    return load_model("fc12", image_size=2, device=device)


def test_divergence_is_marked_frozen_and_warned_once(linear, device):
    target = torch.rand(2, 3, 2, 2, device=device)
    with pytest.warns(DivergenceWarning, match="fc1") as caught:
        result = invert(linear, target, "fc1", steps=20, method=EXPLODE, progress=False)["fc1"]
    assert len(caught) == 1
    assert (result.diverged_at >= 0).all() and result.diverged.all()
    assert torch.isfinite(result.image).all()  # frozen where it happened, not left to blow up
    assert (result.history.embedding_distance[-1] > DIVERGENCE * result.history.embedding_distance[0]).all()


def test_strict_raises_with_layer_and_step(linear, device):
    with pytest.raises(DivergenceError, match=r"fc1, step \d+"):
        invert(
            linear,
            torch.rand(1, 3, 2, 2, device=device),
            "fc1",
            20,
            method=EXPLODE,
            strict=True,
            progress=False,
        )


def test_healthy_runs_raise_no_warning(resnet18, hopper32, device):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = invert(resnet18, hopper32.to(device), ["conv2", "conv5"], steps=20, progress=False)
    assert not any(r.diverged.any() for r in result.values())


def test_one_member_diverging_leaves_the_others_alone(device):
    # A plain step of 1.0 is too large only for the flat target, whose starting mismatch is tiny.
    model = load_model("fc12", image_size=2, device=device)
    other = torch.rand(3, 2, 2, generator=torch.Generator().manual_seed(0))
    troubled = torch.stack([torch.full((3, 2, 2), 0.7), other]).to(device)
    calm = torch.stack([torch.rand(3, 2, 2), other]).to(device)  # same shape: same starting noise
    method = get_method("paper", lr=(1.0, 1.0), blur=None)
    with pytest.warns(DivergenceWarning, match="image 0 at step"):
        mixed = invert(model, troubled, "fc1", steps=30, method=method, progress=False)["fc1"]
    healthy = invert(model, calm, "fc1", steps=30, method=method, progress=False)["fc1"]
    assert mixed.diverged.tolist() == [True, False]
    torch.testing.assert_close(mixed.image[1], healthy.image[1])


def test_interrupt_propagates_once_and_cleanly(resnet18, hopper32, device):
    def interrupt(step, results):
        if step >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        invert(
            resnet18,
            hopper32.to(device),
            "conv2",
            steps=50,
            record_every=1,
            callback=interrupt,
            progress=False,
        )
    assert info.value.__context__ is None and info.value.__cause__ is None


def test_activation_estimate_grows_with_depth(resnet18):
    estimate = depthrep.core.encoder.Encoder(resnet18, depthrep.layers(resnet18)).activation_bytes(
        (3, 32, 32)
    )
    values = list(estimate.values())
    assert all(v > 0 for v in values) and values == sorted(values)
    # At least the stored outputs of the layers themselves: conv5 is (512, 1, 1) floats.
    assert estimate["conv5"] > 4 * 512


def test_a_small_budget_splits_the_run_with_the_same_results(resnet18, device):
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)).to(device)
    names = ["conv1", "conv3", "conv5"]
    whole = invert(resnet18, images, names, steps=6, progress=False)
    per_member = depthrep.core.encoder.Encoder(resnet18, names).activation_bytes((3, 32, 32))
    split = invert(resnet18, images, names, steps=6, progress=False, memory_budget=per_member["conv5"] + 1)
    assert list(split) == names
    for name in names:
        torch.testing.assert_close(split[name].image, whole[name].image, atol=2e-4, rtol=0)
        torch.testing.assert_close(
            split[name].embedding_distance, whole[name].embedding_distance, rtol=2e-3, atol=0
        )


SCRIPT = """
import hashlib, torch, depthrep
torch.set_num_threads(1)
model = depthrep.load_model("resnet18", seed=3, device="cpu")
image = depthrep.load_image("astronaut", 32)
r = depthrep.invert(model, image, ["conv2", "conv4"], steps=5, seed=4, progress=False)
print(hashlib.sha256(b"".join(x.image.numpy().tobytes() for x in r.values())).hexdigest())
"""


def test_same_seed_same_bits_in_two_processes():
    run = [sys.executable, "-c", SCRIPT]
    digests = {subprocess.run(run, capture_output=True, text=True, check=True).stdout for _ in range(2)}
    assert len(digests) == 1


def test_truncated_weights_file_names_the_file(tmp_path):
    path = tmp_path / "w.pt"
    save_checkpoint(path, load_model("resnet18", device="cpu").state_dict(), {})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=str(path)):
        load_model("resnet18", weights=path)


def test_a_brief_overshoot_early_in_the_run_is_not_divergence():
    from depthrep.core.divergence import Watch

    # Two members over 20 steps (grace: 2): one overshoots at step 1 and settles, one keeps climbing.
    watch = Watch(2, ["fc1", "fc1"], strict=False, grace=2)
    finite = torch.ones(2, dtype=torch.bool)
    for step, m_g in enumerate([(1.0, 1.0), (1.8, 1.3), (0.9, 1.6), (0.5, 1.9), (0.3, 2.5)]):
        watch.check(step, torch.tensor(m_g), finite)
    assert watch.diverged_at.tolist() == [-1, 2]
    assert watch.check(5, torch.tensor([float("nan"), 1.0]), finite).tolist() == [True, False]
    assert watch.diverged_at.tolist() == [5, 2]  # non-finite counts at once
    assert watch.check(6, torch.tensor([0.1, 0.1]), torch.tensor([True, True])).tolist() == [False, False]


BAD_TARGETS = {
    "unbatched": (torch.rand(3, 8, 8), r"\(3, 8, 8\)"),
    "uint8": (torch.randint(0, 255, (1, 3, 8, 8), dtype=torch.uint8), "uint8"),
    "0-255 floats": (torch.rand(1, 3, 8, 8) * 255, "255"),
    "negative": (torch.rand(1, 3, 8, 8) - 0.5, r"\[0, 1\]"),
    "NaN": (torch.full((1, 3, 8, 8), float("nan")), "NaN"),
    "HWC": (torch.rand(1, 8, 8, 3), r"\(1, 8, 8, 3\)"),
    "empty batch": (torch.rand(0, 3, 8, 8), r"\(0, 3, 8, 8\)"),
    "grey": (torch.rand(1, 1, 8, 8), r"\(1, 1, 8, 8\) .*grey \(1 channel\)"),
    "RGBA": (torch.rand(1, 4, 8, 8), r"\(1, 4, 8, 8\) .*RGBA \(4 channels\)"),
    "5-D": (torch.rand(1, 1, 3, 8, 8), r"\(1, 1, 3, 8, 8\)"),
    "NumPy": (
        np.random.default_rng(0).random((1, 3, 8, 8)),
        "a NumPy array: make one with depthrep.load_image",
    ),
    "infinite": (torch.full((1, 3, 8, 8), float("inf")), "infinite values"),
    "bool": (torch.ones(1, 3, 8, 8, dtype=torch.bool), r"\(1, 3, 8, 8\) bool"),
}


@pytest.mark.parametrize("image, says", BAD_TARGETS.values(), ids=BAD_TARGETS.keys())
def test_invert_refuses_a_bad_target_before_any_work(image, says, resnet18):
    with pytest.raises(depthrep.errors.ImageError, match=says):
        invert(resnet18, image, "conv1", steps=1, progress=False)


def test_invert_refuses_targets_smaller_than_the_blur(resnet18):
    with pytest.raises(depthrep.errors.ImageError, match="1x1 pixels; this method needs at least 2x2"):
        invert(resnet18, torch.rand(1, 3, 1, 1), "conv1", steps=1, progress=False)
    wide = get_method("adam", blur_kernel=7)
    with pytest.raises(depthrep.errors.ImageError, match="at least 4x4"):
        invert(resnet18, torch.rand(1, 3, 3, 3), "conv1", steps=1, method=wide, progress=False)
    unblurred = get_method("adam", blur=None)  # no blur: any size the model takes
    assert invert(resnet18, torch.rand(1, 3, 1, 1), "conv1", steps=1, method=unblurred, progress=False)


def test_a_target_the_model_cannot_embed_says_so(device):
    model = load_model("inception_v3", device=device)
    with pytest.raises(
        depthrep.errors.ImageError, match=r"cannot embed a 32x32 image at Mixed_7c .*Kernel size"
    ):
        invert(model, torch.rand(1, 3, 32, 32), "Mixed_7c", steps=1, progress=False)


def test_nan_weights_are_named_not_called_divergence(device):
    model = load_model("fc12", image_size=4, device=device)
    model.fc1.weight[0, 0] = float("nan")
    with pytest.raises(depthrep.errors.EmbeddingError, match="NaN or infinite at fc1; 1 of its weights"):
        invert(model, torch.rand(1, 3, 4, 4), "fc1", steps=1, progress=False)


def test_a_zero_embedding_warns_at_the_start(resnet18, device):
    flat = torch.zeros(2, 3, 16, 16)
    flat[1] = torch.rand(3, 16, 16)
    with pytest.warns(depthrep.errors.ZeroEmbeddingWarning, match=r"zero at conv1 \(image 0\);"):
        result = invert(resnet18, flat.to(device), ["conv1", "conv5"], steps=2, progress=False)
    assert result["conv1"].target_norm[0] == 0 and result["conv1"].target_norm[1] > 0


def test_out_of_memory_on_the_cpu_is_a_memory_error(resnet18, monkeypatch):
    def allocate(self, x, blocks):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
            "you tried to allocate 140737488355328 bytes. Error code 12 (Cannot allocate memory)"
        )

    monkeypatch.setattr(depthrep.core.encoder.Encoder, "staged", allocate)
    with pytest.raises(MemoryError, match=r"Out of memory on cpu: .* Pass memory_budget"):
        invert(resnet18, torch.rand(1, 3, 16, 16), "conv2", steps=1, progress=False)


CPU_OUT_OF_MEMORY = (
    "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
    "you tried to allocate 140737488355328 bytes. Error code 12 (Cannot allocate memory)"
)


def test_the_memory_estimate_runs_after_the_failed_run_is_freed_and_may_fail_too(resnet18, monkeypatch):
    import weakref

    held = []

    def allocate(self, x, blocks):
        activations = torch.empty(1000, 1000)  # what the failed run holds when it fails
        held.append(weakref.ref(activations))
        raise RuntimeError(CPU_OUT_OF_MEMORY)

    def estimate(self, image_shape, precision="float32"):
        assert held and held[0]() is None, "the estimate ran while the failed run's tensors were alive"
        raise RuntimeError(CPU_OUT_OF_MEMORY)  # at 2048 px one image's forward pass may not fit either

    monkeypatch.setattr(depthrep.core.encoder.Encoder, "staged", allocate)
    monkeypatch.setattr(depthrep.core.encoder.Encoder, "activation_bytes", estimate)
    with pytest.raises(
        MemoryError, match=r"Out of memory on cpu: even one 16x16 image's forward pass does not fit"
    ):
        invert(resnet18, torch.rand(1, 3, 16, 16), "conv2", steps=1, progress=False)


def test_other_runtime_errors_are_not_called_memory(resnet18, monkeypatch):
    def broken(self, x, blocks):
        raise RuntimeError("some kernel bug")

    monkeypatch.setattr(depthrep.core.encoder.Encoder, "staged", broken)
    with pytest.raises(RuntimeError, match="some kernel bug"):
        invert(resnet18, torch.rand(1, 3, 16, 16), "conv2", steps=1, progress=False)


@pytest.mark.parametrize(
    "raised, status, line",
    [
        (depthrep.DepthrepError("no layer\n  'conv9'"), 2, "prog: error: no layer 'conv9'"),
        (MemoryError("needs 3 GiB."), 1, "prog: out of memory: NEEDS 3 GIB."),
        (OSError(28, "No space left on device"), 1, "prog: [Errno 28] No space left on device"),
        (KeyboardInterrupt(), 130, "prog: interrupted; nothing lost"),
    ],
)
def test_each_command_line_stops_in_one_line_with_its_status(raised, status, line, capsys):
    from depthrep.errors import exit_status

    def command():
        raise raised

    stopped = exit_status("prog", command, interrupted="interrupted; nothing lost", out_of_memory=str.upper)
    assert stopped == status
    assert capsys.readouterr().err == line + "\n"
    assert exit_status("prog", lambda: 3, interrupted="") == 3


def test_a_sweep_out_of_memory_is_one_line_not_a_traceback(tmp_path, monkeypatch, capsys):
    from depthrep.sweep import cli as sweep

    def plan(args):
        raise MemoryError("the job needs 9 GiB")

    monkeypatch.setattr(sweep, "_plan", plan)
    assert sweep.main(["plan", "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err == "depthrep sweep: out of memory: the job needs 9 GiB\n"


@pytest.mark.parametrize(
    "setting, said",
    [
        ({"blur": (-1.0, 0.3)}, "blur must be"),
        ({"blur": (float("nan"), 0.3)}, "blur must be"),
        ({"tv": -0.5}, "tv must be"),
        ({"loss_scale": 0.0}, "loss_scale must be"),
        ({"lr": (0.1, float("inf"))}, "lr must be"),
        ({"lr": "0.1"}, "lr must be"),
        ({"alpha": float("nan")}, "alpha must be"),
    ],
)
def test_method_settings_out_of_range_are_refused(setting, said):
    with pytest.raises(depthrep.errors.MethodError, match=said):
        depthrep.get_method("adam", **setting)


def test_one_number_for_lr_or_blur_means_the_same_all_run_long():
    m = depthrep.get_method("adam", lr=0.05, blur=np.float32(0.5))
    assert m.lr == (0.05, 0.05) and m.blur == (0.5, 0.5) and m.schedule(7, 10) == pytest.approx((0.05, 0.5))


@pytest.mark.parametrize(
    "setting, error, said",
    [
        ({"seed": 1.5}, depthrep.DepthrepError, "seeds are integers"),
        ({"seed": True}, depthrep.DepthrepError, "seeds are integers"),
        ({"seed": -1}, depthrep.DepthrepError, "seeds are integers"),
        ({"record_every": "5"}, depthrep.errors.MethodError, "record_every must be"),
        ({"record_every": 0}, depthrep.errors.MethodError, "record_every must be"),
        ({"shift_sigma": float("nan")}, depthrep.errors.MethodError, "shift_sigma must be"),
        ({"shift_sigma": -0.04}, depthrep.errors.MethodError, "shift_sigma must be"),
    ],
)
def test_invert_settings_out_of_range_are_refused_before_any_step(resnet18, setting, error, said):
    with pytest.raises(error, match=said):
        invert(resnet18, torch.rand(1, 3, 16, 16), "conv1", steps=1, progress=False, **setting)


def test_a_numpy_integer_is_a_seed(resnet18):
    a = invert(resnet18, torch.rand(1, 3, 16, 16), "conv1", steps=1, progress=False, seed=np.int64(3))
    b = invert(resnet18, torch.rand(1, 3, 16, 16), "conv1", steps=1, progress=False, seed=3)
    assert a["conv1"].labels == b["conv1"].labels


@pytest.mark.parametrize(
    "change, said",
    [
        (lambda m: m.double(), "weights are float64; depthrep inverts float32 models"),
        (lambda m: m.half(), "weights are float16; depthrep inverts float32 models"),
        (lambda m: m.to("meta"), "on the meta device"),
    ],
)
def test_weights_that_cannot_run_are_named_not_blamed_on_the_image(change, said):
    model = change(load_model("resnet18", "random"))
    with pytest.raises(depthrep.DepthrepError, match=said):
        invert(model, torch.rand(1, 3, 32, 32), "conv2", steps=1, progress=False)


def test_an_untraceable_model_is_one_clear_error_and_keeps_its_mode():
    class Branches(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return self.conv(x) if x.sum() > 0 else x

    model = Branches().eval()
    for call in (
        lambda: depthrep.node_names(model),
        lambda: invert(model, torch.rand(1, 3, 16, 16), "conv", steps=1),
    ):
        with pytest.raises(depthrep.DepthrepError, match=r"torch.fx cannot trace Branches \(TraceError"):
            call()
        assert not model.training


def test_a_fully_connected_net_of_too_many_layers_is_refused_before_its_widths_are_made():
    with pytest.raises(
        depthrep.errors.UnknownModelError, match="10,000,000 layers, over depthrep's limit of 1,000"
    ):
        load_model("fc1x10000000")
