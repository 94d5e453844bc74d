"""Bad input, tried widely (hypothesis): every failure is a documented error with a readable message."""

import io

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import depthrep
from depthrep import ImageError, UnknownLayerError, UnknownModelError, get_profile, load_image
from depthrep.layers import resolve

DTYPES = st.sampled_from([np.uint8, np.uint16, np.int32, np.int64, np.float32, np.float64, np.bool_])
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
    try:
        image = load_image(array)
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
    if name not in depthrep.PROFILES:
        with pytest.raises(ValueError, match="ci, laptop, paper"):
            get_profile(name)
    if name not in depthrep.model_names() and depthrep.models.parse_fc_name(name) is None:
        with pytest.raises(UnknownModelError, match="resnet50"):
            depthrep.load_model(name, device="meta")


@settings(max_examples=40, deadline=None)
@given(name=st.text(min_size=1, max_size=12))
def test_unknown_layers_list_the_valid_ones(resnet18, name):
    try:
        resolve(resnet18, name)
    except UnknownLayerError as err:
        assert "conv1_prepool, conv1, conv2, conv3, conv4, conv5" in str(err)
