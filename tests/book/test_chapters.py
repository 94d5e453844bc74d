"""Each chapter's own claims (``depthrep.book.chapters``): each holds on numbers that satisfy
what the paper says and fails, is undecided or departs on numbers that do not; every claim that
rests on finished runs refuses a verdict on one that did not converge."""

from types import SimpleNamespace as NS

import torch
from conftest import made
from torch import nn

from depthrep.book.chapters import (
    architectures,
    conditioning,
    depth,
    layers,
    method,
    over_the_run,
    pooling,
    training,
    training_data,
    width,
)
from depthrep.studies.worlds import UNTRAINED, WORLDS

T = torch.tensor


def test_method():
    below = {"conv1": made("conv1", (1.0, 1.0)), "conv5": made("conv5", (2.0, 2.0))}
    assert method.default_gets_below_reference(below).verdict == "holds"
    above = {**below, "conv5": made("conv5", (2.0, 2.0), m_g=(1.0, 3.0))}
    assert method.default_gets_below_reference(above).verdict == "undecided"
    paper = made("conv5", (2.0, 2.0), m_g=(1.5, 0.5))
    assert method.default_beats_the_paper_update(below["conv5"], paper).verdict == "undecided"
    diverged = made("conv5", (2.0, 2.0), m_g=(1.5, 1.5), diverged=(-1, 3))
    assert method.default_beats_the_paper_update(below["conv5"], diverged).verdict == "did not converge"


def test_layers():
    grid = [
        NS(
            model="resnet18",
            weights="untrained",
            results={"conv1": made("conv1", (1.0, 1.0)), "conv5": made("conv5", (4.0, 3.5))},
        )
    ]
    c = layers.last_layer_farther(grid, "conv5")
    assert c.verdict == "holds" and c.values == {"resnet18 untrained": [4.0, 3.5]}
    grid[0].results["conv5"] = made("conv5", (4.0, 2.0))
    assert layers.last_layer_farther(grid, "conv5").verdict == "undecided"
    assert layers.untrained_get_below_reference(grid).holds
    grid[0].results = {n: made(n, (1.0, 1.0), m_g=(3.0, 3.0)) for n in ("conv1", "conv5")}
    assert layers.untrained_get_below_reference(grid).verdict == "fails"


def test_depth_layer_claims():
    ladder = {
        n: made(n, v)
        for n, v in [
            ("conv1", (1.0, 1.0)),
            ("conv2", (2.0, 0.5)),
            ("conv3", (3.0, 3.0)),
            ("conv5", (4.0, 4.0)),
        ]
    }
    c = depth.farther_with_depth_at_most_one_step_back(ladder, "conv5", who="resnet50")
    assert c.holds and c.values["steps_back"] == [0.0, 1.0]
    ladder["conv3"] = made("conv3", (3.0, 0.4))  # member 2 steps back twice
    assert not depth.farther_with_depth_at_most_one_step_back(ladder, "conv5", who="resnet50").holds
    early, deep = made("conv2", (1.0, 1.0)), made("conv5", (2.0, 3.0))
    c = depth.matched_in_the_layer_lost_in_pixels(early, deep, who="resnet50")
    assert c.holds and "m_i_over_shift_conv2" in c.values
    assert (
        depth.matched_in_the_layer_lost_in_pixels(early, made("conv5", (2.0, 1.5)), who="x").verdict
        == "undecided"
    )
    assert depth.paper_update_finds_shift_closer(made("conv2", (1.0, 1.0), m_g=(3.0, 3.0)), who="x").holds
    assert depth.default_update_gets_below_reference(made("conv2", (1.0, 1.0)), who="x").verdict == "departs"


def test_depth_counts_and_gains():
    size = lambda ratio: NS(ratio=ratio)  # noqa: E731
    sizes = {"resnet18": {299: {"conv2": size(2.0), "conv5": size(0.5)}}}
    assert depth.exactly_non_invertible_at_299(sizes, "conv5").holds
    sizes["resnet50"] = {299: {"conv2": size(2.0), "conv5": size(1.5)}}
    assert not depth.exactly_non_invertible_at_299(sizes, "conv5").holds
    lite = {
        n: size(r) for n, r in zip(["stem", "stage1", "stage2", "stage7"], [3.0, 1.5, 0.8, 0.1], strict=True)
    }
    resnet = {n: size(r) for n, r in zip(["conv1", "conv2", "conv5"], [2.0, 2.0, 0.5], strict=True)}
    depth_of = {
        "efficientnet_lite0": dict(zip(lite, [0.0, 0.1, 0.2, 1.0], strict=True)),
        "resnet50": dict(zip(resnet, [0.0, 0.3, 1.0], strict=True)),
    }
    c = depth.lite0_narrows_earlier_than_resnet50({"efficientnet_lite0": lite, "resnet50": resnet}, depth_of)
    assert c.holds and c.values["depth_first_smaller_lite0"] == 0.2
    depth_of["resnet50"]["conv5"] = 0.1
    assert not depth.lite0_narrows_earlier_than_resnet50(
        {"efficientnet_lite0": lite, "resnet50": resnet}, depth_of
    ).holds
    gains = {
        "conv1": NS(largest=T([4.0, 4.0]), typical=T([2.0, 2.0]), error_ratio=T([1.0, 1.0])),
        "conv5": NS(largest=T([9.0, 3.0]), typical=T([1.0, 1.0]), error_ratio=T([0.6, 0.2])),
    }
    assert depth.gains_spread_with_depth(gains, "conv1", "conv5", who="x").verdict == "holds"
    gains["conv5"].largest = T([1.0, 1.0])
    assert depth.gains_spread_with_depth(gains, "conv1", "conv5", who="x").verdict == "fails"
    assert depth.error_not_among_most_contracted(gains, "conv1", "conv5", who="x").verdict == "undecided"


def test_depth_deeper_model_is_checked_only_with_both_models():
    def model(shift_conv2, shift_conv5):
        return {
            "conv2": made("conv2", (1.0, 1.0), shift=shift_conv2),
            "conv5": made("conv5", (1.0, 1.0), shift=shift_conv5),
        }

    results = {"resnet50": model((1.0, 1.0), (1.0, 1.0))}
    assert depth.deeper_model_shows_it_more(results, "conv5") == []
    results["resnet152"] = model((1.0, 1.0), (0.5, 0.5))  # m_i / ||a' - a|| twice resnet50's at conv5
    [c] = depth.deeper_model_shows_it_more(results, "conv5")
    assert c.verdict == "holds" and c.values["resnet152 / resnet50 at conv5"] == [2.0, 2.0]
    results["resnet152"] = model((0.5, 0.5), (2.0, 2.0))  # stronger at conv2 than at conv5: a finding
    assert depth.deeper_model_shows_it_more(results, "conv5")[0].verdict == "departs"


def test_over_the_run():
    rising = made(
        "conv5",
        (3.0, 3.0),
        m_g=(0.5, 0.5),
        curves=([[4.0] * 2, [2.0] * 2, [3.0] * 2], [[8.0] * 2, [2.0] * 2, [0.5] * 2]),
    )
    assert over_the_run.deep_pixels_rise_while_the_layer_matches(rising, who="ResNet50").verdict == "holds"
    following = made(
        "conv2",
        (0.5, 0.5),
        m_g=(0.5, 0.5),
        curves=([[4.0] * 2, [2.0] * 2, [0.5] * 2], [[8.0] * 2, [2.0] * 2, [0.5] * 2]),
    )
    assert over_the_run.deep_pixels_rise_while_the_layer_matches(following, who="x").verdict == "departs"
    c = over_the_run.deep_pixels_follow_less_than_half(following, rising, who="ResNet50")
    assert c.holds and c.values["slope_conv2"] == [1.0, 1.0]
    assert not over_the_run.deep_pixels_follow_less_than_half(rising, following, who="x").holds
    assert over_the_run.deep_follows_less_over_the_run(following, rising, who="ResNet50").holds
    assert not over_the_run.deep_follows_less_over_the_run(rising, following, who="x").holds
    assert over_the_run.shallow_pixels_level_off(rising, who="ResNet152").holds
    unfinished = made("conv2", (3.0, 3.0), m_g=(3.0, 3.0))
    assert over_the_run.shallow_pixels_level_off(unfinished, who="x").verdict == "did not converge"


def test_width():
    start = ([[10.0] * 2, [5.0] * 2], [[10.0] * 2, [0.01] * 2])
    narrow = made("fc", (5.0, 5.0), m_g=(0.01, 0.01), curves=start)  # m_g / |y| = m_g / 3
    assert width.narrow_layer_loses_the_input(narrow, narrow).holds
    close = made("fc", (1.0, 1.0), m_g=(0.01, 0.01), curves=([[10.0] * 2, [1.0] * 2], start[1]))
    assert width.narrow_layer_loses_the_input(close, close).verdict == "fails"
    assert width.wide_net_reconstructs(made("fc", (0.01, 0.06)), narrow).verdict == "undecided"
    relu = [made("fc", (6.0, 6.0)), made("fc", (5.0, 5.0)), made("fc", (0.01, 0.01))]
    assert width.relu_needs_width(relu, narrow).holds
    assert not width.relu_needs_width(relu[::-1], narrow).holds
    assert width.relu_2n_is_not_enough(relu[1], narrow).verdict == "departs"
    late = {"1.2n everywhere": made("fc", (3.0, 3.0)), "last layer 4n": made("fc", (2.0, 3.5))}
    assert width.wider_last_layers_help(late).verdict == "undecided"


def test_width_pixels_follow_over_budgets():
    def at(m_i_narrow, m_g_narrow, m_i_wider, m_g_wider):
        return {"0.8n": made("fc", m_i_narrow, m_g=m_g_narrow), "1.2n": made("fc", m_i_wider, m_g=m_g_wider)}

    by_budget = {
        100: at((5.0, 5.0), (1.0, 1.0), (4.0, 4.0), (1.0, 1.0)),
        1000: at((4.9, 4.9), (0.1, 0.1), (0.4, 0.4), (0.1, 0.1)),
    }
    c = width.narrow_pixels_do_not_follow(by_budget)
    assert c.holds and c.statement.startswith("iterations 100 -> 1000") and "response_1_2n" in c.values
    by_budget[1000] = at((0.5, 0.5), (0.1, 0.1), (0.4, 0.4), (0.1, 0.1))  # the narrow net follows too
    assert not width.narrow_pixels_do_not_follow(by_budget).holds


def test_conditioning():
    exact = {
        (0, "a"): NS(
            error64=1e-6,
            error32=1e-2,
            sampled=T([500.0, 700.0, 600.0]),
            sampled_embedding=T([0.1] * 3),
            shifted=2.0,
            descent=1.0,
            descent_embedding=0.5,
            condition=1e9,
        )
    }
    per = conditioning.per_experiment(exact)
    assert per["sampled"].tolist() == [600.0] and per["sampled"].dtype == torch.float32
    norms = T([100.0])
    assert conditioning.float64_inverse_recovers(per, norms).holds
    assert conditioning.preimages_far_descent_near(per).holds
    assert conditioning.descent_farther_in_the_embedding(per).holds
    loss = conditioning.inverse_loses_what_conditioning_says(per, norms)
    assert not loss.holds and loss.values["float32"][0] < 0.01  # 1e-2 is far below 1e9 * 1.2e-7 * 100
    kappa = T([[1.0, 1.0], [10.0, 5.0], [100.0, 50.0], [1000.0, 90.0]])  # (layers, seeds)
    assert conditioning.condition_grows_with_depth(kappa).verdict == "undecided"
    assert (
        conditioning.longer_budget_helps(made("fc", (5.0, 5.0)), made("fc", (2.0, 4.0)), layers=4).verdict
        == "undecided"
    )


def test_pooling():
    bn1, before, after = made("bn1", (0.1, 0.1)), made("conv1_prepool", (0.2, 0.2)), made("conv1", (2.0, 2.0))
    c = pooling.pooling_loses_what_relu_keeps(bn1, before, after)
    assert c.holds and c.contrast_holds is False
    assert pooling.pooling_loses_what_relu_keeps(made("bn1", (0.01, 0.01)), before, after).verdict == "fails"
    c = pooling.reconstructs_before_pooling([bn1, before])
    assert c.holds and set(c.values) == {"m_i_bn1", "m_i_conv1_prepool", "shift"}
    assert pooling.trained_pooling_costs_little(before, after).verdict == "fails"
    assert pooling.trained_pooling_costs_little(before, made("conv1", (0.3, 0.3))).verdict == "departs"


def twins(trained_m_i, twin_m_i, m_g=(1.0, 1.0)):
    return {
        "trained": {n: made(n, trained_m_i, m_g=m_g) for n in ("stem", "stage7")},
        "untrained": {n: made(n, twin_m_i, m_g=m_g) for n in ("stem", "stage7")},
    }


def test_training_compares_per_target_with_the_twin():
    runs = twins((1.0, 1.0), (2.0, 2.0))
    measure = {label: {n: r.input_distance for n, r in res.items()} for label, res in runs.items()}
    assert training.early_stages_closer_after_training(runs, measure, ["stem"]).holds
    assert training.early_stages_more_similar_after_training(runs, measure, ["stem"]).verdict == "fails"
    assert (
        training.early_stages_closer_after_training(
            twins((1.0, 1.0), (2.0, 2.0), m_g=(3.0, 1.0)), measure, ["stem"]
        ).verdict
        == "did not converge"
    )
    keeps = {"trained": {"stage7": T([True, True])}, "untrained": {"stage7": T([False, True])}}
    far = twins((5.0, 5.0), (5.0, 5.0))  # 5 ||a' - a|| from the target
    assert training.deep_reconstructions_keep_the_class(far, keeps, ["stage7"]).holds
    assert not training.deep_reconstructions_keep_the_class(runs, keeps, ["stage7"]).holds  # not far
    kurtosis = {"trained": {"stage7": T([3.0, 2.0])}, "untrained": {"stage7": T([0.5, -0.5])}}
    assert training.twin_error_is_gaussian(runs, kurtosis).holds
    kurtosis["untrained"]["stage7"] = T([0.5, -1.5])
    assert not training.twin_error_is_gaussian(runs, kurtosis).holds


def test_training_deep_stages():
    trained = {"stage1": made("stage1", (1.0, 1.0)), "stage7": made("stage7", (4.0, 2.0))}
    assert training.trained_deep_stages_lose_the_target(trained, ["stage7"]).verdict == "undecided"
    long = made(
        "stage7",
        (4.0, 4.0),
        m_g=(0.5, 0.5),
        curves=([[5.0] * 2, [4.2] * 2, [4.0] * 2], [[8.0] * 2, [2.0] * 2, [0.5] * 2]),
    )
    assert training.longer_run_does_not_bring_it_back(long).holds
    slopes = {
        "trained": {"stem": T([-2.0, -2.0]), "stage7": T([-3.0, -3.0])},
        "untrained": {"stem": T([-2.0, -2.0]), "stage7": T([-2.0, -2.0])},
    }
    pulled = twins((1.0, 1.0), (1.0, 1.0))
    assert training.deep_stages_pull_to_steeper_spectra(pulled, slopes, ["stage7"]).holds
    slopes["trained"]["stem"] = T([-3.0, -2.0])  # steeper at the stem too: separates nothing
    assert training.deep_stages_pull_to_steeper_spectra(pulled, slopes, ["stage7"]).verdict == "fails"
    unblurred = twins((1.0, 1.0), (1.0, 1.0))
    assert training.more_mismatch_left_after_training(unblurred).verdict == "fails"  # as much left, not more


class Says(nn.Module):
    """A judge that names the same world for every image."""

    def __init__(self, world):
        super().__init__()
        self.logits = nn.Parameter(torch.eye(len(WORLDS))[list(WORLDS).index(world)], requires_grad=False)

    def forward(self, x):
        return self.logits.expand(len(x), -1)


def test_training_data_judge():
    accuracy = NS(clean=dict.fromkeys(WORLDS, 0.9), blurred={**dict.fromkeys(WORLDS, 0.9), "leaves": 0.5})
    assert training_data.judge_tells_every_world(accuracy).verdict == "undecided"
    photos = torch.rand(3, 3, 8, 8)
    assert training_data.judge_calls_photographs_photographs(Says("photos"), photos).holds
    assert training_data.judge_calls_photographs_photographs(Says("leaves"), photos).verdict == "fails"
    c = training_data.judge_names_larger_targets(
        Says("leaves"), torch.rand(2, 3, 16, 16), ["leaves", "noise"], 8
    )
    assert c.verdict == "undecided" and "drawn at 16 px and shown at 8 px" in c.statement


def pull(specificity, finished=True, kept_at_stem=(0.9, 0.6)):
    """A :class:`~depthrep.studies.WorldPull` as the claims read it: two layers, two seeds."""
    return NS(
        layers=("stem", "layer4"),
        specificity=lambda world: T(specificity),  # (seeds, layers)
        finished=lambda layer: T([finished, True]),
        kept=lambda: T([[[kept_at_stem[0], 0.1]], [[kept_at_stem[1], 0.2]]]),  # (models, seeds, layers)
    )


def test_training_data_pull():
    holds = pull([[0.0, 0.2], [0.1, 0.3]])  # (seeds, layers)
    assert training_data.own_world_at_the_last_layer(holds, "leaves").verdict == "holds"
    assert training_data.own_world_grows_with_depth(holds, "leaves").verdict == "holds"
    assert (
        training_data.own_world_at_the_last_layer(pull([[0.0, -0.2], [0.1, -0.3]]), "leaves").verdict
        == "departs"
    )
    assert (
        training_data.own_world_at_the_last_layer(pull([[0.0, 0.2]] * 2, False), "x").verdict
        == "did not converge"
    )
    assert training_data.first_layer_keeps_the_world(holds).holds
    natural = NS(
        layers=("stem", "stage5", "stage7"),
        converged=lambda layer: T([True]),
        member_pull=lambda world: T([[[[0.0]], [[0.2]], [[0.3]]]]),
    )  # (1, stages, starts, targets)
    assert training_data.imagenet_pulls_toward_photographs(natural).verdict == "holds"
    natural.member_pull = lambda world: T([[[[0.2]], [[0.2]], [[0.3]]]])  # pulls at the stem as well
    assert training_data.imagenet_pulls_toward_photographs(natural).verdict == "fails"


def test_training_data_filters():
    roughness = {UNTRAINED: T([1.0, 1.0]), "photos": T([0.5, 0.9]), "noise": T([0.95, 1.0])}
    c = training_data.structure_smooths_first_filters(roughness)
    assert c.verdict == "undecided" and set(c.values) == {"photos", "untrained"}
    assert training_data.noise_does_not_smooth_them(roughness).holds
    assert not training_data.noise_does_not_smooth_them({**roughness, "noise": T([0.5, 0.5])}).holds


def test_architectures_check_the_families_the_profile_ran():
    def ladder(*m_i, names=("conv1", "conv3", "conv5")):
        return {n: made(n, (v, v), shift=(1.0, 1.0)) for n, v in zip(names, m_i, strict=True)}

    runs = {"resnet50": ladder(0.5, 20.0, 30.0)}
    assert [c.verdict for c in architectures.farther_from_first_to_last(runs, ["resnet50", "vgg16"])] == [
        "holds"
    ]
    assert architectures.vgg_keeps_more_at_middle_depth(runs) == []
    assert architectures.vit_keeps_the_input(runs) == architectures.convnext_loses_at_the_stem(runs) == []
    assert architectures.non_unique_at_the_last_layer(runs, "resnet50")[0].verdict == "holds"
    runs["vgg16"] = ladder(0.5, 10.0, 40.0, names=("pool1", "pool3", "pool5"))
    assert architectures.vgg_keeps_more_at_middle_depth(runs)[0].holds
    runs["vit_b_16"] = ladder(1.0, 1.5, 10.0, names=("conv_proj", "block3", "block12"))
    assert architectures.vit_grows_slowly(runs)[0].verdict == "fails"  # 6.7x: not slow
    assert architectures.vit_keeps_the_input(runs)[0].verdict == "departs"
    runs["efficientnet_b0"] = {"stage7": made("stage7", (1.0, 1.0), m_g=(5.0, 5.0))}
    assert architectures.efficientnet_b0_stays_above_reference(runs)[0].verdict == "departs"


def test_more_claims_fail_or_depart_where_they_should():
    per = {
        "error64": T([1e-2]),
        "error32": T([1e-2]),
        "sampled": T([50.0]),
        "shifted": T([2.0]),
        "descent": T([1.0]),
        "descent_embedding": T([0.01]),
        "sampled_embedding": T([0.1]),
    }
    assert conditioning.float64_inverse_recovers(per, T([100.0])).verdict == "fails"
    assert conditioning.preimages_far_descent_near(per).verdict == "fails"
    assert conditioning.descent_farther_in_the_embedding(per).verdict == "fails"
    far = [made("bn1", (2.0, 0.5)), made("conv1_prepool", (2.0, 2.0))]
    assert pooling.reconstructs_before_pooling(far).verdict == "undecided"
    assert depth.paper_update_finds_shift_closer(made("conv2", (1.0, 1.0)), who="x").verdict == "fails"
    assert (
        training_data.first_layer_keeps_the_world(pull([[0.0, 0.0]], kept_at_stem=(0.9, 0.4))).verdict
        == "undecided"
    )
    left = {
        "trained": {
            "stem": made("stem", (1.0, 1.0), m_g=(0.5, 0.5), curves=([[1.0] * 2] * 2, [[1.0] * 2, [0.5] * 2]))
        },
        "untrained": {
            "stem": made("stem", (1.0, 1.0), m_g=(0.1, 0.1), curves=([[1.0] * 2] * 2, [[1.0] * 2, [0.1] * 2]))
        },
    }
    assert training.more_mismatch_left_after_training(left).verdict == "departs"
    gains = {
        "conv1": NS(largest=T([1.0, 1.0]), typical=T([1.0, 1.0]), error_ratio=T([1.0, 1.0])),
        "conv5": NS(largest=T([1.0, 1.0]), typical=T([1.0, 1.0]), error_ratio=T([0.6, 0.7])),
    }
    assert depth.error_not_among_most_contracted(gains, "conv1", "conv5", who="x").verdict == "departs"
    blocks = {"vit_b_16": {n: made(n, (v, v)) for n, v in [("block3", 1.0), ("block12", 1.5)]}}
    assert architectures.vit_grows_slowly(blocks)[0].verdict == "departs"
    falling = pull([[0.3, 0.1], [0.3, 0.2]])  # less specific at the last layer: a finding
    assert training_data.own_world_grows_with_depth(falling, "leaves").verdict == "departs"
    nowhere = NS(
        layers=("stem", "stage5", "stage7"),
        converged=lambda layer: T([True]),
        member_pull=lambda world: T([[[[0.0]], [[0.0]], [[0.05]]]]),
    )
    assert training_data.imagenet_pulls_toward_photographs(nowhere).verdict == "departs"


def test_convnext_loses_at_the_stem_and_no_more_after():
    def convnext(last):
        stem = made("stem", (3.0, 3.0), m_g=(0.5, 0.5), flat=(5.0, 5.0))  # m_i / flat 0.6, m_g / m_r 0.25
        return {"convnext_tiny": {"stem": stem, "stage4": made("stage4", (last, last), m_g=(0.5, 0.5))}}

    assert architectures.convnext_loses_at_the_stem(convnext(4.0))[0].verdict == "departs"
    assert architectures.convnext_loses_at_the_stem(convnext(5.0))[0].verdict == "fails"  # 1.67x the stem's


UNFINISHED = made("conv5", (9.0, 9.0), m_g=(1.0, 9.0), shift=(1.0, 1.0))  # member 2 ended above m_r


def guarded_claims(bad):
    """Every chapter claim that rests on finished runs, given one run that did not finish
    (the non-uniqueness inequality needs no guard: it asks for m_g < m_r itself)."""
    ok = made("conv1", (1.0, 1.0))
    pair = {"trained": {"stem": bad, "stage7": bad}, "untrained": {"stem": ok, "stage7": ok}}
    measure = {label: {n: T([1.0, 1.0]) for n in ("stem", "stage7")} for label in pair}
    keeps = {label: {"stage7": T([True, False])} for label in pair}
    runs = {
        "resnet50": {"conv1": ok, "conv3": ok, "conv5": bad},
        "vgg16": {"pool1": ok, "pool3": bad},
        "convnext_tiny": {"stem": bad, "stage4": ok},
        "vit_b_16": {"block3": ok, "block12": bad},
    }
    resnets = {"resnet50": {"conv2": ok, "conv5": ok}, "resnet152": {"conv2": ok, "conv5": bad}}
    grid = [NS(model="m", weights="w", results={"conv1": ok, "conv5": bad})]
    return [
        method.default_beats_the_paper_update(bad, ok),
        layers.last_layer_farther(grid, "conv5"),
        depth.farther_with_depth_at_most_one_step_back({"conv1": ok, "conv5": bad}, "conv5", who="x"),
        depth.matched_in_the_layer_lost_in_pixels(ok, bad, who="x"),
        *depth.deeper_model_shows_it_more(resnets, "conv5"),
        over_the_run.deep_pixels_rise_while_the_layer_matches(bad, who="x"),
        over_the_run.deep_pixels_follow_less_than_half(ok, bad, who="x"),
        over_the_run.deep_follows_less_over_the_run(ok, bad, who="x"),
        over_the_run.shallow_pixels_level_off(bad, who="x"),
        training.early_stages_closer_after_training(pair, measure, ["stem"]),
        training.early_stages_more_similar_after_training(pair, measure, ["stem"]),
        training.trained_deep_stages_lose_the_target({"stage1": ok, "stage7": bad}, ["stage7"]),
        training.longer_run_does_not_bring_it_back(bad),
        training.deep_reconstructions_keep_the_class(pair, keeps, ["stage7"]),
        training.twin_error_is_gaussian(pair, measure),
        training.deep_stages_pull_to_steeper_spectra(pair, measure, ["stage7"]),
        *architectures.farther_from_first_to_last(runs, ["resnet50"]),
        *architectures.vgg_keeps_more_at_middle_depth({**runs, "resnet50": {"conv1": ok, "conv3": ok}}),
        *architectures.convnext_loses_at_the_stem(runs),
        *architectures.vit_keeps_the_input(runs),
        *architectures.vit_grows_slowly(runs),
    ]  # fmt: skip


def test_every_claim_on_finished_runs_refuses_a_verdict_on_an_unfinished_one():
    claims = guarded_claims(UNFINISHED)
    assert len(claims) == 21
    assert {c.statement: c.verdict for c in claims} == {c.statement: "did not converge" for c in claims}
    assert all(c.converged for c in guarded_claims(made("conv5", (9.0, 9.0), shift=(1.0, 1.0))))
