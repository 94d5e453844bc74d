import numpy as np
import pytest
import torch
from PIL import Image

from depthrep import ImageError, load_image, samples


@pytest.mark.parametrize("name", ["grace_hopper", "astronaut", "camera"])
def test_samples_load_as_rgb_in_unit_range(name):
    image = load_image(name, 40)
    assert image.shape == (1, 3, 40, 40)
    assert image.dtype == torch.float32
    assert 0 <= image.min() and image.max() <= 1
    assert image.std() > 0.05  # a photo, not a flat image


def test_every_listed_sample_loads():
    for name in samples():
        assert load_image(name, 8).shape == (1, 3, 8, 8)


def test_int_size_crops_centre_square_and_pair_resizes_exactly():
    wide = torch.zeros(3, 10, 30)
    wide[:, :, 10:20] = 1  # a white band in the middle third
    square = load_image(wide, 10)
    assert square.shape == (1, 3, 10, 10)
    assert torch.allclose(square, torch.ones_like(square))  # the crop is the centre
    assert load_image(wide, (5, 7)).shape == (1, 3, 5, 7)


def test_uint8_scaled_by_255_and_grey_repeated():
    array = np.array([[0, 255], [51, 102]], dtype=np.uint8)
    image = load_image(array)
    assert image.shape == (1, 3, 2, 2)
    assert torch.allclose(image[0, 1], torch.tensor([[0.0, 1.0], [0.2, 0.4]]))


def test_sixteen_bit_and_wide_integers():
    assert load_image(np.full((2, 2), 65535, dtype=np.uint16)).max() == 1
    assert torch.isclose(load_image(np.full((2, 2), 255, dtype=np.int64)).max(), torch.tensor(1.0))
    assert torch.isclose(load_image(np.full((2, 2), 1000, dtype=np.int32)).max(), torch.tensor(1000 / 65535))
    pil16 = Image.fromarray(np.full((3, 3), 32768, dtype=np.uint16))
    assert torch.isclose(load_image(pil16).mean(), torch.tensor(32768 / 65535), atol=1e-4)


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)  # fully transparent black
    path = tmp_path / "clear.png"
    Image.fromarray(rgba, "RGBA").save(path)
    assert torch.allclose(load_image(path), torch.ones(1, 3, 2, 2))
    assert torch.allclose(load_image(rgba), torch.ones(1, 3, 2, 2))


def test_palette_and_channel_first_tensors():
    palette = Image.new("P", (4, 4))
    palette.putpalette([255, 0, 0] * 256)
    assert torch.allclose(load_image(palette)[0, :, 0, 0], torch.tensor([1.0, 0, 0]))
    chw = torch.rand(3, 5, 6)
    assert torch.equal(load_image(chw)[0], chw)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("no/such/file.png", "No image file"),
        ("grace_hoper", "grace_hopper"),  # suggests the nearest sample
        (np.full((4, 4), np.nan, dtype=np.float32), "NaN"),
        (np.full((4, 4), 2.0), r"\[0, 1\]"),
        (np.zeros((4, 4, 2)), "shape"),
        (np.zeros((0, 4)), "empty"),
        (np.array([["a"]]), "dtype"),
        (np.full((2, 2), -1, dtype=np.int16), "non-negative"),
        (42, "Cannot make an image"),
    ],
)
def test_bad_input_names_the_problem(source, message):
    with pytest.raises(ImageError, match=message):
        load_image(source)


def test_unreadable_files_and_folders(tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("not a picture")
    with pytest.raises(ImageError, match="Cannot read"):
        load_image(fake)
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)


@pytest.mark.parametrize("size", [0, -3, 2.5, "big", 10**6, (4,)])
def test_bad_sizes(size):
    with pytest.raises(ImageError):
        load_image("grace_hopper", size)
