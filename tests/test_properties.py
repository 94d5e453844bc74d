"""Bad input, tried widely (hypothesis): every failure is a documented error with a readable message."""

import functools
import io
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import depthrep
from depthrep import DepthrepError, load_image
from depthrep.errors import ImageError, UnknownLayerError, UnknownModelError
from depthrep.profiles import get_profile
from depthrep.zoo.layers import resolve

BIG_ENDIAN = [
    np.dtype(">f4"),
    np.dtype(">u2"),
    np.dtype(">i8"),
]  # a big-endian file's data, as NumPy reads it
DTYPES = st.sampled_from(
    [np.uint8, np.uint16, np.int32, np.int64, np.float16, np.float32, np.float64, np.bool_, *BIG_ENDIAN]
)
SHAPES = st.one_of(
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=9),
    st.tuples(st.integers(0, 9), st.integers(0, 9), st.sampled_from([1, 2, 3, 4, 5])),
    hnp.array_shapes(min_dims=1, max_dims=5, min_side=1, max_side=4),
)
quick = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def valid(image: torch.Tensor) -> bool:
    return (
        image.ndim == 4 and image.shape[:2] == (1, 3) and image.dtype == torch.float32
        and bool(torch.isfinite(image).all()) and 0 <= float(image.min()) <= float(image.max()) <= 1
    )  # fmt: skip


@quick
@given(array=hnp.arrays(DTYPES, SHAPES, elements={"allow_nan": True, "allow_infinity": True}))
def test_any_array_loads_or_raises_image_error(array):
    sources = [array] + ([torch.from_numpy(array)] if array.dtype.isnative else [])  # tensors: native only
    for source in sources:
        try:
            image = load_image(source)
        except ImageError as err:
            assert str(err) and "\n" not in str(err)
        else:
            assert valid(image)


@quick
@given(array=hnp.arrays(DTYPES, st.tuples(st.integers(1, 6), st.integers(1, 6), st.sampled_from([1, 3, 4]))))
def test_arrays_in_range_always_load(array):
    if array.dtype.kind == "f":
        array = np.clip(np.nan_to_num(array), 0, 1)
    elif array.dtype.kind in "iu":
        array = np.clip(array, 0, 65535)
    image = load_image(array)
    assert valid(image) and image.shape[-2:] == array.shape[:2]


@quick
@given(data=st.binary(max_size=200))
def test_any_file_named_png_loads_or_raises_image_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("files") / "picture.png"
    path.write_bytes(data)
    try:
        image = load_image(path)
    except ImageError as err:
        assert str(path) in str(err)
    else:
        assert valid(image)


@pytest.mark.parametrize(
    "mode", ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "I", "I;16", "F", "YCbCr"]
)
def test_every_pil_mode_loads(mode, tmp_path):
    image = Image.new(mode, (5, 4))
    assert valid(load_image(image))
    buffer = io.BytesIO()
    if mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
        image.save(buffer, format="PNG")
        path = tmp_path / "image.png"
        path.write_bytes(buffer.getvalue())
        assert valid(load_image(path))


@quick
@given(size=st.one_of(st.integers(-3, 12), st.floats(allow_nan=True), st.text(max_size=3), st.none()))
def test_sizes_resize_or_raise_image_error(size):
    source = np.zeros((6, 8, 3), dtype=np.uint8)
    try:
        image = load_image(source, size)
    except ImageError:
        assert not (isinstance(size, int) and 1 <= size) and size is not None
    else:
        assert valid(image)
        if isinstance(size, int):
            assert image.shape[-2:] == (size, size)


@quick
@given(name=st.text(max_size=12))
def test_unknown_names_list_the_valid_ones(name):
    if name not in depthrep.profiles.PROFILES:
        with pytest.raises(ValueError, match="ci, laptop, workstation, paper"):
            get_profile(name)
    if name not in depthrep.model_names() and depthrep.zoo.models.parse_fc_name(name) is None:
        with pytest.raises(UnknownModelError, match="resnet50"):
            depthrep.load_model(name, device="meta")


@settings(max_examples=40, deadline=None)
@given(name=st.text(min_size=1, max_size=12))
def test_unknown_layers_list_the_valid_ones(resnet18, name):
    try:
        resolve(resnet18, name)
    except UnknownLayerError as err:
        assert "conv1_prepool, conv1, conv2, conv3, conv4, conv5" in str(err)


def _set_first_pixel(x, value: float):
    """``x`` with its first value set to ``value``, when it is a non-empty float tensor."""
    if not x.is_floating_point() or x.numel() == 0:
        return x
    x = x.contiguous().clone()
    x.view(-1)[0] = value
    return x


# invert's targets: a good one spoiled in up to two ways (the mistakes users make), or anything at
# all (any layout, dtype and values). A target is a tensor or a NumPy array.
BAD_VALUES = (math.nan, math.inf, -0.1, 1.5, 255.0)
SPOILERS = {
    "unbatched": lambda x: x[0],
    "channels last": lambda x: x.permute(0, 2, 3, 1),
    "5-D": lambda x: x[None],
    "grey": lambda x: x[:, :1],
    "RGBA": lambda x: torch.cat([x, torch.ones_like(x[:, :1])], 1),
    "empty batch": lambda x: x[:0],
    "1x1": lambda x: x[..., :1, :1],
    "NumPy": lambda x: x.float().numpy() if x.dtype == torch.bfloat16 else x.numpy(),
    "uint8": lambda x: (x * 255).to(torch.uint8),
    "int64": lambda x: (x * 255).to(torch.int64),
    "bool": lambda x: x > 0.5,
    "float16": lambda x: x.to(torch.float16),  # documented: float16 to float64 are good
    "float64": lambda x: x.to(torch.float64),
    "bfloat16": lambda x: x.to(torch.bfloat16),
    **{f"a pixel {v}": functools.partial(_set_first_pixel, value=v) for v in BAD_VALUES},
}
ANY_DTYPE = st.sampled_from(
    [torch.float32, torch.float64, torch.float16, torch.uint8, torch.int32, torch.bool]
)
ANY_SHAPE = hnp.array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=4)
PIXELS = st.one_of(st.floats(0, 1), st.sampled_from(BAD_VALUES))
FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)  # check_image's documented dtypes
SMALLEST = 2  # the default method's 3x3 blur pads by one pixel a side


@st.composite
def spoiled_targets(draw):
    shape = (draw(st.integers(1, 2)), 3, draw(st.integers(SMALLEST, 5)), draw(st.integers(SMALLEST, 5)))
    good = torch.from_numpy(draw(hnp.arrays(np.float32, shape, elements=st.floats(0, 1, width=32))))
    spoilers = draw(st.lists(st.sampled_from(sorted(SPOILERS)), max_size=2))
    for name in spoilers:
        if isinstance(good, torch.Tensor):  # a NumPy array is spoiled enough
            good = SPOILERS[name](good)
    return good


@st.composite
def any_targets(draw):
    values = draw(hnp.arrays(np.float64, ANY_SHAPE, elements=PIXELS))
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN and infinity cast to integers: any value
        image = torch.from_numpy(values).to(draw(ANY_DTYPE))
    return image.numpy() if draw(st.booleans()) else image


def documented_target(image) -> bool:
    """invert's contract, written out here independently of check_image: a (B, 3, H, W) tensor of
    one of FLOATS, B >= 1, sides of at least SMALLEST pixels, finite values in [0, 1]."""
    return (
        isinstance(image, torch.Tensor) and image.dtype in FLOATS and image.ndim == 4
        and image.shape[0] >= 1 and image.shape[1] == 3 and min(image.shape[-2:]) >= SMALLEST
        and bool(torch.isfinite(image).all()) and 0 <= float(image.min()) and float(image.max()) <= 1
    )  # fmt: skip


@pytest.mark.filterwarnings("ignore::depthrep.errors.ZeroEmbeddingWarning")  # documented for a flat target
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image=st.one_of(spoiled_targets(), any_targets()))
def test_any_target_inverts_or_raises_depthrep_error(resnet18, image):
    try:
        results = depthrep.invert(resnet18, image, "conv1", steps=1, progress=False)
    except DepthrepError as err:
        assert str(err) and "\n" not in str(err)
        assert not documented_target(image), f"a documented target was refused: {err}"
    else:
        assert documented_target(image), "invert took a target outside its contract"
        result = results["conv1"]
        assert result.image.shape == image.shape and result.image.dtype == torch.float32
        assert bool(torch.isfinite(result.image).all()) and 0 <= float(result.image.min())
        assert float(result.image.max()) <= 1 and bool(torch.isfinite(result.embedding_distance).all())
