import os
import platform
import subprocess
import sys
import warnings

import pytest
import torch

from depthrep._util import precision
from depthrep._util.precision import ENV, choose_precision
from depthrep.errors import PrecisionWarning

AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
"""Make oneDNN and ATen behave as on a CPU with AVX2 and no AVX-512 (no native bfloat16)."""


@pytest.fixture
def native(monkeypatch):
    """Set what the probe answers: ``native(True)`` or ``native(False)``."""
    monkeypatch.delenv(ENV, raising=False)
    return lambda answer: monkeypatch.setattr(precision, "bf16_native", lambda device: answer)


def test_auto_takes_bfloat16_only_where_native(native):
    native(True)
    assert choose_precision("cpu") == "bfloat16"
    native(False)
    assert choose_precision("cpu") == "float32"


def test_float32_is_always_float32(native):
    native(True)
    assert choose_precision("cpu", "float32") == "float32"


def test_bfloat16_asked_for_where_emulated_warns_and_runs_float32(native):
    native(False)
    with pytest.warns(PrecisionWarning, match="emulated, 15-300x slower"):
        assert choose_precision("cpu", "bfloat16") == "float32"
    native(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert choose_precision("cpu", "bfloat16") == "bfloat16"


def test_the_environment_replaces_auto(native, monkeypatch):
    native(False)
    monkeypatch.setenv(ENV, "bfloat16")
    assert choose_precision("cpu") == "bfloat16"  # a user who knows better
    native(True)
    monkeypatch.setenv(ENV, "float32")
    assert choose_precision("cpu") == "float32"
    assert choose_precision("cpu", "bfloat16") == "bfloat16"  # an explicit choice is not replaced
    monkeypatch.setenv(ENV, "half")
    with pytest.raises(ValueError, match=r"Unknown \$DEPTHREP_PRECISION 'half'.*float32, bfloat16"):
        choose_precision("cpu")


def test_choosing_again_on_the_choice_changes_nothing(native, monkeypatch):
    for answer in (True, False):
        native(answer)
        for forced in ("", "float32", "bfloat16"):
            monkeypatch.setenv(ENV, forced)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PrecisionWarning)
                for asked in ("auto", "float32", "bfloat16"):
                    chosen = choose_precision("cpu", asked)
                    assert choose_precision("cpu", chosen) == chosen, (answer, forced, asked)


def test_unknown_precision_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"Did you mean 'float32'.*auto, float32, bfloat16"):
        choose_precision("cpu", "float23")


def test_autocast_only_for_bfloat16():
    x = torch.ones(2, 2)
    with precision.autocast("cpu", "bfloat16"):
        assert (x @ x).dtype == torch.bfloat16
    with precision.autocast("cpu", "float32"):
        assert (x @ x).dtype == torch.float32


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="AVX2 is an x86 instruction set")
def test_simulated_avx2_cpu_has_no_native_bfloat16():
    """The probe follows the oneDNN/ATen limits, so the slower CPU can be tested on the faster one."""
    env = {**os.environ, **AVX2}
    env.pop(ENV, None)
    code = (
        "from depthrep._util import precision as p; "
        "print(p.describe_hardware('cpu'), p.choose_precision('cpu'))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "AVX2, bfloat16 emulated float32"


def test_summary_names_device_capability_and_both_precisions(native):
    native(False)
    line = precision.summary("cpu")
    assert line.startswith("cpu (") and torch.backends.cpu.get_cpu_capability() in line
    assert line.endswith("inversion float32, training float32")
