"""Target images: load any picture, or a sample that ships inside an installed package.

Every image in depthrep is a float tensor ``(B, 3, H, W)`` with values in ``[0, 1]``:
:func:`load_image` makes one from what a user has, :func:`check_image` says whether a
tensor already is one.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import ExifTags, Image, ImageOps, JpegImagePlugin, UnidentifiedImageError
from torchvision.transforms.v2 import functional as TF

from depthrep._util.names import did_you_mean
from depthrep.errors import ImageError

MAX_PIXELS = 50_000_000
"""The most pixels (width x height) depthrep decodes from a file or converts from a PIL image.

Larger pictures are refused before decoding: a 9500 x 9500 PNG would take gigabytes and most
of a minute. A JPEG counts at the size it is decoded at: asked for a small ``size``, Pillow
decodes it at 1/2, 1/4 or 1/8 scale (``Image.draft``), so large photos load quickly."""

_REDUCING_GAP = 2
"""Decode and box-reduce a large picture to no less than twice the requested size, as Pillow's
``thumbnail`` does: the antialiased resize that follows then looks as it would from full size."""

_TURNED = (5, 6, 7, 8)
"""EXIF orientations of a picture stored on its side: upright, its width and height swap."""

_CHANNELS = (1, 3, 4)
_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _grace_hopper() -> np.ndarray:
    from matplotlib import cbook

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        return np.asarray(im.convert("RGB"))


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        return getattr(data, name)()

    return load


# Photographs that ship inside installed wheels, so they load with no network.
# matplotlib's sample (no licence text in the package) and scikit-image's samples
# (CC0, public domain or "no known restrictions": see skimage/data/README.txt).
SAMPLES: dict[str, Callable[[], np.ndarray]] = {
    "grace_hopper": _grace_hopper,
    **{
        name: _skimage(name)
        for name in (
            "astronaut",
            "chelsea",
            "coffee",
            "rocket",
            "hubble_deep_field",
            "immunohistochemistry",
            "retina",
            "colorwheel",
            "camera",
            "brick",
            "grass",
            "gravel",
            "moon",
            "coins",
            "clock",
        )
    },
}


def samples() -> list[str]:
    """Names that :func:`load_image` accepts as a sample, in a stable order."""
    return list(SAMPLES)


def load_image(source, size: int | tuple[int, int] | None = None) -> torch.Tensor:
    """Load a target image as a new ``(1, 3, H, W)`` float32 tensor in ``[0, 1]``.

    Args:
        source: one of
            - the name of a sample (see :func:`samples`), e.g. ``"grace_hopper"``;
            - a path to an image file, or a binary file object (anything Pillow reads);
            - a ``PIL.Image.Image``;
            - a NumPy array ``(H, W)`` or ``(H, W, C)``, or a tensor ``(H, W)``,
              ``(C, H, W)`` or ``(1, C, H, W)`` (tensors are read channels first), with
              ``C`` in {1, 3, 4}.
        size: ``None`` keeps the size; an int resizes the shorter side to ``size`` and
            crops the centre square (``size x size``, no distortion); a pair
            ``(H, W)`` resizes to exactly that.

    Values: booleans become 0 and 1; 8-bit integers (uint8) are divided by 255 and 16-bit
    ones (uint16, as arrays or tensors) by 65535; wider integers by 255 when every value
    fits in [0, 255] and by 65535 when it fits in [0, 65535]. Floats of any width and byte
    order must already be finite and lie in ``[0, 1]``. Negative or larger integers,
    complex, object and string dtypes are refused. Greyscale (``C = 1``) is repeated to
    three channels; an alpha channel (``C = 4``) is composited on white. Sparse tensors
    are made dense; meta-device, nested and quantized tensors are refused.

    Files and PIL images:
        - more than :data:`MAX_PIXELS` pixels are refused before decoding; a JPEG is
          decoded near the requested ``size`` (down to 1/8 scale) and counted at that size;
        - the EXIF orientation is applied, so a photo taken with the phone sideways
          comes out upright;
        - a multi-frame file (animated GIF, multi-page TIFF) gives its first frame, a PIL
          image its current frame;
        - modes: ``L`` and ``RGB`` as they are; ``1``, ``P``, ``CMYK``, ``YCbCr``,
          ``LAB``, ``HSV`` and the rest converted to RGB by Pillow; ``RGBA``, ``LA``,
          ``PA``, ``La``, ``RGBa`` and a palette or colour with a transparent colour are
          composited on white; 16-bit greyscale (``I;16``, ``I;16B``, ``I;16L``) is
          divided by 65535; ``I`` (32-bit) follows the rule for wide integers and ``F``
          (32-bit float) the rule for floats;
        - Pillow reads 16-bit colour PNGs (with or without alpha) at 8 bits a channel;
        - an embedded ICC colour profile is ignored: the values are read as sRGB.

    Raises:
        ImageError: unknown sample, missing, unreadable or too large file, unsupported
            shape, dtype or mode, values outside ``[0, 1]`` or non-finite, or a bad ``size``.

    Examples:
        A sample photo, whole and as a 64 px centre square:

        >>> import depthrep
        >>> tuple(depthrep.load_image("grace_hopper").shape)
        (1, 3, 600, 512)
        >>> image = depthrep.load_image("grace_hopper", 64)
        >>> tuple(image.shape), image.dtype
        ((1, 3, 64, 64), torch.float32)
        >>> bool(image.min() >= 0), bool(image.max() <= 1)
        (True, True)

        A pair resizes to exactly ``(H, W)``; a greyscale uint8 array becomes three channels
        divided by 255:

        >>> tuple(depthrep.load_image("grace_hopper", (48, 32)).shape)
        (1, 3, 48, 32)
        >>> import numpy as np
        >>> grey = depthrep.load_image(np.full((16, 32), 255, dtype=np.uint8))
        >>> tuple(grey.shape), bool((grey == 1).all())
        ((1, 3, 16, 32), True)
    """
    size = _check_size(size) if size is not None else None
    full = None  # the upright (H, W) of a picture decoded or reduced smaller than it is
    if isinstance(source, str) and source in SAMPLES:
        if Path(source).is_file():
            warnings.warn(
                f"{source!r} names a sample and a file here: loading the sample; pass Path({source!r}) "
                "for the file.",
                stacklevel=2,
            )
        tensor = _from_array(np.asarray(SAMPLES[source]()), f"sample {source!r}", channels_last=True)
    elif isinstance(source, (str, os.PathLike)):
        tensor, full = _from_path(Path(source), size)
    elif hasattr(source, "read"):
        tensor, full = _from_file(source, str(getattr(source, "name", "the file object")), size)
    elif isinstance(source, Image.Image):
        tensor, full = _from_pil(source, size, what="PIL image")
    elif isinstance(source, np.ndarray):
        tensor = _from_array(np.asarray(source), "array", channels_last=True)
    elif isinstance(source, torch.Tensor):
        tensor = _from_array(_tensor_values(source), "tensor", channels_last=False)
    else:
        raise ImageError(
            f"Cannot make an image from a {type(source).__name__}: pass a sample name "
            f"({', '.join(samples())}), a file path, a PIL image, an array or a tensor."
        )
    return resize(tensor, size, full_size=full) if size is not None else tensor


def load_images(sources: Sequence, size: int | tuple[int, int]) -> torch.Tensor:
    """Several targets as one ``(B, 3, H, W)`` batch, each loaded by :func:`load_image` at ``size``
    (an int crops each to the same centre square), in the order given.

    >>> load_images(["grace_hopper", "rocket"], 32).shape
    torch.Size([2, 3, 32, 32])
    """
    if isinstance(sources, str | bytes) or not isinstance(sources, Sequence) or not sources:
        raise ImageError(
            f"load_images needs a non-empty list of images, not {sources!r}: use load_image for one."
        )
    return torch.cat([load_image(source, size) for source in sources])


def check_image(image, what: str = "image") -> torch.Tensor:
    """Return ``image`` unchanged if it is a depthrep image; otherwise say how to make one.

    A depthrep image is a dense (strided) ``torch.Tensor`` of shape ``(B, 3, H, W)`` with
    ``B, H, W >= 1``, dtype float16, bfloat16, float32 or float64, on a device that holds
    values (not ``meta``), with finite values in ``[0, 1]``. The check reads the values
    once (their minimum and maximum) and copies nothing.

    Args:
        image: the tensor to check.
        what: how the message names it, e.g. ``"invert's image"``.

    Raises:
        ImageError: one line saying what was given (type, shape, dtype, range) and the
            usual fix: ``image[None]``, a ``permute``, ``/ 255`` or :func:`load_image`.
    """
    problem = _image_problem(image)
    if problem:
        raise ImageError(f"{what} must be a (B, 3, H, W) float tensor in [0, 1]; got {problem}.")
    return image


def resize(
    image: torch.Tensor, size: int | tuple[int, int], full_size: tuple[int, int] | None = None
) -> torch.Tensor:
    """Resize ``(B, 3, H, W)``: an int scales the shorter side and centre-crops a square.

    ``full_size``: the ``(H, W)`` the picture had before it was decoded or box-reduced smaller
    (:func:`load_image` does so for large files). An int ``size`` then scales the long side as it
    would have from full size, so the square shows the same part of the picture."""
    size = _check_size(size)
    if isinstance(size, int):
        scaled = _scaled(full_size or tuple(image.shape[-2:]), size)
        if scaled[0] * scaled[1] > MAX_PIXELS:  # a long thin picture: keep only what the square shows
            image, scaled = _central_band(image, size)
        out = image if tuple(image.shape[-2:]) == scaled else TF.resize(image, list(scaled), antialias=True)
        out = TF.center_crop(out, [size, size])
    else:
        out = TF.resize(image, list(size), antialias=True)
    return out.clamp_(0, 1)


def _central_band(image: torch.Tensor, size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """The central square of ``image`` (plus the resampling filter's reach) and its scaled size.

    Scaling a 1,000,000 x 1 picture's short side to 32 px first would build 32 x 32,000,000
    pixels to keep 32 x 32 of them; the square crop keeps the same part of the picture.
    """
    height, width = image.shape[-2:]
    short = min(height, width)
    reach = 2 * math.ceil(short / size) + 2  # source pixels the antialiasing filter reads beyond the square
    band = TF.center_crop(image, [min(height, short + 2 * reach), min(width, short + 2 * reach)])
    return band, _scaled(tuple(band.shape[-2:]), size)


def _scaled(height_width: tuple[int, int], short: int) -> tuple[int, int]:
    """``(H, W)`` with the shorter side scaled to ``short`` and the longer one in proportion,
    rounded down (as torchvision's ``resize(image, [short])``)."""
    height, width = height_width
    if height <= width:
        return short, int(short * width / height)
    return int(short * height / width), short


def _check_size(size) -> int | tuple[int, int]:
    """``size`` as an int or an ``(H, W)`` tuple of ints, or ImageError."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        return _check_side(size)
    if isinstance(size, (tuple, list)) and len(size) == 2:
        return (_check_side(size[0]), _check_side(size[1]))
    raise ImageError(f"size must be an int or a pair (H, W) of ints, not {size!r}.")


def _check_side(side) -> int:
    if isinstance(side, bool) or not isinstance(side, (int, np.integer)) or side < 1:
        raise ImageError(f"Image sizes are positive ints, not {side!r}.")
    if side > 8192:
        raise ImageError(f"size {side} is larger than 8192 pixels: pass a smaller size.")
    return int(side)


# Files and PIL images


def _from_path(path: Path, size) -> tuple[torch.Tensor, tuple[int, int]]:
    if not path.exists():
        if str(path) in SAMPLES:  # a Path always means a file
            raise ImageError(f"No image file at {path}; the sample of that name is loaded by its name as a "
                             f"str: load_image({str(path)!r}).")  # fmt: skip
        hint = did_you_mean(path, samples())
        raise ImageError(f"No image file at {path}.{hint} Samples: {', '.join(samples())}.")
    if path.is_dir():
        raise ImageError(f"{path} is a folder: pass the path of one image file.")
    return _from_file(path, str(path), size)


def _from_file(file, name: str, size) -> tuple[torch.Tensor, tuple[int, int]]:
    """Decode a file (a path or a binary file object) near ``size``; also its upright ``(H, W)``."""
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own limit; MAX_PIXELS, lower, is checked after the draft.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(file)
    except Image.DecompressionBombError:
        raise ImageError(_too_large(name, f"more than {2 * Image.MAX_IMAGE_PIXELS:,}")) from None
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError, ValueError) as err:
        raise ImageError(f"Cannot read {name} as an image ({err}).") from None
    with im:
        width, height = im.size  # as stored, before a draft
        _draft(im, size)
        tensor, _ = _from_pil(im, size, what=f"image {name}")
        # Read only now: a PNG's EXIF can follow its pixels, and Pillow decodes them to find it.
        turned = _orientation(im) in _TURNED
    return tensor, (width, height) if turned else (height, width)


def _too_large(name: str, pixels: str) -> str:
    return (
        f"{name} has {pixels} pixels, more than depthrep decodes (MAX_PIXELS = {MAX_PIXELS:,}): "
        "downscale the file (8000 x 6000 pixels is within the limit) and load that."
    )


def _draft(im: Image.Image, size) -> None:
    """Let a JPEG decode at 1/2, 1/4 or 1/8 scale when ``size`` is that much smaller.

    Other formats ignore it. Called before the pixels are read, so before the EXIF
    orientation is known to swap width and height: an ``(H, W)`` size is swapped here."""
    if not isinstance(im, JpegImagePlugin.JpegImageFile):
        return  # the only format Pillow drafts; reading a PNG's EXIF would decode it in full
    if isinstance(size, tuple) and _orientation(im) in _TURNED:
        size = size[::-1]
    target = _worth_decoding(im.size, size)
    if target:
        im.draft(None, target)


def _worth_decoding(image_size: tuple[int, int], size) -> tuple[int, int] | None:
    """The smallest ``(width, height)`` worth decoding for ``size``; ``None`` for full size."""
    width, height = image_size
    if size is None or min(width, height) < 1:
        return None
    if isinstance(size, int):
        scale = _REDUCING_GAP * size / min(width, height)
        target = (math.ceil(width * scale), math.ceil(height * scale))
    else:
        target = (_REDUCING_GAP * size[1], _REDUCING_GAP * size[0])
    return target if target[0] < width and target[1] < height else None


def _orientation(im: Image.Image) -> int:
    return im.getexif().get(ExifTags.Base.Orientation, 1)


def _from_pil(im: Image.Image, size, what: str) -> tuple[torch.Tensor, tuple[int, int]]:
    """Decode, turn upright, convert to a plain mode and box-reduce near ``size``; also the
    upright ``(H, W)`` before the reduction."""
    if im.width * im.height > MAX_PIXELS:
        raise ImageError(_too_large(f"The {what}", f"{im.width} x {im.height}"))
    try:
        im.load()
        if _orientation(im) in range(2, 9):
            im = ImageOps.exif_transpose(im)
        upright = (im.height, im.width)
        im = _reduce(_plain_mode(im), size)
        array = np.asarray(im)
    except (OSError, SyntaxError, EOFError, ValueError, Image.DecompressionBombError) as err:
        raise ImageError(f"Cannot read the {what} ({err}).") from None
    return _from_array(array, what, channels_last=True), upright


def _plain_mode(im: Image.Image) -> Image.Image:
    """The picture in a mode whose pixels :func:`_from_array` reads: L, RGB, RGBA, I;16*, I or F."""
    if im.mode == "La":
        im = im.convert("LA")  # Pillow converts premultiplied La only to LA
    transparent_colour = "transparency" in im.info and im.mode in ("P", "L", "RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa") or transparent_colour:
        return im.convert("RGBA")
    if im.mode in ("L", "RGB", "I", "F") or im.mode.startswith("I;16"):
        return im
    return im.convert("L" if im.mode == "1" else "RGB")


def _reduce(im: Image.Image, size) -> Image.Image:
    """Box-reduce by a whole factor while the picture stays twice ``size`` (Pillow has no
    reduce for 16-bit modes: those are resized at full size)."""
    target = _worth_decoding(im.size, size)
    if target is None or im.mode.startswith("I;16"):
        return im
    factor = min(im.width // target[0], im.height // target[1])
    if factor < 2:
        return im
    # Whole boxes only, the few pixels left over dropped evenly from both sides: a partial
    # box at the edge would stretch the picture and shift its centre.
    left, top = (im.width % factor) // 2, (im.height % factor) // 2
    box = (left, top, left + im.width // factor * factor, top + im.height // factor * factor)
    return im.reduce(factor, box)


# Arrays and tensors


def _tensor_values(tensor: torch.Tensor) -> np.ndarray:
    """The tensor's values as a NumPy array (detached, dense, on the CPU), or ImageError."""
    if tensor.is_nested:
        raise ImageError("The tensor is a nested tensor: pass one (C, H, W) image at a time.")
    if tensor.is_meta:
        raise ImageError("The tensor is on the meta device, which holds no values: pass a tensor with data.")
    if tensor.is_quantized:
        raise ImageError(f"The tensor has dtype {tensor.dtype}: dequantize it first (tensor.dequantize()).")
    if tensor.layout != torch.strided:
        tensor = tensor.to_dense()
    if tensor.dtype.is_floating_point and tensor.dtype not in (torch.float16, torch.float32, torch.float64):
        tensor = tensor.float()  # bfloat16, float8: NumPy has no such dtype
    try:
        return tensor.numpy(force=True)
    except TypeError:  # uint1 to uint7, bits and other dtypes without a NumPy twin
        raise ImageError(f"The tensor has dtype {tensor.dtype}: pass integers or floats.") from None


def _from_array(array: np.ndarray, what: str, channels_last: bool) -> torch.Tensor:
    """A new ``(1, 3, H, W)`` float32 tensor from an array whose values follow load_image's rules."""
    if array.dtype.kind not in "biuf":
        raise ImageError(f"The {what} has dtype {array.dtype}: pass integers or floats.")
    bchw = _to_bchw(array, what, channels_last)
    low, high = array.min(), array.max()
    if array.dtype.kind == "f":
        problem = _range_problem(float(low), float(high))
        if problem:
            raise ImageError(f"The {what} has {problem}.")
        scale = 1.0
    else:
        scale = _integer_scale(array.dtype, int(low), int(high), what)
    # One copy: native byte order, float32, C order (also for reversed or transposed views).
    values = bchw.astype(np.float32, order="C")
    if scale != 1:
        values /= scale
    return _to_rgb(torch.from_numpy(values))


def _integer_scale(dtype: np.dtype, low: int, high: int, what: str) -> float:
    """What integer pixels are divided by: 1 for booleans, 255 for 8-bit, 65535 for 16-bit.

    Wider integer types (int32, int64 arrays of Python ints) are read as 8-bit when every
    value fits in [0, 255] and as 16-bit when it fits in [0, 65535].
    """
    if dtype.kind == "b":
        return 1.0
    if low < 0:
        raise ImageError(
            f"The {what} has integers down to {low}: integer pixels must be non-negative "
            "(unsigned 8- or 16-bit data)."
        )
    if dtype.kind == "u" and dtype.itemsize <= 2:
        return 255.0 if dtype.itemsize == 1 else 65535.0
    if high <= 255:
        return 255.0
    if high <= 65535:
        return 65535.0
    raise ImageError(
        f"The {what} has integers up to {high}, neither 8- nor 16-bit data: "
        "pass values in [0, 255] or [0, 65535], or floats in [0, 1]."
    )


def _range_problem(low: float, high: float) -> str | None:
    """What is wrong with float pixels spanning ``[low, high]`` and what to do; ``None`` when
    they are finite and in ``[0, 1]``. The one rule for values, of load_image and check_image."""
    if math.isnan(low) or math.isnan(high):
        return "NaN values: replace them first (torch.nan_to_num or numpy.nan_to_num)"
    if math.isinf(low) or math.isinf(high):
        return "infinite values: replace them first (torch.nan_to_num or numpy.nan_to_num)"
    if 0 <= low and high <= 1:
        return None
    if 0 <= low and 1.5 < high <= 255:
        fix = "divide 8-bit values by 255"
    elif -1 <= low and high <= 1:
        fix = "map [-1, 1] to [0, 1] with (x + 1) / 2"
    else:
        fix = "rescale or clamp them to [0, 1]"
    return f"values in [{low:.3g}, {high:.3g}], outside [0, 1]: {fix}"


def _to_bchw(array: np.ndarray, what: str, channels_last: bool) -> np.ndarray:
    """A ``(1, C, H, W)`` view of an image array, or ImageError naming the shapes accepted."""
    shape = tuple(array.shape)
    if array.ndim == 2:
        out = array[None, None]
    elif array.ndim == 3 and channels_last and shape[-1] in _CHANNELS:
        out = array.transpose(2, 0, 1)[None]
    elif array.ndim == 3 and not channels_last and shape[0] in _CHANNELS:
        out = array[None]
    elif array.ndim == 4 and not channels_last and shape[0] == 1 and shape[1] in _CHANNELS:
        out = array
    else:
        expected = "(H, W) or (H, W, C)" if channels_last else "(H, W), (C, H, W) or (1, C, H, W)"
        raise ImageError(
            f"The {what} has shape {shape}; expected {expected} with C in {{1, 3, 4}}"
            f"{_layout_hint(shape, channels_last)}."
        )
    if min(out.shape[-2:]) < 1:
        raise ImageError(f"The {what} is empty (shape {shape}).")
    return out


def _layout_hint(shape: tuple[int, ...], channels_last: bool) -> str:
    """How to fix the layout of a shape :func:`_to_bchw` refused, when a common mistake explains it."""
    if len(shape) == 3 and channels_last and shape[0] in _CHANNELS and shape[-1] > 4:
        return ": it looks channels-first, pass array.transpose(1, 2, 0)"
    if len(shape) == 3 and not channels_last and shape[-1] in _CHANNELS and shape[0] > 4:
        return ": it looks channels-last, pass tensor.permute(2, 0, 1)"
    if len(shape) == 4 and not channels_last and shape[0] > 1 and shape[1] in _CHANNELS:
        return ": load_image takes one image, pass tensor[i] (or check a batch with check_image)"
    return ""


def _to_rgb(image: torch.Tensor) -> torch.Tensor:
    """``(1, C, H, W)`` in ``[0, 1]`` to three channels: grey repeated, alpha composited on white."""
    if image.shape[1] == 1:
        return image.repeat(1, 3, 1, 1)
    if image.shape[1] == 4:
        rgb, alpha = image[:, :3], image[:, 3:]
        return 1 - alpha * (1 - rgb)  # rgb * alpha + (1 - alpha), written to stay within [0, 1]
    return image


# The check at invert's boundary


def _image_problem(image) -> str | None:
    """What keeps ``image`` from being a depthrep image, and the usual fix; ``None`` if it is one."""
    if not isinstance(image, torch.Tensor):
        given = {np.ndarray: "a NumPy array", Image.Image: "a PIL image"}
        kind = next((v for k, v in given.items() if isinstance(image, k)), f"a {type(image).__name__}")
        return f"{kind}: make one with depthrep.load_image"
    dtype = str(image.dtype).removeprefix("torch.")
    given = f"a {tuple(image.shape)} {dtype} tensor"
    if image.is_nested:
        return f"{given} (nested): stack same-sized images with torch.stack"
    if image.layout != torch.strided:
        return f"{given} with layout {image.layout}: call .to_dense()"
    if image.is_meta:
        return f"{given} on the meta device, which holds no values: pass a tensor with data"
    fix = _shape_fix(tuple(image.shape)) or _dtype_fix(image.dtype)
    if fix:
        return f"{given}: {fix}"
    with torch.no_grad():
        low, high = (float(v) for v in torch.aminmax(image))
    problem = _range_problem(low, high)
    return f"{given} with {problem}" if problem else None


def _shape_fix(shape: tuple[int, ...]) -> str | None:
    """The usual fix for a shape that is not ``(B, 3, H, W)``; ``None`` for a good one."""
    if len(shape) == 4 and shape[1] == 3 and min(shape) >= 1:
        return None
    if 0 in shape:
        return "it is empty: pass at least one image of at least 1 x 1 pixels"
    if len(shape) == 3 and shape[0] == 3:
        return "add a batch dimension (image[None]) or use depthrep.load_image"
    if len(shape) in (3, 4) and shape[-1] == 3:
        dims = "(2, 0, 1)" if len(shape) == 3 else "(0, 3, 1, 2)"
        return f"it looks channels-last, use image.permute{dims}" + ("[None]" if len(shape) == 3 else "")
    if len(shape) in (3, 4) and shape[-3] in (1, 4):
        return "depthrep.load_image converts grey (1 channel) and RGBA (4 channels) to RGB"
    return "use depthrep.load_image, which reads (H, W), (H, W, C) arrays and (C, H, W) tensors"


def _dtype_fix(dtype: torch.dtype) -> str | None:
    """The usual fix for a dtype check_image refuses; ``None`` for a floating one it accepts."""
    if dtype in _FLOATS:
        return None
    if dtype == torch.uint8:
        return "divide 8-bit pixels by 255 (image.float() / 255) or use depthrep.load_image"
    if dtype.is_floating_point:
        return "convert it with image.float()"
    if dtype.is_complex:
        return "take its real part or magnitude (image.real, image.abs())"
    return "use depthrep.load_image, which scales 8- and 16-bit integers to [0, 1]"
