import pytest
import torch

from depthrep.studies import worlds


@pytest.mark.parametrize("name", list(worlds.WORLDS))
def test_every_world_is_images_in_range_with_its_labels_and_a_seed_fixes_it(name):
    world = worlds.WORLDS[name]
    images, labels = worlds.draw(name, 12, 24, seed=3)
    assert images.shape == (12, 3, 24, 24) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1 and images.std() > 0.05
    assert labels.shape == (12,) and 0 <= int(labels.min()) and int(labels.max()) < world.classes
    again, same = worlds.draw(name, 12, 24, seed=3)
    assert torch.equal(again, images) and torch.equal(same, labels)
    assert not torch.equal(worlds.draw(name, 12, 24, seed=4)[0], images)


def test_grating_labels_are_their_orientation():
    images, labels = worlds.draw("gratings", 200, 32, seed=0)
    grey = images.mean(1)
    along_x = (grey[..., :, 1:] - grey[..., :, :-1]).abs().mean(dim=(-2, -1))
    along_y = (grey[..., 1:, :] - grey[..., :-1, :]).abs().mean(dim=(-2, -1))
    vertical_stripes, horizontal_stripes = labels == 0, labels == worlds.ORIENTATIONS // 2
    assert vertical_stripes.sum() > 10 and horizontal_stripes.sum() > 10
    assert (along_x[vertical_stripes] > along_y[vertical_stripes]).float().mean() > 0.9
    assert (along_y[horizontal_stripes] > along_x[horizontal_stripes]).float().mean() > 0.9


def test_leaf_labels_grow_with_disc_size():
    images, labels = worlds.draw("leaves", 200, 32, seed=0)
    edges = (images[..., 1:, :] != images[..., :-1, :]).any(1).float().mean(dim=(-2, -1))
    per_class = [float(edges[labels == k].mean()) for k in range(len(worlds.LEAF_SIZES))]
    assert per_class == sorted(per_class, reverse=True)  # larger discs: fewer borders


def test_noise_is_the_papers_control_clipped():
    images, _ = worlds.draw("noise", 8, 32, seed=0)
    assert abs(float(images.mean()) - 0.5) < 0.01 and 0.2 < float(images.std()) < 0.25


def test_a_world_looks_the_same_at_any_size():
    small, _ = worlds.draw("gratings", 4, 32, seed=1)
    large, _ = worlds.draw("gratings", 4, 128, seed=1)
    shrunk = torch.nn.functional.interpolate(large, size=32, mode="area")
    assert (shrunk - small).abs().mean() < 0.03


def test_mixture_labels_each_sample_by_its_world_and_augment_keeps_range():
    g = torch.Generator().manual_seed(0)
    images, which = worlds.mixture(64, 16, g)
    assert set(which.tolist()) == set(range(len(worlds.WORLDS)))
    noise = list(worlds.WORLDS).index("noise")
    assert images[which == noise].std(dim=(-2, -1)).mean() > images[which != noise].std(dim=(-2, -1)).mean()
    out = worlds.augment(images, torch.Generator().manual_seed(1))
    assert out.shape == images.shape and 0 <= out.min() and out.max() <= 1
    changed = (out - images).flatten(1).abs().amax(1) > 1e-6
    assert 0.5 < changed.float().mean() < 1  # most images changed, about 1 in 8 left alone
    assert torch.equal(out, worlds.augment(images, torch.Generator().manual_seed(1)))


def test_unknown_world_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"Unknown world 'grating'.*gratings.*photos, gratings, leaves, noise"
    ):
        worlds.draw("grating", 1, 8)


def test_held_out_photos_are_no_world_s_training_photos():
    assert not set(worlds.HELD_OUT) & set(worlds.TRAIN_PHOTOS)


def test_an_unknown_split_is_refused_not_taken_for_validation():
    for call in (lambda: worlds.draw("photos", 2, 16, split="val"),
                 lambda: worlds.mixture(2, 16, torch.Generator(), split="test")):  # fmt: skip
        with pytest.raises(ValueError, match="split must be one of train, validation"):
            call()
