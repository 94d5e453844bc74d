"""Every torchvision classification model: default layers in depth order, and two inversion steps.

Models that cannot run at the tiny default size are listed with the size they need and why;
the largest (over 250 million parameters) run under the `slow` marker (`make test-slow`).
"""

import pytest
import torch

import depthrep
from depthrep.zoo.layers import depth_order, family

# Built for a given input size: (size, reason).
SIZES = {
    "maxvit_t": (224, "its window partition of 7 must divide the feature map at every stage"),
    "inception_v3": (96, "its stem of valid convolutions and pools needs 75 px or more"),
    "alexnet": (64, "its three stride-2 max-pools and 11x11/4 stem need 63 px or more"),
    "vit_h_14": (28, "built for the size: two 14-px patches a side"),
}
SLOW = {"vit_h_14", "vit_l_16", "vit_l_32", "regnet_y_128gf"}  # 300-640 million parameters each


def size_of(name: str) -> int:
    if name in SIZES:
        return SIZES[name][0]
    return 32


def cases() -> list:
    return [
        pytest.param(name, marks=[pytest.mark.slow] if name in SLOW else [], id=name)
        for name in depthrep.model_names()
    ]


@pytest.mark.parametrize("name", cases())
def test_default_layers_and_two_steps_at_the_deepest(name, device):
    size = size_of(name)
    built_for = size if name.startswith(("vit_", "maxvit")) else None  # these need the size at build time
    model = depthrep.load_model(name, device=device, image_size=built_for)
    names = depthrep.layers(model)
    assert len(names) >= 4, family(model)
    assert depth_order(model, names) == names
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    result = depthrep.invert(model, image, names[-1], steps=2, record_every=1, progress=False)[names[-1]]
    assert result.steps == 2 and torch.isfinite(result.image).all()
    assert torch.isfinite(result.history.embedding_distance).all()
    assert result.target_norm > 0


def test_every_family_has_a_catalogue_entry():
    from depthrep.zoo.layers import CATALOGUE

    names = [n for n in depthrep.model_names() if n not in SLOW]
    families = {family(depthrep.load_model(n, device="meta")) for n in names}
    assert families <= set(CATALOGUE), families - set(CATALOGUE)
