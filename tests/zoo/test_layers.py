import pytest

from depthrep import layers, load_model, node_names
from depthrep.errors import UnknownLayerError
from depthrep.zoo.layers import depth_order, resolve


def test_resnet_paper_names_in_depth_order(resnet18):
    assert layers(resnet18) == ["conv1_prepool", "conv1", "conv2", "conv3", "conv4", "conv5"]
    assert resolve(resnet18, ["conv2", "conv1_prepool"]) == {"conv2": "layer1", "conv1_prepool": "relu"}


def test_node_names_and_module_prefixes_are_accepted(resnet18):
    assert "layer2.1.relu_1" in node_names(resnet18)
    assert resolve(resnet18, "layer2.1.relu_1") == {"layer2.1.relu_1": "layer2.1.relu_1"}
    assert resolve(resnet18, "layer3.1") == {"layer3.1": "layer3.1"}
    assert depth_order(resnet18, ["conv5", "layer2.0.add", "conv1"]) == ["conv1", "layer2.0.add", "conv5"]


def test_unknown_layer_lists_valid_names_and_suggests(resnet18):
    with pytest.raises(UnknownLayerError) as err:
        resolve(resnet18, ["conv2", "conv6"])
    message = str(err.value)
    assert "Did you mean 'conv5'" in message
    assert "conv1_prepool, conv1, conv2, conv3, conv4, conv5" in message
    assert "node_names" in message
    with pytest.raises(UnknownLayerError, match="at least one"):
        resolve(resnet18, [])


def test_fully_connected_layers_follow_activation():
    linear = load_model("fc10x3", image_size=3, device="cpu")
    relu = load_model("fc10x3-relu", image_size=3, device="cpu")
    assert layers(linear) == ["fc1", "fc2", "fc3"]
    assert resolve(linear, "fc2") == {"fc2": "fc2"}
    assert resolve(relu, "fc2") == {"fc2": "relu2"}


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_inception_families_have_default_layers(name):
    model = load_model(name, device="cpu")
    names = layers(model)
    assert len(names) == 5
    assert depth_order(model, names[::-1]) == names
