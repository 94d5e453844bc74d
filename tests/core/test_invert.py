import pytest
import torch

import depthrep
from depthrep import get_method, invert, layers, start_image
from depthrep._util import precision
from depthrep.core.methods import METHODS


def test_inversion_lowers_the_embedding_distance(resnet18, hopper32, device):
    result = invert(resnet18, hopper32.to(device), "conv3", steps=40, progress=False)["conv3"]
    history = result.history
    assert history.embedding_distance[0, 0] > 3 * result.embedding_distance[0]
    assert result.image.shape == (1, 3, 32, 32)
    assert 0 <= result.image.min() and result.image.max() <= 1
    # The final record is the returned image's distance.
    assert history.step[-1] == 40
    torch.testing.assert_close(history.input_distance[-1], result.input_distance)


def test_batched_run_matches_one_layer_at_a_time(resnet18, device):
    images = torch.rand(2, 3, 32, 32, device=device)
    names = ["conv1", "conv5", "conv3"]
    together = invert(resnet18, images, names, steps=15, seed=7, progress=False)
    assert list(together) == names
    for name in names:
        alone = invert(resnet18, images, name, steps=15, seed=7, progress=False)[name]
        torch.testing.assert_close(together[name].image, alone.image, atol=2e-4, rtol=0)
        torch.testing.assert_close(
            together[name].embedding_distance, alone.embedding_distance, rtol=2e-3, atol=0
        )


def test_early_layer_reconstructs_better_than_deep_one(resnet18, device):
    from depthrep import load_image

    image = load_image("astronaut", 64).to(device)
    results = invert(resnet18, image, ["conv1_prepool", "conv5"], steps=60, progress=False)
    assert 4 * results["conv1_prepool"].input_distance < results["conv5"].input_distance


def test_same_seed_same_result_other_seed_other_start(resnet18, hopper32, device):
    def run(seed):
        return invert(resnet18, hopper32.to(device), "conv2", steps=5, seed=seed, progress=False)["conv2"]

    a, b, c = run(0), run(0), run(1)
    assert torch.equal(a.image, b.image)
    assert not torch.equal(a.image, c.image)


def test_start_image_is_the_papers_noise():
    start = start_image((4, 3, 64, 64), seed=0)
    assert abs(start.mean().item() - 0.7) < 0.005
    assert abs(start.std().item() - 1 / 20) < 0.002
    # Image b's noise does not depend on the batch it is in.
    assert torch.equal(start_image((2, 3, 8, 8))[0], start_image((2, 3, 8, 8))[0])


def test_references_come_with_every_layer(resnet18, hopper32, device):
    results = invert(resnet18, hopper32.to(device), ["conv2", "conv4"], steps=2, progress=False)
    for r in results.values():
        assert abs(r.shift_distance.item() - (3 * 32 * 32) ** 0.5 / 25) < 1.0
        assert 0 < r.reference_distance.item() < r.target_norm.item()


def test_callback_sees_progress_and_can_stop(resnet18, hopper32, device):
    seen = []

    def stop_after_two(step, results):
        seen.append(step)
        assert results["conv2"].image.shape == (1, 3, 32, 32)
        return len(seen) == 2

    result = invert(
        resnet18,
        hopper32.to(device),
        "conv2",
        steps=50,
        record_every=5,
        callback=stop_after_two,
        progress=False,
    )["conv2"]
    assert seen[:2] == [0, 5]
    assert result.steps == 5


@pytest.mark.parametrize("name", list(METHODS))
def test_every_preset_runs_and_improves(name, resnet18, hopper32, device):
    result = invert(resnet18, hopper32.to(device), "conv2", steps=20, method=name, progress=False)["conv2"]
    assert result.embedding_distance < result.history.embedding_distance[0]


def test_paper_method_is_a_plain_step(device):
    # One layer of the identity-like linear map: with no blur and no clamp, one plain step
    # moves x by exactly -lr * loss_scale * sign(O(x) - O(a)) @ W.
    from depthrep import load_model

    model = load_model("fc12", image_size=2, device=device)
    target = torch.rand(1, 3, 2, 2, device=device)
    m = get_method("paper", blur=None)
    result = invert(model, target, "fc1", steps=1, method=m, record_every=1, progress=False)["fc1"]
    x0 = start_image((1, 3, 2, 2), method=m).to(device)
    w, b = model.fc1.weight, model.fc1.bias
    residual = (x0.flatten(1) @ w.T + b) - (target.flatten(1) @ w.T + b)
    expected = x0.flatten(1) - m.lr[0] * m.loss_scale * residual.sign() @ w
    torch.testing.assert_close(result.image.flatten(1), expected.cpu())


def test_bfloat16_runs_where_native(resnet18, hopper32, device):
    if not precision.bf16_native(device):
        pytest.skip(f"bfloat16 is emulated on {device} ({precision.describe_hardware(device)})")
    target = hopper32.to(device)
    bf16 = invert(resnet18, target, "conv2", steps=10, precision="bfloat16", progress=False)["conv2"]
    fp32 = invert(resnet18, target, "conv2", steps=10, progress=False)["conv2"]
    assert torch.isfinite(bf16.image).all() and not torch.equal(bf16.image, fp32.image)
    assert bf16.embedding_distance < bf16.history.embedding_distance[0]
    torch.testing.assert_close(bf16.embedding_distance, fp32.embedding_distance, rtol=0.1, atol=0)


def test_bfloat16_where_emulated_warns_and_runs_float32(resnet18, hopper32, device, monkeypatch):
    monkeypatch.setattr(precision, "bf16_native", lambda device: False)
    target = hopper32.to(device)
    with pytest.warns(depthrep.errors.PrecisionWarning, match="emulated"):
        asked = invert(resnet18, target, "conv2", steps=3, precision="bfloat16", progress=False)["conv2"]
    fp32 = invert(resnet18, target, "conv2", steps=3, progress=False)["conv2"]
    assert torch.equal(asked.image, fp32.image)  # the same float32 run, bit for bit


def test_unknown_precision_is_refused(resnet18, hopper32):
    with pytest.raises(ValueError, match="Did you mean 'bfloat16'"):
        invert(resnet18, hopper32, "conv2", steps=1, precision="bfloat61", progress=False)


def test_method_overrides_are_checked():
    assert get_method("adam", lr=(0.1, 0.0)).lr == (0.1, 0.0)
    with pytest.raises(ValueError, match="Unknown method fields"):
        get_method("adam", learning_rate=0.1)
    with pytest.raises(ValueError, match="Choose one of adam, paper"):
        get_method("lbfgs")
    with pytest.raises(ValueError, match="Did you mean 'paper'"):
        get_method("papr")
    with pytest.raises(ValueError, match="odd"):
        get_method("adam", blur_kernel=4)


@pytest.mark.parametrize(
    "bad",
    [
        lambda: get_method("lbfgs"),
        lambda: get_method("adam", learning_rate=0.1),
        lambda: depthrep.Method(optimizer="lbfgs"),
        lambda: depthrep.Method(blur_kernel=4),
    ],
)
def test_bad_methods_are_the_packages_own_error(bad):
    with pytest.raises(depthrep.errors.MethodError):  # one line and status 2 on the command line
        bad()


@pytest.mark.parametrize("steps", [-1, 1.5, True, "10"])
def test_bad_step_counts_are_the_packages_own_error(resnet18, hopper32, steps):
    with pytest.raises(depthrep.DepthrepError, match="steps must be a non-negative int"):
        invert(resnet18, hopper32, "conv2", steps=steps, progress=False)


def test_divergence_raised_is_the_packages_own_error():
    assert issubclass(depthrep.errors.DivergenceError, depthrep.DepthrepError)
    assert issubclass(depthrep.errors.DivergenceError, RuntimeError)  # what it was before


def test_layers_of_default_catalogue_all_invert(resnet18, hopper32, device):
    results = invert(resnet18, hopper32.to(device), layers(resnet18), steps=3, progress=False)
    assert list(results) == layers(resnet18)


def test_callback_results_are_snapshots_of_their_step(resnet18, hopper32):
    kept = {}

    def keep(step, results):
        kept[step] = results["conv2"]

    depthrep.invert(resnet18, hopper32, ["conv2"], steps=6, record_every=2, callback=keep, progress=False)
    first, last = kept[0], kept[max(kept)]
    assert not torch.equal(first.image, last.image)  # step 0 shows step 0's image, not the final one
    snapshot = last.image.clone()
    first.image.zero_()  # writing to what a callback kept changes nothing else
    assert torch.equal(last.image, snapshot)
