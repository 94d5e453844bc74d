"""Coarse to fine (``Method.scales``): smaller scales first, each starting the next."""

import pytest
import torch

import depthrep
from depthrep.errors import MethodError

LAYERS = ["conv1", "conv3"]


def test_the_last_scale_starts_from_the_coarse_reconstruction(resnet18):
    image = depthrep.load_image("grace_hopper", 48)
    flat = depthrep.invert(resnet18, image, LAYERS, 12, progress=False, record_every=1)
    method = depthrep.get_method("adam", scales=(0.5, 1.0))
    fine = depthrep.invert(resnet18, image, LAYERS, 12, progress=False, record_every=1, method=method)
    for name in LAYERS:
        assert fine[name].image.shape == image.shape
        assert fine[name].history.step[-1] == 6 and fine[name].steps == 6  # the last scale's half
        # from noise, m_g starts where the flat run starts; from the coarse image, well below it
        first, start = fine[name].history.embedding_distance[0], flat[name].history.embedding_distance[0]
        assert (first < 0.9 * start).all(), (name, first, start)


def test_one_scale_is_the_flat_schedule(resnet18, hopper32):
    flat = depthrep.invert(resnet18, hopper32, LAYERS, 4, progress=False)
    same = depthrep.invert(resnet18, hopper32, LAYERS, 4, progress=False, method=depthrep.Method(scales=[1]))
    for name in LAYERS:
        torch.testing.assert_close(flat[name].image, same[name].image, rtol=0, atol=0)


@pytest.mark.parametrize("scales", [(), (0.5,), (1.0, 0.5), (0.0, 1.0), (0.5, 0.5, 1.0), (0.5, 1.5)])
def test_scales_must_rise_to_one(scales):
    with pytest.raises(MethodError, match="scales"):
        depthrep.Method(scales=scales)
