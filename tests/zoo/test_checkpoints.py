import errno
import hashlib
import io
import os
import subprocess
import time

import pytest
import torch

from depthrep.errors import CheckpointError
from depthrep.zoo import checkpoints
from depthrep.zoo.checkpoints import STALE_PART_AGE, cache_dir, download, load_checkpoint, save_checkpoint

STATE = {"w": torch.arange(6.0).reshape(2, 3)}


def test_a_checkpoint_round_trips(tmp_path):
    path = save_checkpoint(tmp_path / "w.pt", STATE, {"classes": 9})
    state_dict, meta = load_checkpoint(path)
    assert torch.equal(state_dict["w"], STATE["w"]) and meta == {"classes": 9}


def test_a_folder_is_not_called_corrupt(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder, not a weights file") as err:
        load_checkpoint(tmp_path)
    assert "truncated" not in str(err.value)


def test_a_file_that_cannot_be_read_is_not_called_corrupt(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "w.pt", STATE, {})

    def denied(file, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(file))

    monkeypatch.setattr(checkpoints, "open", denied, raising=False)
    with pytest.raises(CheckpointError, match="permission denied") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and "truncated" not in str(err.value)


def test_a_read_error_while_loading_is_not_called_corrupt(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "w.pt", STATE, {})

    def failing_disk(file, *args, **kwargs):  # opens, then fails halfway: a bad sector, a lost mount
        raise OSError(errno.EIO, "Input/output error", str(file))

    monkeypatch.setattr(torch, "load", failing_disk)
    with pytest.raises(CheckpointError, match=rf"Cannot read {path} \(Input/output error\)") as err:
        load_checkpoint(path)
    assert "truncated" not in str(err.value) and "elete" not in str(err.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_a_checkpoint_without_read_permission(tmp_path):
    path = save_checkpoint(tmp_path / "w.pt", STATE, {})
    path.chmod(0)
    try:
        with pytest.raises(CheckpointError, match="permission denied"):
            load_checkpoint(path)
    finally:
        path.chmod(0o644)


def test_a_corrupt_checkpoint_says_so_and_what_to_do(tmp_path):
    path = tmp_path / "w.pt"
    path.write_bytes(b"\x00not a checkpoint" * 8)
    with pytest.raises(CheckpointError, match=r"truncated or not a PyTorch weights file.*Delete it"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="Retrain it"):
        load_checkpoint(path, remedy="Retrain it.")


def _fills_the_disk(error):
    def save(payload, tmp):
        with open(tmp, "wb") as f:
            f.write(b"partial")
        raise error

    return save


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        RuntimeError("[enforce fail at inline_container.cc] . unexpected pos 123 vs 456"),
    ],
    ids=["ENOSPC", "torch-unexpected-pos"],
)
def test_a_full_disk_says_so_and_leaves_nothing(cache, monkeypatch, error):
    monkeypatch.setattr(torch, "save", _fills_the_disk(error))
    with pytest.raises(CheckpointError, match=f"The disk is full at {cache}") as err:
        save_checkpoint(cache / "w.pt", STATE, {})
    assert f"needs about {STATE['w'].numel() * 4 / 1e6:.1f} MB" in str(err.value)
    assert "DEPTHREP_CACHE" in str(err.value)
    assert list(cache.iterdir()) == []


def test_atomic_write_itself_raises_a_full_disk_as_oserror(tmp_path):
    def full(tmp):
        tmp.write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):  # the CLI reports its own writes so
        checkpoints.atomic_write(tmp_path / "out.json", full)
    assert list(tmp_path.iterdir()) == []


def test_other_write_errors_pass_through(cache, monkeypatch):
    monkeypatch.setattr(torch, "save", _fills_the_disk(RuntimeError("something else")))
    with pytest.raises(RuntimeError, match="something else"):
        save_checkpoint(cache / "w.pt", STATE, {})
    assert list(cache.iterdir()) == []


def test_a_read_only_cache_names_the_folder_and_the_variable(cache, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(torch, "save", refuse)
    with pytest.raises(CheckpointError, match=f"in {cache} \\(Permission denied\\).*DEPTHREP_CACHE"):
        save_checkpoint(cache / "w.pt", STATE, {})
    monkeypatch.setenv("DEPTHREP_CACHE", str(tmp_path / "locked" / "cache"))
    monkeypatch.setattr(checkpoints.Path, "mkdir", refuse)
    with pytest.raises(CheckpointError, match=r"cache folder .*locked.*DEPTHREP_CACHE"):
        cache_dir()


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _part(folder, pid: int, age: float):
    part = folder / f".old.pt.{pid}.0badf00d.part"
    part.write_bytes(b"half")
    os.utime(part, (time.time() - age,) * 2)
    return part


def test_stale_part_files_of_killed_processes_are_removed_on_the_next_write(cache):
    dead, alive = _dead_pid(), os.getppid()
    killed = _part(cache, dead, age=120)
    just_written = _part(cache, dead, age=0).rename(cache / f".new.pt.{dead}.0badf00d.part")
    running = _part(cache, alive, age=120).rename(cache / f".run.pt.{alive}.0badf00d.part")
    ancient = _part(cache, alive, age=STALE_PART_AGE + 1).rename(cache / f".ant.pt.{alive}.0badf00d.part")
    save_checkpoint(cache / "w.pt", STATE, {})
    assert not killed.exists() and not ancient.exists()
    assert just_written.exists() and running.exists()  # another machine's, or still being written


class Response(io.BytesIO):
    def __init__(self, data: bytes, length: int | None = None):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data) if length is None else length)}


@pytest.fixture
def server(monkeypatch):
    """What the fake network serves: set ``server.data`` (and ``server.length``)."""

    class Server:
        data, length = b"weights", None

    def urlopen(request, timeout=None):
        assert timeout is not None
        return Response(Server.data, Server.length)

    monkeypatch.setattr(checkpoints.urllib.request, "urlopen", urlopen)
    return Server


def test_download_checks_the_hash_prefix_in_the_name(tmp_path, server):
    good = tmp_path / f"w-{hashlib.sha256(server.data).hexdigest()[:8]}.pth"
    assert download("https://example.org/w.pth", good).read_bytes() == server.data
    bad = tmp_path / "w-00000000.pth"
    with pytest.raises(CheckpointError, match="corrupt"):
        download("https://example.org/w.pth", bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == [good.name]


def test_a_download_cut_short_leaves_nothing(tmp_path, server):
    server.length = 1000
    with pytest.raises(ConnectionError, match="closed after 7 of 1,000 bytes"):
        download("https://example.org/w.pth", tmp_path / "w.pth")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_while_downloading_names_the_hub_folder(tmp_path, server, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    hub = tmp_path / "hub" / "checkpoints"

    def full(file, mode="r", *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(file))

    monkeypatch.setattr(checkpoints, "open", full, raising=False)
    with pytest.raises(CheckpointError, match=f"The disk is full at {hub}.*TORCH_HOME"):
        download("https://example.org/w.pth", hub / "w.pth")
    assert list(hub.iterdir()) == []
