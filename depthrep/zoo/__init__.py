"""What goes in: models and their layers by name, EfficientNet-Lite0 with its shipped ImageNet
weights, target images, the weights cache, and class scores with each model's input scaling.
"""

from depthrep.zoo.imagenet import classify, top_agreement, top_classes
from depthrep.zoo.models import fc_name, input_scaling, min_image_size, model_device

# The front door (``depthrep``) holds load_model, load_image, layers and their kin; these are the rest.
__all__ = [
    "classify",
    "fc_name",
    "input_scaling",
    "min_image_size",
    "model_device",
    "top_agreement",
    "top_classes",
]
