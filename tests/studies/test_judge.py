import pytest
import torch
from torch import nn

import depthrep
from depthrep.studies import judge as J
from depthrep.studies.worlds import UNTRAINED, WORLDS, blur

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


def handmade() -> J.WorldPull:
    """Kinds untrained, gratings, leaves; targets from photos, gratings, leaves; 2 seeds, 2 layers,
    2 starts. P(gratings) is set per kind, seed, start and target; the rest goes to photos. The
    gratings target (index 1) is the gratings model's own world and gets a P no statistic may see."""
    kinds, targets = (UNTRAINED, "gratings", "leaves"), ("photos", "gratings", "leaves")
    p = torch.zeros(3, 2, 2, 2, 3, 4)
    g = torch.tensor(
        [  # (kinds, seeds) P(gratings) at conv5 on the foreign targets
            [0.2, 0.4],  # untrained
            [0.9, 0.7],  # gratings model
            [0.65, 0.45],  # leaves model
        ]
    )
    p[:, :, 1, :, :, 1] = g.view(3, 2, 1, 1)
    p[:, :, 1, 1, :, 1] += torch.tensor([0.0, 0.0, -0.1]).view(1, 1, 3)  # second start, leaves target: lower
    p[1, :, 1, :, 1, 1] = 0.05  # the gratings model on the gratings target: its own world
    p[0, :, 1, :, 1, 1] = 0.95  # the untrained model on the gratings target
    p[..., 0] = 1 - p[..., 1]
    images = torch.zeros(3, 2, 2, 2, 3, 3, 4, 4)
    return J.WorldPull(kinds, ("conv1", "conv5"), targets, p, images)


def test_pull_specificity_and_shares_use_the_targets_foreign_to_the_world_only():
    r = handmade()
    assert r.trained == ("gratings", "leaves") and r.foreign("gratings").tolist() == [True, False, True]
    # foreign targets 0 and 2; starts 0 and 1; the second start on target 2 is 0.1 lower for everyone
    start_offset = float(torch.tensor([[0.0, 0.0], [0.0, -0.1]]).mean())  # (starts, foreign targets)
    given = [[0.2, 0.4], [0.9, 0.7], [0.65, 0.45]]  # (kinds, seeds), as in handmade

    def mean(kind, seed):
        return given[kind][seed] + start_offset

    torch.testing.assert_close(
        r.pull("gratings")[:, 1], torch.tensor([mean(1, s) - mean(0, s) for s in (0, 1)])
    )
    torch.testing.assert_close(r.pull("gratings")[:, 0], torch.zeros(2))
    torch.testing.assert_close(r.specificity("gratings")[:, 1], torch.tensor([0.25, 0.25]))
    torch.testing.assert_close(r.top_share("gratings", "gratings")[:, 1], torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(r.top_share(UNTRAINED, "gratings")[:, 1], torch.tensor([0.0, 0.0]))
    torch.testing.assert_close(r.top_share("leaves", "gratings")[:, 1], torch.tensor([1.0, 0.0]))
    assert r.pulling("conv5") == ["gratings"] and r.pulling("conv1") == []
    assert r.grows("conv1", "conv5") == ["gratings"]  # leaves' own world is never raised
    heat = r.heat()
    assert heat.shape == (3, 2, 4)
    torch.testing.assert_close(heat[1, 1, 1], torch.tensor((mean(1, 0) + mean(1, 1)) / 2))
    torch.testing.assert_close(heat[0, 1, 1], torch.tensor((mean(0, 0) + mean(0, 1)) / 2))  # not 0.95
    rows = r.rows("conv5")
    assert [row["world"] for row in rows] == ["gratings", "leaves"]
    torch.testing.assert_close(rows[0]["pull at conv5"], r.pull("gratings")[:, 1])


def test_kept_counts_reconstructions_judged_to_be_from_their_target_s_world():
    r = handmade()
    kept = r.kept()
    assert kept.shape == (3, 2, 2)
    # conv1: everyone says photos: right for the photos target only
    torch.testing.assert_close(kept[:, :, 0], torch.full((3, 2), 1 / 3))
    # conv5, gratings model seed 0: says gratings on targets 0 and 2 (wrong), photos on 1 (wrong)
    assert float(kept[1, 0, 1]) == 0.0


def test_answers_and_reconstructions_pick_one_seed_and_start():
    r = handmade()
    assert r.answers(1, seed_index=0)["gratings"] == ["photos 1.00", "photos 0.95"]
    assert r.answers(0, seed_index=1, start=1)[UNTRAINED] == ["photos 1.00", "photos 0.60"]
    assert r.reconstructions(0)["leaves"].shape == (2, 3, 4, 4)


def test_a_pull_needs_untrained_first_and_matching_shapes():
    r = handmade()
    with pytest.raises(ValueError, match="must start with 'untrained'"):
        J.WorldPull(r.kinds[::-1], r.layers, r.target_worlds, r.probabilities, r.images)
    with pytest.raises(ValueError, match="do not match"):
        J.WorldPull(r.kinds, r.layers[:1], r.target_worlds, r.probabilities, r.images)


def test_probabilities_are_a_distribution_in_world_order():
    p = J.probabilities(Says(0.0, 3.0, 0.0, 0.0), torch.rand(5, 3, 8, 8))
    assert p.shape == (5, len(W)) and torch.allclose(p.sum(1), torch.ones(5))
    assert (p.argmax(1) == W.index("gratings")).all()


def test_judge_accuracy_is_per_world():
    says_photos = depthrep.studies.judge_accuracy(Says(5.0, 0.0, 0.0, 0.0), 16, count=4)
    assert says_photos.clean == {"photos": 1.0, "gratings": 0.0, "leaves": 0.0, "noise": 0.0}
    assert says_photos.blurred["photos"] == 1.0 and says_photos.phase_randomised_photos == 1.0
    assert says_photos.targets == {"photos": 1.0, "gratings": 0.0, "leaves": 0.0, "noise": 0.0}
    rows = says_photos.rows()
    assert [r["world"] for r in rows] == [*W, "photos, phase-randomised"] and "blurred" not in rows[-1]


def test_blur_scales_with_the_image_side():
    def blurred_edge(side):
        image = torch.zeros(1, 3, side, side)
        image[..., side // 2 :] = 1
        row = blur(image, J.TEST_BLUR)[0, 0, side // 2]
        return int(((row > 0.05) & (row < 0.95)).sum())

    assert blurred_edge(128) == pytest.approx(4 * blurred_edge(32), abs=2)


def test_world_targets_are_balanced_fresh_and_fixed():
    targets, worlds = depthrep.studies.world_targets(16)
    per_world = len(depthrep.studies.HELD_OUT)
    assert targets.shape == (per_world * len(W), 3, 16, 16) and 0 <= targets.min() and targets.max() <= 1
    assert worlds == sum(((w,) * per_world for w in W), ())
    torch.testing.assert_close(targets[:1], depthrep.load_image(depthrep.studies.HELD_OUT[0], 16))
    assert torch.equal(depthrep.studies.world_targets(16)[0], targets)


def test_measure_pull_inverts_every_kind_and_judges_each_reconstruction():
    models = {
        UNTRAINED: [depthrep.load_model("resnet18", seed=s, device="cpu") for s in (0, 1)],
        "leaves": [depthrep.load_model("resnet18", seed=s + 5, device="cpu") for s in (0, 1)],
    }
    targets = torch.rand(2, 3, 16, 16)
    r = depthrep.studies.measure_pull(models, targets, ("photos", "leaves"), Brightness(), ["conv1", "conv2"],
                                      2, seeds=(0, 1), progress=False)  # fmt: skip
    assert r.kinds == (UNTRAINED, "leaves") and r.layers == ("conv1", "conv2")
    assert r.probabilities.shape == (2, 2, 2, 2, 2, 4) and r.images.shape == (2, 2, 2, 2, 2, 3, 16, 16)
    again = depthrep.invert(models["leaves"][1], targets, ["conv2"], 2, seed=1, progress=False)["conv2"].image
    torch.testing.assert_close(r.images[1, 1, 1, 1], again)
    torch.testing.assert_close(r.probabilities[1, 1, 1, 1], J.probabilities(Brightness(), again))
    assert r.pull("leaves").shape == (2, 2)
    assert (
        r.diverged.shape == (2, 2, 2, 2, 2)
        and not r.diverged.any()
        and r.finished("conv2").tolist() == [1, 1]
    )


def test_diverged_runs_are_left_out_and_too_many_unfinish_their_seed_at_their_layer():
    r = handmade()
    diverged = torch.zeros(r.probabilities.shape[:5], dtype=torch.bool)
    diverged[1, 0, 1, 0, 0] = True  # a trained model, training seed 0, conv5, one start and target
    one = J.WorldPull(r.kinds, r.layers, r.target_worlds, r.probabilities, r.images, diverged)
    assert one.finished("conv5").tolist() == [True, True] and handmade().finished("conv5").all()
    world = r.kinds[1]
    keep = one.usable(world)[0, 1][..., r.foreign(world)]
    expected = r.probability(world, world)[0, 1][keep].mean()
    torch.testing.assert_close(one.mean_probability(world, world)[0, 1], expected)
    torch.testing.assert_close(one.mean_probability(world, world)[1], r.mean_probability(world, world)[1])
    diverged[1, 0, 1] = True  # every run of that model and seed at conv5
    every = J.WorldPull(r.kinds, r.layers, r.target_worlds, r.probabilities, r.images, diverged)
    assert every.finished("conv5").tolist() == [False, True] and every.finished("conv1").all()
    assert every.mean_probability(world, world)[0, 1].isnan()  # no finished run: no number


def test_probabilities_at_the_judges_side_resize_by_area_first():
    """A judge trained at 8 px sees a 32 px image as its 4x4 area means: ``Corner`` reads one
    pixel, which resizing turns into the mean of the 4x4 block it stands for."""

    class Corner(nn.Module):
        def forward(self, x):
            centres = torch.tensor([0.2, 0.4, 0.6, 0.8]).view(1, -1)
            return -20 * (x[:, :1, 0, 0] - centres).abs()

    images = torch.rand(3, 3, 32, 32)
    images[:, :, 0, 0] = 1.0  # the corner pixel alone says noise; its 4x4 block, mostly not
    small = torch.nn.functional.avg_pool2d(images, 4)
    torch.testing.assert_close(J.probabilities(Corner(), images, 8), J.probabilities(Corner(), small))
    assert not torch.allclose(J.probabilities(Corner(), images, 8), J.probabilities(Corner(), images))
    assert J.judged(Corner(), images) == ("noise",) * 3
    torch.testing.assert_close(J.probabilities(Corner(), small, 8), J.probabilities(Corner(), small))


def test_member_pull_is_the_pull_run_by_run_and_converged_needs_every_kind():
    r = handmade()
    world = "gratings"
    per_run = r.member_pull(world)  # (seeds, layers, starts, foreign targets)
    assert per_run.shape == (2, 2, 2, 2)
    torch.testing.assert_close(per_run.mean(dim=(-2, -1)), r.pull(world))
    with pytest.raises(ValueError, match="reached"):
        r.converged("conv5")
    reached = torch.ones(r.probabilities.shape[:5], dtype=torch.bool)
    reached[2, 1, 1, 0, 2] = False  # one kind's run: seed 1, conv5, first start, third target
    done = J.WorldPull(r.kinds, r.layers, r.target_worlds, r.probabilities, r.images, reached=reached)
    assert done.converged("conv5").shape == (2, 2, 3) and int((~done.converged("conv5")).sum()) == 1
    assert not done.converged("conv5")[1, 0, 2] and done.converged("conv1").all()


def test_measure_pull_records_which_runs_reached_the_reference_and_judges_at_the_judges_side(monkeypatch):
    models = {UNTRAINED: [depthrep.load_model("resnet18", seed=0, device="cpu")],
              "leaves": [depthrep.load_model("resnet18", seed=5, device="cpu")]}  # fmt: skip
    targets = torch.rand(2, 3, 32, 32)
    jobs, real = [], depthrep.core.jobs._run  # the job runner behind run_job and run_on
    monkeypatch.setattr(depthrep.core.jobs, "_run", lambda job, **kw: jobs.append(job) or real(job, **kw))
    r = depthrep.studies.measure_pull(models, targets, ("photos", "noise"), Brightness(), ["conv1"], 3,
                                      seeds=(0,), judge_size=16, progress=False)  # fmt: skip
    again = depthrep.invert(models["leaves"][0], targets, ["conv1"], 3, seed=0, progress=False)["conv1"]
    assert r.images.shape[-2:] == (32, 32)  # kept at the targets' side
    torch.testing.assert_close(r.probabilities[1, 0, 0, 0], J.probabilities(Brightness(), again.image, 16))
    assert r.reached[1, 0, 0, 0].tolist() == again.converged.tolist()
    assert r.converged("conv1").shape == (1, 1, 2)
    every = (*models[UNTRAINED], *models["leaves"])  # one job per model and start, through run_job
    assert [j.weights for j in jobs] == [depthrep.core.jobs.model_reference(m) for m in every]


def test_a_result_converged_where_it_ended_below_m_r_and_did_not_diverge():
    target = torch.rand(3, 3, 16, 16)
    res = depthrep.invert(depthrep.load_model("resnet18", seed=0, device="cpu"), target, ["conv1"], 2,
                          progress=False)["conv1"]  # fmt: skip
    expected = (res.embedding_distance < res.reference_distance) & ~res.diverged
    assert res.converged.tolist() == expected.tolist()
    torch.testing.assert_close(depthrep.book.converged(res, res), res.converged)
