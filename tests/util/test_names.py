from depthrep._util.names import did_you_mean


def test_nearest_names_or_nothing():
    assert did_you_mean("resnet5O", ["resnet50", "vgg16"]) == " Did you mean 'resnet50'?"
    assert did_you_mean("conv9", ["conv5", "conv4", "fc"], n=2) == " Did you mean 'conv5' or 'conv4'?"
    assert did_you_mean("zzz", ["resnet50"]) == ""
    assert did_you_mean(42, ["42a"]) == " Did you mean '42a'?"  # any object, by its text
