"""The weights cache: where trained checkpoints live, written atomically, read safely,
and downloaded with a timeout.

A checkpoint is a file written by :func:`save_checkpoint`: a dict with a model
``state_dict`` and a ``meta`` dict (plain Python values) describing how it was made.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import glob
import hashlib
import os
import re
import secrets
import shutil
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import torch
from tqdm.auto import tqdm

from depthrep.errors import CheckpointError, WeightsHashWarning

DOWNLOAD_TIMEOUT = 60
"""Seconds without a byte from the server after which :func:`download` gives up."""

STALE_PART_AGE = 24 * 3600
"""Seconds after which a temporary ``.part`` file of :func:`atomic_write` is removed even if
its process id is in use (by then the id is more likely reused than the write still going)."""

# ".{name}.{pid}.{token}.part", as atomic_write names its temporary files.
_PART = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.part$")
# torch.save's zip writer reports a short write (a full disk) as one of these RuntimeErrors.
_SHORT_WRITE = re.compile(r"unexpected pos|file write failed")


def _cache_root() -> Path:
    if os.environ.get("DEPTHREP_CACHE"):
        return Path(os.environ["DEPTHREP_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "depthrep"


def cache_dir() -> Path:
    """Folder for depthrep's trained weights: ``$DEPTHREP_CACHE``, else ``~/.cache/depthrep``.

    ``XDG_CACHE_HOME`` is honoured when set. The folder is created on first use.

    Raises:
        CheckpointError: the folder cannot be created (a read-only parent, say).
    """
    root = _cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CheckpointError(
            f"Cannot create the cache folder {root} ({err.strerror or err}): "
            "set DEPTHREP_CACHE to a folder you can write."
        ) from None
    return root


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_path)`` and move the result to ``path`` only once it is complete.

    An interruption or error leaves ``path`` as it was (absent or the old version) and
    no temporary file behind; the error is raised as it came (an ``OSError`` for a full
    disk). Temporary files that killed processes left in the folder are removed first
    (see :func:`remove_stale_parts`).
    """
    path = Path(path)
    # A name of our own in the same folder (so the rename is atomic); created with the
    # usual permissions, unlike mkstemp's private 0600 files.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(path.parent)
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    return path


def unwritable(folder: str | os.PathLike) -> str | None:
    """Why files cannot be written into ``folder`` (created when missing), or ``None``.

    Checked before any work, by writing a probe file into the folder or, when it does not
    exist yet, into its nearest existing parent: nothing is left behind either way.
    """
    existing = Path(folder)
    try:
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
    except OSError as err:  # a name too long for the file system, say
        return f"is no usable path ({err.strerror or err})"
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    longest = max((len(os.fsencode(part)) for part in Path(folder).relative_to(existing).parts), default=0)
    allowed = os.pathconf(existing, "PC_NAME_MAX") if hasattr(os, "pathconf") else 255
    if longest > allowed:
        return f"has a name of {longest} bytes, longer than the {allowed} its file system allows"
    probe = existing / f".depthrep-probe-{secrets.token_hex(4)}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        return f"cannot write into {existing} ({err.strerror or err})"
    return None


@contextlib.contextmanager
def _writing(path: Path, size: int | None = None):
    """Turn a full disk or an unwritable folder while writing ``path`` into a one-line
    :class:`CheckpointError` naming the folder; other errors pass as they are."""
    try:
        yield
    except (OSError, RuntimeError) as err:
        problem = _write_problem(err, path, size)
        if problem is None:
            raise
        raise problem from None


def remove_stale_parts(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of :func:`atomic_write` that no running process will finish.

    A file is stale when the process named by its pid is gone (``kill -9``, a power cut) and
    it has not changed for a minute (a cache shared between machines holds other hosts'
    pids), or when it is older than :data:`STALE_PART_AGE`. Returns the files removed.
    """
    removed = []
    for part in Path(folder).glob(".*.part"):
        match = _PART.match(part.name)
        if match and _is_stale(part, int(match.group(1))):
            with contextlib.suppress(OSError):
                part.unlink()
                removed.append(part)
    return removed


def _is_stale(part: Path, pid: int) -> bool:
    try:
        age = time.time() - part.stat().st_mtime
    except OSError:  # already gone
        return False
    return age > STALE_PART_AGE or (age > 60 and not _is_running(pid))


def _is_running(pid: int) -> bool:
    if pid == os.getpid() or os.name != "posix":  # os.kill(pid, 0) would end it on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process
        return True
    return True


def _write_problem(err: BaseException, path: Path, size: int | None) -> CheckpointError | None:
    folder = path.parent
    variable = _variable_for(folder)
    if _is_disk_full(err):
        elsewhere = f" or set {variable} to a folder on another disk" if variable else ""
        return CheckpointError(
            f"The disk is full at {folder}: {path.name} was not written ({_space(folder, size)}). "
            f"Free some space there{elsewhere}, then run again."
        )
    if isinstance(err, PermissionError) or getattr(err, "errno", None) == errno.EROFS:
        elsewhere = f" or set {variable} to a folder you can write" if variable else ""
        return CheckpointError(
            f"Cannot write {path.name} in {folder} ({err.strerror or 'permission denied'}): "
            f"make the folder writable{elsewhere}."
        )
    return None


def _variable_for(folder: Path) -> str | None:
    """The environment variable that moves ``folder`` elsewhere, if it is one of the caches."""
    for variable, root in (("DEPTHREP_CACHE", _cache_root()), ("TORCH_HOME", Path(torch.hub.get_dir()))):
        with contextlib.suppress(OSError):
            if folder.resolve().is_relative_to(root.resolve()):
                return variable
    return None


def _is_disk_full(err: BaseException) -> bool:
    if isinstance(err, OSError):
        return err.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(err, RuntimeError) and bool(_SHORT_WRITE.search(str(err)))


def _space(folder: Path, size: int | None) -> str:
    """``"it needs about 45 MB, 3 MB are free"``, as far as it is known."""
    try:
        free = f"{_megabytes(shutil.disk_usage(folder).free)} free"
    except OSError:
        free = "free space unknown"
    return f"it needs about {_megabytes(size)}, {free}" if size else free


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 1e7 else f"{n / 1e6:,.0f} MB"


def save_checkpoint(path: str | os.PathLike, state_dict: dict, meta: dict) -> Path:
    """Write ``{"state_dict": ..., "meta": ...}`` to ``path`` atomically.

    Raises:
        CheckpointError: the disk is full or the folder is read-only; nothing is left behind.
    """
    tensors = {k: v.detach().cpu() for k, v in state_dict.items()}
    payload = {"state_dict": tensors, "meta": meta}
    size = sum(t.numel() * t.element_size() for t in tensors.values())
    with _writing(Path(path), size):
        return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(
    path: str | os.PathLike, *, remedy: str = "Delete it or replace it with a good copy."
) -> tuple[dict, dict]:
    """Read a checkpoint with ``weights_only=True``; return ``(state_dict, meta)``.

    A bare state dict (as torchvision's weight files are) is accepted with empty meta.

    Args:
        remedy: what the message tells the reader to do when the file is corrupt.

    Raises:
        CheckpointError: the file is missing, cannot be opened (permissions, a folder),
            is truncated or holds something else; the message names the file.
    """
    path = Path(path)
    _check_readable(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as err:  # the disk or the file system failed, not the file's contents
        raise _unreadable(path, err) from None
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"Cannot use {path}: {_what_is_wrong(path, err)}. {remedy}") from None
    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        return payload["state_dict"], dict(payload.get("meta") or {})
    if isinstance(payload, dict) and all(isinstance(v, torch.Tensor) for v in payload.values()):
        return payload, {}
    raise CheckpointError(f"{path} holds no state dict: delete it or pass another file.")


def _what_is_wrong(path: Path, err: Exception) -> str:
    """Why torch could not load ``path``, in a clause: torch's first sentence, or HTML spotted."""
    with open(path, "rb") as file:
        if file.read(512).lstrip().startswith(b"<"):
            return "it holds a web page (HTML, such as a proxy's error page), not weights"
    first = re.split(r"\.\s", str(err).strip(), maxsplit=1)[0][:120]
    return f"it is truncated or not a PyTorch weights file ({type(err).__name__}: {first})"


def _check_readable(path: Path) -> None:
    """Open ``path`` once, so that a file we may not read is not mistaken for a corrupt one."""
    try:
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        raise CheckpointError(f"No checkpoint at {path}.") from None
    except IsADirectoryError:
        raise CheckpointError(
            f"{path} is a folder, not a weights file: pass the path of a .pt or .pth file."
        ) from None
    except OSError as err:
        raise _unreadable(path, err) from None


def _unreadable(path: Path, err: OSError) -> CheckpointError:
    """A file that could not be read: said so, never called corrupt (deleting it would not help)."""
    if isinstance(err, PermissionError):
        return CheckpointError(
            f"Cannot read {path}: permission denied. Make it readable (chmod u+r) or pass another file."
        )
    return CheckpointError(f"Cannot read {path} ({err.strerror or err}): pass another file.")


def download(url: str, target: str | Path, *, timeout: float = DOWNLOAD_TIMEOUT) -> Path:
    """Download ``url`` to ``target`` as ``torch.hub`` would, but give up after ``timeout``
    seconds without data.

    The file appears at ``target`` only once complete and, where its name carries a hash
    prefix (``resnet18-f37072fd.pth``), once its SHA-256 matches it; a failed or cut
    download leaves nothing behind, and ``torch.hub``'s ``.partial`` files that an earlier
    killed download left for ``target`` are removed.

    Raises:
        urllib.error.URLError, TimeoutError, ConnectionError: the download failed.
        CheckpointError: the file that arrived does not match its hash prefix, or the
            disk is full, or the folder is not writable.
    """
    target = Path(target)
    _remove_torch_partials(target, older_than=timeout)
    found = torch.hub.HASH_REGEX.search(target.name)
    prefix = found.group(1) if found else ""
    print(f'Downloading: "{url}" to {target}', file=sys.stderr)

    def fetch(tmp: Path) -> None:
        request = urllib.request.Request(url, headers={"User-Agent": "torch.hub"})
        digest, received = hashlib.sha256(), 0
        with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, disable=None) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if total is not None and received != total:
            raise ConnectionError(f"the connection closed after {received:,} of {total:,} bytes")
        if not digest.hexdigest().startswith(prefix):
            raise CheckpointError(
                f"The file downloaded from {url} is corrupt (SHA-256 {digest.hexdigest()[:8]}..., "
                f"expected {prefix}...): run again, or download it elsewhere and put it at {target}."
            )

    with _writing(target):
        return atomic_write(target, fetch)


def check_hash_prefix(path: str | Path) -> None:
    """Warn (:class:`WeightsHashWarning`) when ``path``'s name carries a hash prefix
    (``resnet18-f37072fd.pth``) that its SHA-256 does not start with. torch.hub checks only
    what it downloads; a file put in its cache by hand is loaded unchecked."""
    path = Path(path)
    found = torch.hub.HASH_REGEX.search(path.name)
    if not found or not found.group(1):
        return
    stat = path.stat()
    digest = _sha256(str(path), stat.st_size, stat.st_mtime_ns)
    if not digest.startswith(found.group(1)):
        warnings.warn(
            f"{path} does not match the hash in its name (SHA-256 {digest[:8]}..., expected "
            f"{found.group(1)}...): it is not the file published under that name; loading it anyway.",
            WeightsHashWarning,
            stacklevel=3,
        )


@functools.lru_cache(maxsize=32)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """The file's SHA-256, once per version of it (its size and time key the cache)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _remove_torch_partials(target: Path, older_than: float) -> None:
    """Remove ``<file>.<uuid>.partial`` files of ``torch.hub`` untouched for ``older_than`` s:
    a download still running writes more often than that."""
    for partial in target.parent.glob(f"{glob.escape(target.name)}.*.partial"):
        with contextlib.suppress(OSError):
            if time.time() - partial.stat().st_mtime > older_than:
                partial.unlink()


def local_checkpoints(model: str, data: str = "photos") -> list[Path]:
    """Checkpoints trained here for ``model`` on ``data``, best first (most steps, then lowest seed).

    File names are those of :meth:`depthrep.studies.train.TrainConfig.path`:
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
