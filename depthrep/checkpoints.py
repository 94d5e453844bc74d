"""The weights cache: where trained checkpoints live, written atomically, read safely.

A checkpoint is a file written by :func:`save_checkpoint`: a dict with a model
``state_dict`` and a ``meta`` dict (plain Python values) describing how it was made.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import torch


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated or not a depthrep checkpoint."""


def cache_dir() -> Path:
    """Folder for depthrep's trained weights: ``$DEPTHREP_CACHE``, else ``~/.cache/depthrep``.

    ``XDG_CACHE_HOME`` is honoured when set. The folder is created on first use.
    """
    if os.environ.get("DEPTHREP_CACHE"):
        root = Path(os.environ["DEPTHREP_CACHE"])
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "depthrep"
    root.mkdir(parents=True, exist_ok=True)
    return root


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_path)`` and move the result to ``path`` only once it is complete.

    An interruption or error leaves ``path`` as it was (absent or the old version) and
    no temporary file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of our own in the same folder (so the rename is atomic); created with the
    # usual permissions, unlike mkstemp's private 0600 files.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def save_checkpoint(path: str | os.PathLike, state_dict: dict, meta: dict) -> Path:
    """Write ``{"state_dict": ..., "meta": ...}`` to ``path`` atomically."""
    payload = {"state_dict": {k: v.detach().cpu() for k, v in state_dict.items()}, "meta": meta}
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | os.PathLike) -> tuple[dict, dict]:
    """Read a checkpoint with ``weights_only=True``; return ``(state_dict, meta)``.

    A bare state dict (as torchvision's weight files are) is accepted with empty meta.

    Raises:
        CheckpointError: the file is missing, unreadable or truncated; the message names
            the file to delete or replace.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(
            f"Cannot read the checkpoint {path} ({type(err).__name__}: {err}). "
            f"It is truncated or not a PyTorch weights file: delete it and run again."
        ) from None
    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        return payload["state_dict"], dict(payload.get("meta") or {})
    if isinstance(payload, dict) and all(isinstance(v, torch.Tensor) for v in payload.values()):
        return payload, {}
    raise CheckpointError(f"{path} holds no state dict: delete it or pass another file.")


def local_checkpoints(model: str, data: str = "photos") -> list[Path]:
    """Checkpoints trained here for ``model`` on ``data``, best first (most steps, then lowest seed).

    File names are those of :meth:`depthrep.train.TrainConfig.path`:
    ``{model}-{data}-{steps}steps-seed{seed}-{precision}-{key}.pt``.
    """
    pattern = re.compile(
        rf"^{re.escape(model)}-{re.escape(data)}-(\d+)steps-seed(\d+)-(?:float32|bfloat16)-[0-9a-f]+\.pt$"
    )
    found = []
    for path in cache_dir().glob(f"{model}-{data}-*.pt"):
        match = pattern.match(path.name)
        if match:
            found.append((-int(match.group(1)), int(match.group(2)), path))
    return [path for *_, path in sorted(found)]
