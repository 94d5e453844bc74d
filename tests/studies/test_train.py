import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

import depthrep
from depthrep._util import precision
from depthrep.errors import WeightsUnavailable
from depthrep.studies import train
from depthrep.zoo.checkpoints import load_checkpoint, local_checkpoints
from depthrep.zoo.models import available_weights

TINY = dict(size=16, steps=3, batch=4)


def test_config_key_changes_with_every_setting():
    base = train.TrainConfig(precision="float32")
    assert base.key() == train.TrainConfig(precision="float32").key()
    changes = (
        {"steps": 401},
        {"seed": 1},
        {"data": "noise"},
        {"size": 48},
        {"lr": 0.05},
        {"precision": "bfloat16"},
    )
    for change in changes:
        assert train.TrainConfig(**{"precision": "float32", **change}).key() != base.key(), change
    assert "bfloat16" in train.TrainConfig(precision="bfloat16").path().name
    with pytest.raises(ValueError, match="photos, gratings, leaves, noise"):
        train.TrainConfig(data="imagenet")
    with pytest.raises(ValueError, match=r"Unknown precision 'fp16'.*auto, float32, bfloat16"):
        train.TrainConfig(precision="fp16")


def test_auto_precision_is_resolved_before_it_names_a_checkpoint(monkeypatch):
    monkeypatch.delenv(precision.ENV, raising=False)
    with pytest.raises(ValueError, match="resolved"):
        train.TrainConfig().path()
    for native, expected in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(precision, "bf16_native", lambda device, native=native: native)
        assert train.TrainConfig().resolved("cpu").precision == expected
    monkeypatch.setenv(precision.ENV, "float32")
    monkeypatch.setattr(precision, "bf16_native", lambda device: True)
    assert train.TrainConfig().resolved("cpu").precision == "float32"


def test_checkpoint_says_which_precision_and_cpu_trained_it(cache, monkeypatch):
    monkeypatch.setenv(precision.ENV, "float32")
    trained = train.ensure_trained(train.TrainConfig(**TINY), device="cpu", progress=False)
    assert trained.config.precision == "float32" and "-float32-" in trained.path.name
    meta = torch.load(trained.path, weights_only=True)["meta"]
    assert meta["precision"] == "float32" and meta["config"]["precision"] == "float32"
    assert meta["hardware"] == precision.describe_hardware("cpu") and meta["device"] == "cpu"
    assert "float32" in trained.describe()
    # a published page names the checkpoint, never a folder of the machine that built it
    said = trained.describe()
    assert said.endswith(f"checkpoint {trained.path.name}") and str(cache) not in said
    # the same settings in the other precision are another checkpoint, never this one
    monkeypatch.setenv(precision.ENV, "bfloat16")
    assert not train.is_trained(train.TrainConfig(**TINY), device="cpu")
    monkeypatch.setenv(precision.ENV, "float32")
    assert train.is_trained(train.TrainConfig(**TINY), device="cpu")


def test_forced_bfloat16_trains_and_finds_a_bfloat16_checkpoint(cache, monkeypatch):
    """Forced where the probe says emulated: resolved twice (ensure_trained, then train), still bf16."""
    monkeypatch.setattr(precision, "bf16_native", lambda device: False)
    monkeypatch.setenv(precision.ENV, "bfloat16")
    config = train.TrainConfig(**{**TINY, "steps": 1, "batch": 2})
    trained = train.ensure_trained(config, device="cpu", progress=False)
    assert trained.config.precision == "bfloat16" and "-bfloat16-" in trained.path.name
    assert torch.load(trained.path, weights_only=True)["meta"]["precision"] == "bfloat16"
    assert train.is_trained(config, device="cpu")


def test_photo_crops_are_labelled_and_validation_comes_from_its_own_band(monkeypatch):
    from depthrep.studies import worlds

    top = torch.zeros(3, 40, 40)
    top[:, 30:] = 1.0  # the bottom quarter (the validation band) is white
    monkeypatch.setattr(worlds, "_photos", lambda size: (top,))
    g = torch.Generator().manual_seed(0)
    images, labels = worlds.photos(6, 16, g, split="validation")
    assert images.shape == (6, 3, 16, 16) and (labels == 0).all()
    assert images.min() > 0.99  # every validation crop lies in the white band
    train_images, _ = worlds.photos(6, 16, g, split="train")
    assert train_images.mean() < 0.1  # training crops never see it


@pytest.mark.parametrize("data", ["gratings", "leaves", "noise", train.JUDGE_DATA])
def test_every_world_and_the_judge_train_with_their_own_classes(cache, data):
    from depthrep.studies import worlds

    config = train.TrainConfig(**TINY, data=data, noise_images=8)
    trained = train.ensure_trained(config, device="cpu", progress=False)
    model = train.trained_model(trained)
    classes = len(worlds.WORLDS) if data == train.JUDGE_DATA else worlds.WORLDS[data].classes
    assert model.fc.out_features == (classes if data == train.JUDGE_DATA else worlds.HEAD)
    assert 0 <= trained.validation_accuracy <= 1
    chance = 1 / classes
    accuracy = trained.train_accuracy if data == "noise" else trained.validation_accuracy
    assert trained.learned == (accuracy > 2 * chance)
    x, y = train.batches(config, torch.Generator().manual_seed(0))()
    assert x.shape == (4, 3, 16, 16) and 0 <= x.min() and x.max() <= 1 and int(y.max()) < classes


def test_world_trainings_share_one_budget_and_the_judge_is_apart():
    profile = depthrep.profiles.get_profile("ci")
    worlds, judge = train.world_trainings(profile), train.judge_training(profile)
    assert len(worlds) == 4 * len(profile.world_seeds)
    assert {(c.model, c.size, c.steps, c.batch, c.lr) for c in worlds} == {
        (
            profile.trained_model,
            profile.world_size,
            profile.world_steps,
            32,
            0.05,
        )  # half the batch, half the rate
    }
    assert judge.model != profile.trained_model and judge.seed not in profile.world_seeds
    assert judge.data == train.JUDGE_DATA and judge.steps == profile.judge_steps
    assert (judge.batch, judge.lr) == (train.BATCH, train.LR)
    assert set(worlds) | {judge} <= set(train.profile_trainings(profile))


def test_world_models_pair_each_trained_model_with_its_initialisation(cache):
    profile = depthrep.profiles.get_profile(
        "ci", world_size=16, world_steps=2, world_seeds=(0, 1), judge_steps=2
    )
    found = train.world_models(profile, device="cpu")
    assert list(found) == [depthrep.studies.UNTRAINED, *depthrep.studies.WORLDS]
    assert all(len(v) == 2 for v in found.values())
    untrained = found[depthrep.studies.UNTRAINED][1].model.conv1.weight
    for world in ("photos", "gratings"):  # 10 and 4 classes: one head, so one initialisation
        config = train.TrainConfig(data=world, seed=1)
        start = depthrep.load_model("resnet18", seed=1, device="cpu", num_classes=config.classes)
        assert torch.equal(untrained, start.conv1.weight)
    assert "2 steps" in found["leaves"][0].description
    for world in depthrep.studies.WORLDS:  # a model that did not learn its world says so
        config = train.world_trainings(profile)[list(depthrep.studies.WORLDS).index(world) * 2]
        assert found[world][0].learned == train.ensure_trained(config, device="cpu").learned
    assert train.world_judge(profile, device="cpu").model.fc.out_features == len(depthrep.studies.WORLDS)


def test_tiny_training_writes_a_reusable_checkpoint(cache):
    config = train.TrainConfig(**TINY)
    first = train.ensure_trained(config, device="cpu", progress=False)
    assert first.path == config.resolved("cpu").path() and first.path.parent == cache
    assert not list(cache.glob(".*.part"))  # written atomically, no leftovers
    stamp = os.stat(first.path).st_mtime_ns
    again = train.ensure_trained(config, device="cpu", progress=False)
    assert os.stat(again.path).st_mtime_ns == stamp and again.train_accuracy == first.train_accuracy
    model = depthrep.load_model("resnet18", weights="local", device="cpu")
    assert model.fc.out_features == len(train.TRAIN_PHOTOS)
    assert local_checkpoints("resnet18") == [first.path]
    assert available_weights("resnet18")["local"] is None
    state, _ = load_checkpoint(first.path)  # trained channels-last, saved in the usual layout
    assert all(t.is_contiguous() for t in state.values())


def test_two_callers_at_once_train_the_model_once(cache, monkeypatch):
    """Two notebooks run side by side and needing the same model: one trains, the other waits."""
    config = train.TrainConfig(**TINY)
    real_train, calls, arrived, both_there = train.train, [], [], threading.Event()

    class SeenLock(train.FileLock):
        def acquire(self, *args, **kwargs):
            arrived.append(1)
            if len(arrived) == 2:
                both_there.set()
            return super().acquire(*args, **kwargs)

    def train_once_both_are_there(*args, **kwargs):
        calls.append(1)
        assert both_there.wait(60), "the second caller never asked for the lock"  # it waits on it now
        return real_train(*args, **kwargs)

    monkeypatch.setattr(train, "FileLock", SeenLock)
    monkeypatch.setattr(train, "train", train_once_both_are_there)
    with ThreadPoolExecutor(2) as pool:
        found = list(pool.map(lambda _: train.ensure_trained(config, device="cpu", progress=False), range(2)))
    assert len(calls) == 1
    assert found[0].path == found[1].path and found[0].train_accuracy == found[1].train_accuracy
    for lock in cache.glob(".*.lock"):
        lock.unlink()
    assert train.ensure_trained(config, device="cpu", progress=False).path == found[0].path
    assert not list(cache.glob(".*.lock"))  # a checkpoint that is there is read without a lock


def test_same_seed_same_weights(cache):
    config = train.TrainConfig(**TINY, data="noise", noise_images=8)
    a = train.train(config, device="cpu", progress=False)
    state_a = torch.load(a.path, weights_only=True)["state_dict"]["fc.weight"]
    b = train.train(config, device="cpu", progress=False)
    assert torch.equal(state_a, torch.load(b.path, weights_only=True)["state_dict"]["fc.weight"])


def test_corrupt_cache_is_rebuilt_with_a_warning(cache):
    config = train.TrainConfig(**TINY)
    path = train.ensure_trained(config, device="cpu", progress=False).path
    path.write_bytes(path.read_bytes()[:1000])  # truncated by hand
    with pytest.warns(UserWarning, match="Retraining"):
        rebuilt = train.ensure_trained(config, device="cpu", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert train.ensure_trained(config, device="cpu", progress=False).path == rebuilt.path


def test_local_weights_missing_say_how_to_train(cache):
    with pytest.raises(WeightsUnavailable, match="python -m depthrep train resnet34"):
        depthrep.load_model("resnet34", weights="local")
    assert "not trained here" in available_weights("resnet34")["local"]


def test_trained_models_are_the_photo_worlds_models(cache):
    profile = depthrep.profiles.get_profile("ci", world_size=16, world_steps=2, world_seeds=(0, 1))
    found = train.trained_models(profile, "local", device="cpu")
    assert [w.label for w in found] == ["photos, seed 0", "photos, seed 1"]
    assert "2 steps" in found[0].description and not found[0].model.training
    assert profile.trained_size() == 16
    with pytest.raises(ValueError, match="local"):
        train.trained_models(profile, "best")


def test_a_cache_that_cannot_be_written_says_so_before_training(cache, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(train.FileLock, "acquire", refuse)
    monkeypatch.setattr(train, "train", lambda *a, **kw: pytest.fail("trained anyway"))
    config = train.TrainConfig(**TINY, precision="float32")
    says = r"cannot be written to train it \(Permission denied\)"
    with pytest.raises(depthrep.errors.CheckpointError, match=says):
        train.ensure_trained(config, device="cpu")


@pytest.mark.parametrize(
    "model, says",
    [("fc100x2", "fully connected nets"), ("vit_b_32", "vit_b_32 cannot take the 16 px training images")],
)
def test_models_that_cannot_train_here_are_refused_before_any_data(model, says, cache, monkeypatch):
    monkeypatch.setattr(train, "batches", lambda *a: pytest.fail("drew data"))
    with pytest.raises(depthrep.errors.TrainError, match=says):
        train.train(train.TrainConfig(model=model, **TINY, precision="float32"), device="cpu")


def test_the_default_training_is_the_one_the_default_profile_uses():
    """``depthrep train resnet18`` (TrainConfig's defaults) trains the model the chapters load."""
    from depthrep.profiles import DEFAULT, PROFILES

    assert train.world_trainings(PROFILES[DEFAULT])[0] == train.TrainConfig()


def test_every_run_a_profile_trains_is_listed_once():
    from depthrep.profiles import get_profile

    runs = train.profile_trainings(get_profile("ci"))
    assert len(runs) == len(set(runs)) == len(train.WORLDS) * len(get_profile("ci").world_seeds) + 1


def test_the_learning_rate_follows_the_batch():
    assert train.scaled_lr(train.BATCH) == train.LR
    assert train.scaled_lr(2 * train.BATCH) == 2 * train.LR and train.scaled_lr(16) == train.LR / 4
    with pytest.raises(ValueError, match="positive"):
        train.scaled_lr(0)
    laptop = train.world_trainings(depthrep.profiles.get_profile("laptop"))
    assert {(c.batch, c.lr) for c in laptop} == {(train.BATCH, train.LR)}  # its models are unchanged
