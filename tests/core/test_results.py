"""Results joined over runs and split back into members."""

import dataclasses

import numpy as np
import pytest
import torch

import depthrep


@pytest.fixture(scope="module")
def two_runs(resnet18, hopper32):
    return [
        depthrep.invert(resnet18, hopper32, ["conv1", "conv3"], 3, seed=s, record_every=1, progress=False)
        for s in (0, 1)
    ]


def test_concat_then_select_gives_each_run_back(two_runs):
    joined = depthrep.concat_results(two_runs)
    assert len(joined["conv3"].image) == 2
    for member, run in enumerate(two_runs):
        for name in ("conv1", "conv3"):
            picked, original = joined[name].select([member]), run[name]
            for field in dataclasses.fields(original):
                a, b = getattr(picked, field.name), getattr(original, field.name)
                if isinstance(a, torch.Tensor):
                    assert torch.equal(a, b), field.name
            assert torch.equal(picked.history.input_distance, original.history.input_distance)
            assert torch.equal(picked.history.embedding_distance, original.history.embedding_distance)
            assert picked.layer == name and picked.steps == original.steps


def test_members_are_labelled_and_picked_and_averaged_by_label(resnet18, hopper32, two_runs):
    pair = torch.cat([hopper32, hopper32.flip(-1)])
    other = depthrep.invert(resnet18, pair, ["conv1", "conv3"], 3, seed=5, record_every=1, progress=False)
    assert other["conv3"].labels == {"target": (0, 1), "seed": (5, 5)}
    joined = depthrep.concat_results([*two_runs, other], model=["a", "a", "b"])["conv3"]
    assert joined.labels == {"target": (0, 0, 0, 1), "seed": (0, 1, 5, 5), "model": ("a", "a", "b", "b")}
    assert joined.values_of("seed") == (0, 1, 5) and joined.values_of("target") == (0, 1)
    assert torch.equal(joined.select(seed=1).image, two_runs[1]["conv3"].image)
    assert torch.equal(joined.select(model="b", target=1).image, other["conv3"].image[1:])
    assert joined.select(model="b").labels == {"target": (0, 1), "seed": (5, 5), "model": ("b", "b")}
    assert joined.select([3, 0]).labels["seed"] == (5, 0)  # by position, labels follow
    m_i = joined.input_distance
    expected = torch.stack([m_i[:3].mean(), m_i[3]])  # target 0: three members; target 1: one
    torch.testing.assert_close(joined.mean_per("target", "input_distance"), expected)
    torch.testing.assert_close(joined.mean_per("target", m_i), expected)
    per_model = torch.stack([joined.shift_ratio[:2].mean(), joined.shift_ratio[2:].mean()])
    torch.testing.assert_close(joined.mean_per("model", "shift_ratio"), per_model)


def test_bad_labels_are_refused_with_what_there_is(two_runs):
    joined = depthrep.concat_results(two_runs, start=["x", "y"])["conv3"]
    with pytest.raises(
        depthrep.errors.LabelError, match=r"'sed'. Did you mean 'seed'\? .*target, seed, start"
    ):
        joined.select(sed=0)
    with pytest.raises(depthrep.errors.LabelError, match=r"start='z': the values are 'x', 'y'"):
        joined.select(start="z")
    with pytest.raises(KeyError):  # a LabelError is a KeyError
        joined.mean_per("model", "input_distance")
    with pytest.raises(ValueError, match="one value per member"):
        joined.mean_per("seed", torch.ones(3))
    with pytest.raises(TypeError, match="not both"):
        joined.select([0], seed=0)
    with pytest.raises(ValueError, match="one value per run"):
        depthrep.concat_results(two_runs, model=["a"])
    with pytest.raises(ValueError, match="already labelled"):
        depthrep.concat_results(two_runs, seed=[7, 8])
    with pytest.raises(ValueError, match="different labels"):
        depthrep.concat_results([depthrep.concat_results([two_runs[0]], model=["a"]), two_runs[1]])


def test_members_alike_after_a_join_are_refused_and_label_values_are_plain(two_runs):
    with pytest.raises(ValueError, match=r"same labels \{'target': 0, 'seed': 0\}: add a label"):
        depthrep.concat_results([two_runs[0], two_runs[0]])  # two runs of one image and seed
    joined = depthrep.concat_results([two_runs[0], two_runs[0]], lr=[torch.tensor(0.1), np.float64(0.2)])
    assert joined["conv1"].labels["lr"] == (pytest.approx(0.1), 0.2)
    assert all(type(v) is float for v in joined["conv1"].labels["lr"])  # numbers, not tensors
    assert joined["conv1"].select(lr=0.2).labels["lr"] == (0.2,)
    with pytest.raises(ValueError, match="plain values"):
        depthrep.concat_results([two_runs[0], two_runs[0]], lr=[[0.1], [0.2]])


def test_a_combination_no_member_has_is_refused(two_runs):
    joined = depthrep.concat_results(two_runs, start=["x", "y"])["conv3"]
    with pytest.raises(depthrep.errors.LabelError, match="seed=0, start='y' together"):
        joined.select(seed=0, start="y")


def test_the_callback_sees_labelled_results(resnet18, hopper32):
    pair = torch.cat([hopper32, hopper32.flip(-1)])
    for budget, expected in ((None, {(0, 1)}), (1, {(0,), (1,)})):  # 1 byte: a chunk per layer and image
        seen = []

        def callback(step, results, seen=seen):
            seen.extend((r.labels["target"], r.labels["seed"]) for r in results.values())

        depthrep.invert(resnet18, pair, ["conv1", "conv2"], 2, seed=4, callback=callback, progress=False,
                        memory_budget=budget)  # fmt: skip
        assert {target for target, _ in seen} == expected
        assert all(seeds == (4,) * len(target) for target, seeds in seen)


def test_concat_refuses_runs_recorded_at_different_steps(resnet18, hopper32, two_runs):
    other = depthrep.invert(resnet18, hopper32, ["conv1", "conv3"], 3, record_every=2, progress=False)
    with pytest.raises(ValueError, match="record_every"):
        depthrep.concat_results([two_runs[0], other])
    with pytest.raises(ValueError, match="at least one"):
        depthrep.concat_results([])


def test_summary_gives_each_members_numbers_and_none_where_undefined(two_runs, hopper32):
    r = depthrep.concat_results(two_runs)["conv3"]
    for member in (0, 1):
        n = r.summary(member, hopper32)
        m_i, m_g, m_r = (float(getattr(r, f)[member]) for f in ("input_distance", "embedding_distance",
                                                                 "reference_distance"))  # fmt: skip
        assert n["m_i"] == pytest.approx(m_i) and n["m_g_over_m_r"] == pytest.approx(m_g / m_r)
        assert n["relative_m_g"] == pytest.approx(m_g / float(r.target_norm[member]))
        assert n["psnr"] == pytest.approx(
            float(depthrep.core.scores.psnr(r.image[member : member + 1], hopper32)[0])
        )
        assert n["ssim"] == pytest.approx(
            float(depthrep.core.scores.ssim(r.image[member : member + 1], hopper32)[0])
        )
        assert n["diverged_at"] is None
    assert r.summary(0)["ssim"] is None  # no target given
    torch.testing.assert_close(r.reference_ratio, r.embedding_distance / r.reference_distance)
    torch.testing.assert_close(r.shift_ratio, r.input_distance / r.shift_distance)
    assert r.summary(1)["m_i_over_shift"] == pytest.approx(float(r.shift_ratio[1]))
    flat = (hopper32 - hopper32.mean(dim=(2, 3), keepdim=True)).flatten().norm()  # one target, two starts
    torch.testing.assert_close(r.flat_distance, flat.repeat(2))
    torch.testing.assert_close(r.flat_ratio, r.input_distance / flat)
    assert r.summary(1)["m_i_over_flat"] == pytest.approx(float(r.flat_ratio[1]))
    zero = dataclasses.replace(r, target_norm=torch.zeros(2), reference_distance=torch.zeros(2))
    n = zero.summary(1)
    assert (
        n["relative_m_g"] is None
        and n["m_g_over_m_r"] is None
        and n["m_i"] == pytest.approx(float(r.input_distance[1]))
    )
    perfect = dataclasses.replace(r, input_distance=torch.zeros(2), diverged_at=torch.tensor([-1, 7]))
    assert perfect.summary(0)["psnr"] is None and perfect.summary(1)["diverged_at"] == 7


def test_over_starts_joins_one_models_runs_and_helpers_read_them(resnet18, hopper32):
    joined = depthrep.invert_over_starts(resnet18, hopper32, ["conv1"], 3, seeds=(0, 1), record_every=1)
    for k, run in enumerate(two_runs_of(resnet18, hopper32)):
        assert torch.equal(joined["conv1"].image[k], run["conv1"].image[0])
    r = joined["conv1"]
    first = r.history.embedding_distance[0]
    torch.testing.assert_close(r.history.embedding_left(), r.embedding_distance / first)
    h = r.history  # records at steps 0, 1, 2, 3: fraction 0.5 of the run is step 2 (index 2)
    torch.testing.assert_close(h.input_fall(), h.input_distance[2] / r.input_distance)
    torch.testing.assert_close(h.embedding_fall(), h.embedding_distance[2] / r.embedding_distance)
    torch.testing.assert_close(
        h.input_response(), (h.input_fall().log() / h.embedding_fall().log()), rtol=1e-4, atol=1e-5
    )


def two_runs_of(model, image):
    return [depthrep.invert(model, image, ["conv1"], 3, seed=s, progress=False) for s in (0, 1)]


def test_fall_per_decade_is_the_geometric_rate_between_budgets(two_runs):
    at = {10: two_runs[0], 1000: two_runs[1]}
    start, end = two_runs[0]["conv3"].input_distance, two_runs[1]["conv3"].input_distance
    torch.testing.assert_close(depthrep.fall_per_decade(at, "conv3"), (start / end) ** 0.5)
    at[100] = two_runs[0]
    torch.testing.assert_close(depthrep.fall_per_decade(at, "conv3", first=-2), start / end)


def test_response_over_budgets_is_the_log_log_slope_between_runs(two_runs):
    first, last = (run["conv3"] for run in two_runs)
    slope = (last.input_distance / first.input_distance).log() / (
        last.embedding_distance / first.embedding_distance
    ).log()
    at = {10: two_runs[1], 100: two_runs[0], 4000: two_runs[1]}  # the last span: 100 -> 4000
    torch.testing.assert_close(depthrep.response_over_budgets(at, "conv3"), slope)
    far_apart = {10: two_runs[0], 10**6: two_runs[1]}  # the same two runs: the same slope
    torch.testing.assert_close(depthrep.response_over_budgets(far_apart, "conv3"), slope)


def test_targets_of_picks_each_members_target_by_its_label():
    import depthrep

    model = depthrep.load_model("resnet18", device="cpu")
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    joined = depthrep.invert_over_starts(model, images, ["conv1"], 2, (0, 1), progress=False)["conv1"]
    picked = joined.targets_of(images)
    assert picked.shape == (4, 3, 16, 16)
    for member, target in enumerate(joined.labels["target"]):
        assert torch.equal(picked[member], images[target])
