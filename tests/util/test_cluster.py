"""The one dispatch of work to submitit that the sweep and the book runner share."""

import pytest

from depthrep._util import cluster


def test_submit_array_sends_each_executor_the_settings_it_takes(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(
        cluster, "submit_local", lambda folder, work, calls, **kw: seen.update(local=(calls, kw))
    )

    class Array:
        def map_array(self, work, *lists):
            seen["slurm"] = lists

    monkeypatch.setattr(cluster, "slurm_executor", lambda folder, **kw: seen.update(settings=kw) or Array())
    calls = [("a", 0), ("b", 1)]
    settings = dict(timeout_min=9, partition="gpu", gpus_per_task=None, slurm={"account": "abc"})
    cluster.submit_array("local", tmp_path, print, calls, name="x", array_parallelism=2, **settings)
    assert seen["local"] == (calls, {"timeout_min": 9})  # Slurm's settings mean nothing here
    cluster.submit_array("slurm", tmp_path, print, calls, name="x", array_parallelism=2, **settings)
    assert seen["slurm"] == (("a", "b"), (0, 1))  # one list per argument of the work
    assert seen["settings"] == {"name": "x", "array_parallelism": 2, **settings}
    with pytest.raises(TypeError, match=r"timeout_mins; it takes gpus_per_task"):
        cluster.submit_array("local", tmp_path, print, calls, name="x", array_parallelism=2, timeout_mins=9)
