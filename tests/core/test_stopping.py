"""Early stopping: converged members leave the batch, keep their image, and say when."""

import pytest
import torch

import depthrep
from depthrep.core.stopping import Stop
from depthrep.errors import StopError

LAYERS = ["conv1", "conv2", "conv3"]


def test_a_stopped_member_keeps_the_image_of_its_stopping_step(resnet18, hopper32):
    rule = Stop(tol=0.12, window=3)
    stopped = depthrep.invert(resnet18, hopper32, LAYERS, 20, progress=False, stop=rule)
    at = {name: int(r.stopped_at[0]) for name, r in stopped.items()}
    assert any(s >= 0 for s in at.values()), at  # the rule fires on some layer within 20 steps
    assert all(s < 0 or s >= rule.window for s in at.values())  # never before a full window
    # The same run without stopping, seen at every step: a member evolves as it would alone,
    # so a stopped member's image is the full run's image at its stopping step.
    seen = {}

    def keep(step, results):
        seen[step] = {name: r.image.clone() for name, r in results.items()}

    full = depthrep.invert(resnet18, hopper32, LAYERS, 20, progress=False, record_every=1, callback=keep)
    for name, step in at.items():
        expected = seen[step][name] if step >= 0 else full[name].image
        torch.testing.assert_close(stopped[name].image, expected, rtol=0, atol=1e-5)


def test_the_history_of_a_stopped_member_stays_where_it_stopped(resnet18, hopper32):
    results = depthrep.invert(resnet18, hopper32, LAYERS, 20, progress=False, record_every=1,
                              stop=Stop(tol=0.12, window=3))  # fmt: skip
    for r in results.values():
        s = int(r.stopped_at[0])
        if s >= 0:
            after = r.history.embedding_distance[s:, 0]
            assert torch.all(after == after[0]) and r.embedding_distance[0] == after[0]
            assert r.stopped.tolist() == [True] and r.summary()["stopped_at"] == s


def test_stopped_members_leave_the_batch(resnet18, hopper32, monkeypatch):
    encoder = depthrep.core.encoder_for(resnet18, LAYERS)
    sizes = []
    staged = type(encoder).staged

    def counting(self, x, blocks):
        sizes.append(len(x))
        return staged(self, x, blocks)

    monkeypatch.setattr(type(encoder), "staged", counting)
    images = torch.cat([hopper32, hopper32.flip(-1)])
    # ratio: every member stops at step 0, once its distances are known
    results = depthrep.invert(resnet18, images, LAYERS, 10, progress=False, stop=Stop(ratio=1e9))
    assert sizes == [6]  # one step of all members, then the loop ends: no final pass needed
    assert all(r.stopped_at.tolist() == [0, 0] and r.steps == 1 for r in results.values())
    sizes.clear()
    depthrep.invert(resnet18, images, LAYERS, 30, progress=False, stop=Stop(tol=0.12, window=3))
    assert sizes[0] == 6 and min(sizes) < 6 and sizes == sorted(sizes, reverse=True)


def test_a_ratio_target_stops_members_that_reach_it(resnet18, hopper32):
    free = depthrep.invert(resnet18, hopper32, "conv1", 30, progress=False)
    goal = float(free["conv1"].reference_ratio[0]) * 2  # reached within the run
    r = depthrep.invert(resnet18, hopper32, "conv1", 30, progress=False, stop=Stop(tol=0, ratio=goal))[
        "conv1"
    ]
    assert 0 <= int(r.stopped_at[0]) < 30 and float(r.reference_ratio[0]) <= goal


def test_without_stop_every_member_runs_every_step(resnet18, hopper32):
    results = depthrep.invert(resnet18, hopper32, LAYERS, 5, progress=False, stop=False)
    assert all(r.stopped_at.tolist() == [-1] and r.steps == 5 for r in results.values())


@pytest.mark.parametrize(
    "bad, match",
    [(dict(tol=1.5), "tol"), (dict(tol=-0.1), "tol"), (dict(window=0), "window"),
     (dict(window=2.5), "window"), (dict(ratio=0), "ratio")],
)  # fmt: skip
def test_a_rule_out_of_range_says_which_values_are_allowed(bad, match):
    with pytest.raises(StopError, match=match):
        Stop(**bad)


def test_stop_accepts_a_rule_true_or_nothing(resnet18, hopper32):
    with pytest.raises(StopError, match=r"depthrep\.Stop"):
        depthrep.invert(resnet18, hopper32, "conv1", 2, progress=False, stop="yes")
    assert depthrep.core.stopping.get_stop(True) == Stop() and depthrep.core.stopping.get_stop(None) is None
