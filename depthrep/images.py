"""Target images: load any picture, or a sample that ships inside an installed package.

Every image in depthrep is a float tensor ``(B, 3, H, W)`` with values in ``[0, 1]``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.transforms.v2 import functional as TF

from .names import did_you_mean


class ImageError(ValueError):
    """An image could not be read or converted; the message says why and what to pass."""


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
    """Load a target image as a ``(1, 3, H, W)`` float32 tensor in ``[0, 1]``.

    Args:
        source: one of
            - the name of a sample (see :func:`samples`), e.g. ``"grace_hopper"``;
            - a path to an image file (anything Pillow reads);
            - a ``PIL.Image.Image`` (any mode: greyscale, palette, RGBA, 16-bit);
            - a NumPy array ``(H, W)`` or ``(H, W, C)``, or a tensor ``(H, W)``,
              ``(C, H, W)`` or ``(1, C, H, W)``, with ``C`` in {1, 3, 4}. Integers are
              scaled to ``[0, 1]`` (8-bit by 255, 16-bit by 65535); floats must
              already lie in ``[0, 1]``.
        size: ``None`` keeps the size; an int resizes the shorter side to ``size`` and
            crops the centre square (``size x size``, no distortion); a pair
            ``(H, W)`` resizes to exactly that.

    Greyscale is repeated to three channels; an alpha channel is composited on white.

    Raises:
        ImageError: unknown sample, missing or unreadable file, unsupported shape or
            dtype, values outside ``[0, 1]`` or non-finite, or a bad ``size``.
    """
    if isinstance(source, str) and source in SAMPLES:
        tensor = _from_array(SAMPLES[source](), what=f"sample {source!r}")
    elif isinstance(source, (str, os.PathLike)):
        tensor = _from_path(Path(source))
    elif isinstance(source, Image.Image):
        tensor = _from_pil(source)
    elif isinstance(source, (np.ndarray, torch.Tensor)):
        tensor = _from_array(source, what="array")
    else:
        raise ImageError(
            f"Cannot make an image from a {type(source).__name__}: pass a sample name "
            f"({', '.join(samples())}), a file path, a PIL image, an array or a tensor."
        )
    return resize(tensor, size) if size is not None else tensor


def resize(image: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize ``(B, 3, H, W)``: an int scales the shorter side and centre-crops a square."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        side = _check_side(size)
        short = min(image.shape[-2:])
        scaled = TF.resize(image, [side], antialias=True) if short != side else image
        out = TF.center_crop(scaled, [side, side])
    elif isinstance(size, (tuple, list)) and len(size) == 2:
        out = TF.resize(image, [_check_side(s) for s in size], antialias=True)
    else:
        raise ImageError(f"size must be an int or a pair (H, W) of ints, not {size!r}.")
    return out.clamp_(0, 1)


def _check_side(side) -> int:
    if isinstance(side, bool) or not isinstance(side, (int, np.integer)) or side < 1:
        raise ImageError(f"Image sizes are positive ints, not {side!r}.")
    if side > 8192:
        raise ImageError(f"size {side} is larger than 8192 pixels: pass a smaller size.")
    return int(side)


def _from_path(path: Path) -> torch.Tensor:
    if not path.exists():
        hint = did_you_mean(path, samples())
        raise ImageError(f"No image file at {path}.{hint} Samples: {', '.join(samples())}.")
    if path.is_dir():
        raise ImageError(f"{path} is a folder: pass the path of one image file.")
    try:
        with Image.open(path) as im:
            im.load()
            return _from_pil(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ImageError(f"Cannot read {path} as an image ({err}).") from None


def _from_pil(im: Image.Image) -> torch.Tensor:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    elif im.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(im).astype(np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or array.max() > 255 else 255.0
        return _from_array((array / top).clip(0, 1).astype(np.float32), what="16-bit image")
    elif im.mode == "F":
        return _from_array(np.asarray(im), what="float image")
    return _from_array(np.asarray(im.convert("RGB")), what="image")


def _from_array(array, what: str) -> torch.Tensor:
    if isinstance(array, np.ndarray):
        if array.dtype.kind not in "biuf":
            raise ImageError(f"The {what} has dtype {array.dtype}: pass integers or floats.")
        scale = _integer_scale(array.dtype.kind, array.dtype.itemsize, array)
        array = array.astype(np.float64) / scale if scale else array
        tensor = torch.from_numpy(np.array(array, copy=True))  # owned and writable
    else:
        tensor = array.detach().cpu()
        if tensor.dtype.is_complex:
            raise ImageError(f"The {what} has dtype {tensor.dtype}: pass integers or floats.")
        if not tensor.dtype.is_floating_point:
            kind = "b" if tensor.dtype == torch.bool else ("u" if tensor.dtype == torch.uint8 else "i")
            scale = _integer_scale(kind, tensor.element_size(), tensor)
            tensor = tensor.double() / scale
    image = _to_bchw(tensor, what, channels_last=isinstance(array, np.ndarray)).float()
    if not torch.isfinite(image).all():
        raise ImageError(f"The {what} contains NaN or infinite values.")
    if image.min() < 0 or image.max() > 1:
        raise ImageError(
            f"The {what} has float values in [{image.min():.3g}, {image.max():.3g}]; "
            "depthrep expects [0, 1]: divide 8-bit data by 255."
        )
    if image.shape[1] == 1:
        image = image.expand(-1, 3, -1, -1)
    elif image.shape[1] == 4:
        rgb, alpha = image[:, :3], image[:, 3:]
        image = rgb * alpha + (1 - alpha)
    return image.contiguous()


def _integer_scale(kind: str, itemsize: int, values) -> float | None:
    """What integer pixels are divided by: 1 for booleans, 255 for 8-bit, 65535 for 16-bit.

    Wider integer types (int32, int64 arrays of Python ints) are read as 8-bit when every
    value fits in [0, 255] and as 16-bit when it fits in [0, 65535].
    """
    if kind == "f":
        return None
    if kind == "b":
        return 1.0
    count = values.numel() if isinstance(values, torch.Tensor) else values.size
    if count == 0:
        return 1.0
    low, high = int(values.min()), int(values.max())
    if low < 0:
        raise ImageError("Integer pixels must be non-negative (unsigned 8- or 16-bit data).")
    if kind == "u" and itemsize == 1:
        return 255.0
    if kind == "u" and itemsize == 2:
        return 65535.0
    if high <= 255:
        return 255.0
    if high <= 65535:
        return 65535.0
    raise ImageError(f"Integer pixels up to {high} are neither 8- nor 16-bit data.")


def _to_bchw(tensor: torch.Tensor, what: str, channels_last: bool) -> torch.Tensor:
    shape = tuple(tensor.shape)
    channels = (1, 3, 4)
    if tensor.ndim == 2:
        out = tensor[None, None]
    elif tensor.ndim == 3 and channels_last and shape[-1] in channels:
        out = tensor.permute(2, 0, 1)[None]
    elif tensor.ndim == 3 and not channels_last and shape[0] in channels:
        out = tensor[None]
    elif tensor.ndim == 4 and not channels_last and shape[0] == 1 and shape[1] in channels:
        out = tensor
    else:
        expected = "(H, W) or (H, W, C)" if channels_last else "(H, W), (C, H, W) or (1, C, H, W)"
        raise ImageError(f"The {what} has shape {shape}; expected {expected} with C in {{1, 3, 4}}.")
    if min(out.shape[-2:]) < 1:
        raise ImageError(f"The {what} is empty (shape {shape}).")
    return out
