"""What goes in: models and their layers by name, EfficientNet-Lite0 with its shipped ImageNet
weights, target images, the weights cache, and class scores with each model's input scaling.
"""
