import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import ExifTags, Image

from depthrep import load_image, load_images, samples
from depthrep.errors import ImageError
from depthrep.zoo import images


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


def test_load_images_stacks_targets_in_order_at_one_size():
    wide, tall = torch.rand(3, 10, 30), torch.rand(3, 40, 12)
    batch = load_images([wide, "rocket", tall], 9)
    assert batch.shape == (3, 3, 9, 9)
    for row, source in zip(batch, [wide, "rocket", tall], strict=True):
        assert torch.equal(row, load_image(source, 9)[0])
    for bad in ("rocket", [], None):
        with pytest.raises(ImageError, match="list of images"):
            load_images(bad, 9)


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


def _png(width: int, height: int, pixels: bytes = b"", bit_depth: int = 8, colour: int = 2) -> bytes:
    """A PNG file written by hand: ``pixels`` are the raw rows (filter bytes included). With none,
    only the header is honest: a decoder that went on to read the pixels would find them missing."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    body = zlib.compress(pixels or b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [30000, 9500])  # beyond Pillow's bomb limit; within it, beyond ours
@pytest.mark.parametrize("size", [None, 32, (32, 48)])
def test_a_picture_declaring_too_many_pixels_is_refused_before_decoding(side, size, tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(_png(side, side))  # the header alone: decoding would fail on the missing pixels
    with pytest.raises(ImageError, match=rf"{path} has .* pixels, more than depthrep decodes \(MAX_PIXELS"):
        load_image(path, size)


def test_a_large_jpeg_is_decoded_near_the_requested_size(tmp_path, monkeypatch):
    across, down = np.meshgrid(np.linspace(0, 255, 400), np.linspace(0, 255, 300))
    picture = Image.fromarray(np.stack([across, down, np.full_like(across, 128)], -1).astype(np.uint8))
    picture.save(tmp_path / "big.jpg", quality=95)
    picture.save(tmp_path / "big.png")
    full = images.resize(load_image(tmp_path / "big.jpg"), 16)
    monkeypatch.setattr(images, "MAX_PIXELS", 400 * 300 // 16)  # a quarter of each side fits, no more
    small = load_image(tmp_path / "big.jpg", 16)  # decoded at 1/4 or 1/8 scale
    torch.testing.assert_close(small, full, atol=0.03, rtol=0)
    with pytest.raises(ImageError, match="MAX_PIXELS"):
        load_image(tmp_path / "big.jpg")  # at full size: over the limit
    with pytest.raises(ImageError, match="MAX_PIXELS"):
        load_image(tmp_path / "big.png", 16)  # a PNG cannot be decoded at a smaller scale


@pytest.mark.parametrize("size", [9, (7, 12)])
def test_large_pictures_box_reduced_first_look_as_if_resized_from_full_size(size, tmp_path):
    down, across = np.meshgrid(np.linspace(0, np.pi, 121), np.linspace(0, 2 * np.pi, 203), indexing="ij")
    waves = 127.5 + 127 * np.sin(across) * np.cos(down)  # odd sides: the reduction drops a few edge pixels
    Image.fromarray(waves.round().astype(np.uint8)).save(tmp_path / "wide.png")
    reduced = load_image(tmp_path / "wide.png", size)
    full = images.resize(load_image(tmp_path / "wide.png"), size)
    torch.testing.assert_close(reduced, full, atol=0.03, rtol=0)  # 0.11 when the square was not the same


def test_exif_orientation_turns_the_photo_upright(tmp_path):
    stored = Image.new("RGB", (4, 2), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 2, 2))  # red left half, blue right half, as stored
    exif = stored.getexif()
    exif[ExifTags.Base.Orientation] = 6  # the camera was turned: rotate 90 degrees clockwise to view
    stored.save(tmp_path / "turned.png", exif=exif.tobytes())
    image = load_image(tmp_path / "turned.png")
    assert image.shape == (1, 3, 4, 2)  # upright: taller than wide
    red, blue = torch.tensor([1.0, 0, 0]), torch.tensor([0, 0, 1.0])
    assert torch.equal(image[0, :, :2].permute(1, 2, 0), red.expand(2, 2, 3))  # the stored left is the top
    assert torch.equal(image[0, :, 2:].permute(1, 2, 0), blue.expand(2, 2, 3))


def test_colour_spaces_and_transparency_of_files(tmp_path):
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=100)  # red in ink
    torch.testing.assert_close(
        load_image(tmp_path / "cmyk.jpg")[0, :, 0, 0], torch.tensor([1.0, 0, 0]), atol=0.02, rtol=0
    )
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.putpixel((1, 0), 1)
    palette.save(tmp_path / "palette.png", transparency=0)  # colour 0 transparent: white; colour 1 red
    assert torch.equal(
        load_image(tmp_path / "palette.png")[0, :, 0], torch.tensor([[1.0, 1], [1, 0], [1, 0]])
    )
    Image.fromarray(np.array([[[0, 0], [0, 255]]], dtype=np.uint8).reshape(1, 2, 2), "LA").save(
        tmp_path / "la.png"
    )
    assert torch.equal(load_image(tmp_path / "la.png")[0, 0, 0], torch.tensor([1.0, 0]))  # clear black: white


def test_sixteen_bit_files(tmp_path):
    Image.fromarray(np.full((2, 3), 32768, dtype=np.uint16)).save(tmp_path / "grey16.png")
    assert torch.equal(load_image(tmp_path / "grey16.png"), torch.full((1, 3, 2, 3), 32768 / 65535))
    rows = b"".join(b"\0" + bytes.fromhex("8000" * 3) * 2 for _ in range(2))  # 2 x 2 RGB at 16 bits
    (tmp_path / "rgb16.png").write_bytes(_png(2, 2, rows, bit_depth=16))
    torch.testing.assert_close(load_image(tmp_path / "rgb16.png"), torch.full((1, 3, 2, 2), 128 / 255))


@pytest.mark.parametrize(
    "dtype, top",  # top: the value that means white
    [(">f4", 1), (">f8", 1), ("<f4", 1), (">u2", 65535), (">i8", 255), (">i4", 65535)],
)
def test_byte_order_does_not_matter(dtype, top):
    levels = np.array([[0, 51], [102, 255]])  # 0, 0.2, 0.4, 1 of white
    array = (levels / 255 if top == 1 else levels * (top // 255)).astype(dtype)
    expected = torch.tensor([[0, 0.2], [0.4, 1]]).expand(1, 3, 2, 2)
    torch.testing.assert_close(load_image(array), expected)


@pytest.mark.filterwarnings("ignore:.*(quantized|nested):UserWarning")  # torch: deprecated, prototype
def test_tensors_of_every_kind():
    assert torch.equal(load_image(torch.full((3, 2, 2), 65535, dtype=torch.uint16)), torch.ones(1, 3, 2, 2))
    sparse = torch.eye(3).to_sparse()
    assert torch.equal(load_image(sparse), torch.eye(3).expand(1, 3, 3, 3))
    assert torch.equal(
        load_image(torch.full((3, 2, 2), 0.5, dtype=torch.bfloat16)), torch.full((1, 3, 2, 2), 0.5)
    )
    with pytest.raises(ImageError, match="meta device"):
        load_image(torch.empty(3, 2, 2, device="meta"))
    with pytest.raises(ImageError, match="dequantize"):
        load_image(torch.quantize_per_tensor(torch.rand(3, 2, 2), 0.1, 0, torch.quint8))
    with pytest.raises(ImageError, match="nested"):
        load_image(torch.nested.nested_tensor([torch.rand(3, 2, 2), torch.rand(3, 4, 4)]))


def test_a_long_thin_picture_is_cropped_before_it_is_scaled(tmp_path):
    from depthrep.zoo.images import _central_band, resize

    wave = 0.5 + 0.4 * torch.sin(torch.arange(2000) * 2 * torch.pi / 100)  # smooth: shows where it was cut
    strip = wave.expand(1, 3, 3, 2000) * torch.tensor([1.0, 0.8, 0.6]).view(1, 3, 1, 1)
    band, scaled = _central_band(strip, 32)
    assert band.shape[-1] < 40 and scaled[0] == 32
    full = resize(strip, 32)  # 32 x 21,333 pixels: small enough to scale whole, the reference
    # the same part of the picture, up to the alignment of two rounded scalings (under a source pixel)
    assert (resize(band, 32) - full).abs().mean() < 0.02
    # 1,000,000 x 1 is 1 megapixel, under MAX_PIXELS, but scaled whole to 32 px it is 32 x 32,000,000
    Image.new("RGB", (1_000_000, 1), (200, 40, 90)).save(tmp_path / "line.png")
    image = load_image(tmp_path / "line.png", 32)
    assert image.shape == (1, 3, 32, 32)
    torch.testing.assert_close(image[0, :, 0, 0], torch.tensor([200, 40, 90]) / 255, rtol=0, atol=1e-6)


def test_a_path_always_means_a_file_and_a_sample_name_that_is_also_a_file_warns(tmp_path, monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ImageError, match=r"No image file at chelsea; the sample .* load_image\('chelsea'\)"):
        load_image(Path("chelsea"), 16)
    Image.new("RGB", (16, 16), "red").save(tmp_path / "chelsea", format="PNG")
    with pytest.warns(UserWarning, match="names a sample and a file here: loading the sample"):
        sample = load_image("chelsea", 16)
    red = load_image(Path("chelsea"), 16)
    assert torch.equal(red[0, 0], torch.ones(16, 16)) and not torch.equal(sample, red)
