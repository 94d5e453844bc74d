"""Results joined over runs and split back into members."""

import dataclasses

import pytest
import torch

import depthrep


@pytest.fixture(scope="module")
def two_runs(resnet18, hopper32):
    return [
        depthrep.invert(resnet18, hopper32, ["conv1", "conv3"], 3, seed=s, record_every=1, progress=False)
        for s in (0, 1)
    ]


def test_concat_then_select_gives_each_run_back(two_runs):
    joined = depthrep.concat_results(two_runs)
    assert len(joined["conv3"].image) == 2
    for member, run in enumerate(two_runs):
        for name in ("conv1", "conv3"):
            picked, original = joined[name].select([member]), run[name]
            for field in dataclasses.fields(original):
                a, b = getattr(picked, field.name), getattr(original, field.name)
                if isinstance(a, torch.Tensor):
                    assert torch.equal(a, b), field.name
            assert torch.equal(picked.history.input_distance, original.history.input_distance)
            assert torch.equal(picked.history.embedding_distance, original.history.embedding_distance)
            assert picked.layer == name and picked.steps == original.steps


def test_concat_refuses_runs_recorded_at_different_steps(resnet18, hopper32, two_runs):
    other = depthrep.invert(resnet18, hopper32, ["conv1", "conv3"], 3, record_every=2, progress=False)
    with pytest.raises(ValueError, match="record_every"):
        depthrep.concat_results([two_runs[0], other])
    with pytest.raises(ValueError, match="at least one"):
        depthrep.concat_results([])
