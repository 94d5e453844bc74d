import pytest
import torch
from torch import nn

import depthrep
from depthrep import judge as J
from depthrep.worlds import UNTRAINED, WORLDS

W = list(WORLDS)  # photos, gratings, leaves, noise


class Says(nn.Module):
    """A judge that gives every image the same answer: ``logits`` over the worlds."""

    def __init__(self, *logits):
        super().__init__()
        self.logits = nn.Parameter(torch.tensor(logits, dtype=torch.float32), requires_grad=False)

    def forward(self, x):
        return self.logits.expand(len(x), -1)


class Brightness(nn.Module):
    """A judge whose answer is the image's mean: dark -> photos, bright -> noise."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(20.0), requires_grad=False)

    def forward(self, x):
        m = x.mean(dim=(1, 2, 3)).view(-1, 1)
        centres = torch.tensor([0.2, 0.4, 0.6, 0.8]).view(1, -1)
        return -self.scale * (m - centres).abs()


def handmade(p_own: float, p_untrained: float, p_other: float) -> J.WorldPull:
    """Kinds untrained, gratings, leaves; targets from photos and gratings; 1 seed, 2 layers, 1 start.
    Every model's P(its own world) is set per layer, the rest spread over photos."""
    kinds = (UNTRAINED, "gratings", "leaves")
    p = torch.zeros(3, 1, 2, 1, 2, 4)
    p[..., 0] = 1.0  # photos, unless set below
    for layer, scale in ((0, 0.0), (1, 1.0)):
        for k, value in ((1, p_own), (0, p_untrained), (2, p_other)):
            p[k, 0, layer, 0, :, 1] = scale * value  # P(gratings)
            p[k, 0, layer, 0, :, 0] = 1 - scale * value
    images = torch.zeros(3, 1, 2, 1, 2, 3, 4, 4)
    return J.WorldPull(kinds, ("conv1", "conv5"), ("photos", "gratings"), p, images)


def test_pull_is_own_world_probability_above_the_untrained_on_foreign_targets():
    r = handmade(p_own=0.9, p_untrained=0.2, p_other=0.6)
    torch.testing.assert_close(r.pull("gratings"), torch.tensor([[0.0, 0.7]]))
    torch.testing.assert_close(r.specificity("gratings"), torch.tensor([[0.0, 0.3]]))
    torch.testing.assert_close(r.top_share("gratings", "gratings"), torch.tensor([[0.0, 1.0]]))
    torch.testing.assert_close(r.top_share(UNTRAINED, "gratings"), torch.tensor([[0.0, 0.0]]))
    assert r.pulling("conv5") == ["gratings"] and r.pulling("conv1") == []
    assert r.foreign("gratings").tolist() == [True, False] and r.foreign(UNTRAINED).tolist() == [True, True]
    # kept: conv1 everyone says photos (right for target 0 only); conv5 the gratings model
    # says gratings for both (right for target 1 only), the untrained one photos
    torch.testing.assert_close(r.kept()[:, 0], torch.tensor([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]))
    heat = r.heat()
    assert heat.shape == (3, 2, 4)
    torch.testing.assert_close(
        heat[1, 1, 1], torch.tensor(0.9)
    )  # gratings model, conv5, P(gratings), foreign only
    assert r.answers(1)["gratings"] == ["photos 1.00", "gratings 0.90"]
    assert r.reconstructions(0)["leaves"].shape == (2, 3, 4, 4)


def test_a_model_no_better_than_untrained_does_not_pull():
    r = handmade(p_own=0.2, p_untrained=0.2, p_other=0.2)
    assert float(r.pull("gratings")[0, 1]) == pytest.approx(0) and r.pulling("conv5") == []


def test_probabilities_are_a_distribution_in_world_order():
    p = J.probabilities(Says(0.0, 3.0, 0.0, 0.0), torch.rand(5, 3, 8, 8))
    assert p.shape == (5, len(W)) and torch.allclose(p.sum(1), torch.ones(5))
    assert (p.argmax(1) == W.index("gratings")).all()


def test_judge_accuracy_is_per_world():
    says_photos = depthrep.judge_accuracy(Says(5.0, 0.0, 0.0, 0.0), 16, count=4)
    assert says_photos.clean == {"photos": 1.0, "gratings": 0.0, "leaves": 0.0, "noise": 0.0}
    assert says_photos.blurred["photos"] == 1.0 and says_photos.phase_randomised_photos == 1.0
    rows = says_photos.rows()
    assert [r["world"] for r in rows] == [*W, "photos, phase-randomised"] and "blurred" not in rows[-1]


def test_blur_scales_with_the_image_side():
    def blurred_edge(side):
        image = torch.zeros(1, 3, side, side)
        image[..., side // 2 :] = 1
        row = J.blur(image)[0, 0, side // 2]
        return int(((row > 0.05) & (row < 0.95)).sum())

    assert blurred_edge(128) == pytest.approx(4 * blurred_edge(32), abs=2)


def test_world_targets_are_balanced_fresh_and_fixed():
    targets, worlds = depthrep.world_targets(16)
    per_world = len(depthrep.HELD_OUT)
    assert targets.shape == (per_world * len(W), 3, 16, 16) and 0 <= targets.min() and targets.max() <= 1
    assert worlds == sum(((w,) * per_world for w in W), ())
    torch.testing.assert_close(targets[:1], depthrep.load_image(depthrep.HELD_OUT[0], 16))
    assert torch.equal(depthrep.world_targets(16)[0], targets)


def test_measure_pull_inverts_every_kind_and_judges_each_reconstruction():
    models = {
        UNTRAINED: [depthrep.load_model("resnet18", seed=s, device="cpu") for s in (0, 1)],
        "leaves": [depthrep.load_model("resnet18", seed=s + 5, device="cpu") for s in (0, 1)],
    }
    targets = torch.rand(2, 3, 16, 16)
    r = depthrep.measure_pull(models, targets, ("photos", "leaves"), Brightness(), ["conv1", "conv2"], 2,
                              seeds=(0, 1), progress=False)  # fmt: skip
    assert r.kinds == (UNTRAINED, "leaves") and r.layers == ("conv1", "conv2")
    assert r.probabilities.shape == (2, 2, 2, 2, 2, 4) and r.images.shape == (2, 2, 2, 2, 2, 3, 16, 16)
    again = depthrep.invert(models["leaves"][1], targets, ["conv2"], 2, seed=1, progress=False)["conv2"].image
    torch.testing.assert_close(r.images[1, 1, 1, 1], again)
    torch.testing.assert_close(r.probabilities[1, 1, 1, 1], J.probabilities(Brightness(), again))
    assert r.pull("leaves").shape == (2, 2)


@pytest.mark.parametrize(
    "models, worlds, match",
    [
        ({"leaves": [1]}, ("photos",), "untrained baseline"),
        ({UNTRAINED: [1], "clouds": [1]}, ("photos",), r"Unknown worlds \['clouds'\]"),
        ({UNTRAINED: [1], "leaves": [1, 2]}, ("photos",), "same number of models"),
        ({UNTRAINED: [1]}, ("photos", "photos"), "1 targets but 2 target worlds"),
    ],
)
def test_measure_pull_refuses_inconsistent_inputs(models, worlds, match):
    with pytest.raises(ValueError, match=match):
        depthrep.measure_pull(models, torch.rand(1, 3, 8, 8), worlds, Says(0, 0, 0, 0), ["conv1"], 1)
