"""The command line: `depthrep layers | invert | train`, in-process and once end to end."""

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import matplotlib.figure
import numpy as np
import pytest
import torch
from conftest import ROOT
from PIL import Image

import depthrep
import depthrep.__main__ as cli
from depthrep.__main__ import main
from depthrep._util.cli import EXAMPLES_HEADING, ArgumentParser, HelpFormatter
from depthrep.book import run as book
from depthrep.core import jobs as engine  # the CLI runs its inversion through jobs.run_job
from depthrep.sweep import cli as sweep

RESNET_LAYERS = ["conv1_prepool", "conv1", "conv2", "conv3", "conv4", "conv5"]


def tiny(out: Path, device, *extra: str) -> list[str]:
    """Arguments of a tiny inversion: resnet18 at 32 px, 3 steps, conv1 and conv5."""
    return ["invert", "--model", "resnet18", "--layers", "conv1", "conv5", "--size", "32", "--steps", "3",
            "--device", str(device), "--out", str(out), *extra]  # fmt: skip


def command(*args: str, **kwargs) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    return subprocess.Popen(
        [sys.executable, "-m", "depthrep", *args], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs,
    )  # fmt: skip


def _default_sigint() -> None:
    """In the child: Ctrl-C as in a terminal, even when the tests themselves were started in the
    background (``cmd &`` in a script), which makes SIGINT ignored for every process below."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_layers_lists_the_paper_names_with_their_nodes(capsys):
    assert main(["layers", "resnet50"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [r[0] for r in rows] == RESNET_LAYERS
    assert [r[1] for r in rows] == ["relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]


def test_precision_says_what_runs_here(capsys, monkeypatch):
    monkeypatch.setenv(depthrep._util.precision.ENV, "float32")
    assert main(["precision"]) == 0
    line = capsys.readouterr().out.strip()
    assert line == depthrep._util.precision.summary(depthrep.zoo.models.default_device())
    assert "DEPTHREP_PRECISION=float32" in line and line.endswith("inversion float32, training float32")


def test_layers_nodes_lists_every_torchvision_node(capsys):
    assert main(["layers", "resnet18", "--nodes"]) == 0
    nodes = capsys.readouterr().out.split()
    assert nodes[0] == "x" and nodes[-1] == "fc" and "layer4.1.relu_1" in nodes


def test_invert_end_to_end(tmp_path, device, hopper32, resnet18):
    out = tmp_path / "out"
    process = command(*tiny(out, device))
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert "invert 2 layer(s):" in stderr and "/3 [" in stderr  # the progress bar
    assert f"wrote {out / 'reconstructions.png'} and {out / 'distances.json'}" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["distances.json", "reconstructions.png"]
    with Image.open(out / "reconstructions.png") as grid:
        assert grid.format == "PNG" and grid.width > 2 * grid.height  # target, conv1, conv5 in a row

    report = json.loads((out / "distances.json").read_text())
    assert {k: report[k] for k in ("model", "weights", "size", "steps", "seed", "method")} == {
        "model": "resnet18", "weights": "random", "size": 32, "steps": 3, "seed": 0, "method": "adam"
    }  # fmt: skip
    assert report["seconds"] > 0 and list(report["layers"]) == ["conv1", "conv5"]
    assert report["precision"] == "float32"
    assert report["job"].startswith("resnet18-random-grace_hopper-32px-seed0-adam-3steps-")  # its job id
    assert {"threads", "host"} <= set(report) and {"torch", "depthrep"} <= set(report["versions"])
    if device.type == "cpu":
        assert report["hardware"] == depthrep._util.precision.describe_hardware("cpu")
    for layer, d in report["layers"].items():
        # m_r and ||a' - a|| from the distances module, not from the inversion
        shifted = depthrep.shifted_reference(resnet18, hopper32, layer)
        assert d["m_r"] == pytest.approx(float(shifted.distance), rel=1e-4)
        assert d["shift_distance"] == pytest.approx(float((shifted.image - hopper32).norm()), rel=1e-4)
        assert d["relative_m_g"] == pytest.approx(d["m_g"] / d["target_norm"])
        assert d["m_g_over_m_r"] == pytest.approx(d["m_g"] / d["m_r"])
        assert d["steps"] == 3 and d["m_i"] > 0
        assert d["psnr"] == pytest.approx(-20 * np.log10(d["m_i"] / np.sqrt(3 * 32 * 32)), rel=1e-4)
        assert -1 <= d["ssim"] <= 1
    rows = {line.split()[0]: line.split()[1:] for line in stdout.splitlines()[2:4]}
    assert float(rows["conv5"][0]) == pytest.approx(report["layers"]["conv5"]["m_i"], rel=1e-2)


def test_sweep_is_a_command_of_the_cli(tmp_path, capsys):
    assert main(["sweep", "plan", "--profile", "ci", "--models", "resnet18", "--seeds", "0", "1",
                 "--out", str(tmp_path)]) == 0  # fmt: skip
    images = depthrep.profiles.get_profile("ci").images  # one job per model, image and seed
    assert len((tmp_path / "jobs.jsonl").read_text().splitlines()) == 2 * len(images)
    assert "python -m depthrep sweep submit" in capsys.readouterr().out
    assert main(["sweep", "merge", str(tmp_path / "nowhere")]) == 2  # the sweep's own errors, one line


BAD = {
    "unknown model": (["invert", "--model", "resnet5", "--out", "OUT"], "Unknown model 'resnet5'"),
    "unknown layer": (["invert", "--model", "resnet18", "--layers", "conv9", "--out", "OUT"],
                      "Unknown layer 'conv9' for ResNet. Did you mean 'conv5'"),
    "unknown image": (["invert", "--model", "resnet18", "--image", "grace", "--out", "OUT"], "No image file"),
    "size": (["invert", "--model", "resnet18", "--size", "0", "--out", "OUT"], "--size: 0 is not positive"),
    "steps": (["invert", "--model", "resnet18", "--steps", "ten", "--out", "OUT"], "'ten' is not a whole"),
    "method": (["invert", "--model", "resnet18", "--method", "lbfgs", "--out", "OUT"], "invalid choice"),
    "no out": (["invert", "--model", "resnet18"], "required: --out"),
    "out is a file": (["invert", "--model", "resnet18", "--out", "FILE"], "FILE is a file, not a folder;"),
    "weights file": (["invert", "--model", "resnet18", "--weights", "nope.pt", "--out", "OUT"],
                     "is neither 'random', 'imagenet'"),
    "local weights": (["invert", "--model", "resnet18", "--weights", "local", "--out", "OUT"],
                      "No resnet18 trained here yet"),
    "no command": ([], "required: COMMAND"),
    "layers of nothing": (["layers", "lenet"], "Unknown model 'lenet'"),
    "train nothing": (["train", "lenet", "--steps", "2"], "Unknown model 'lenet'"),
    "precision": (["invert", "--model", "resnet18", "--precision", "fp16", "--out", "OUT"], "invalid choice"),
    "forced precision": (["precision"], "Unknown $DEPTHREP_PRECISION 'half'"),
    "size below the blur": (["invert", "--model", "resnet18", "--size", "1", "--out", "OUT"],
                            "1x1 pixels; this method needs at least 2x2"),
    "seed too large": (["invert", "--model", "resnet18", "--seed", str(2**27), "--out", "OUT"],
                       "is outside 0 to 2^27 - 1"),
    "negative seed": (["train", "resnet18", "--seed", "-1"], "is outside 0 to 2^27 - 1"),
    "meta device": (["invert", "--model", "resnet18", "--device", "meta", "--out", "OUT"],
                    "depthrep runs on cpu, cuda or mps"),
    "memory budget": (["invert", "--model", "resnet18", "--memory-budget", "lots", "--out", "OUT"],
                      "'lots' is not a size in bytes"),
    "out under a file": (["invert", "--model", "resnet18", "--out", "FILE/run"], "FILE is a file, not a"),
    "too small for the model": (["invert", "--model", "inception_v3", "--size", "32", "--layers", "Mixed_7c",
                                 "--out", "OUT"], "inception_v3 takes inputs of 75 px or more"),
    "train an fc net": (["train", "fc100x2", "--steps", "2"], "fully connected nets, which are inverted"),
    "train too small": (["train", "inception_v3", "--steps", "2"], "inception_v3 cannot take the 32 px"),
    "empty out": (["invert", "--model", "resnet18", "--out", ""], "--out: is empty: pass a folder"),
    "out name too long": (["invert", "--model", "resnet18", "--out", "OUT/" + "x" * 300],
                          "a name of 300 bytes"),
}  # fmt: skip


@pytest.mark.parametrize("args, reason", BAD.values(), ids=BAD.keys())
def test_bad_arguments_exit_2_with_a_one_line_reason(args, reason, tmp_path, monkeypatch, capsys, cache):
    monkeypatch.setenv(depthrep._util.precision.ENV, "half" if args == ["precision"] else "")
    (tmp_path / "FILE").write_text("")
    args = [str(tmp_path / a) if a.split("/")[0] in ("OUT", "FILE") else a for a in args]
    with pytest.raises(SystemExit) as exit_:  # argparse's own errors exit; the library's return
        raise SystemExit(main(args))
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if not line.startswith("Downloading")]
    assert len(lines) == 1 and lines[0].startswith("depthrep: error: ") and reason in lines[0], captured.err
    header = [line for line in captured.out.splitlines() if not line.startswith(args[2] + " (")]
    assert header == [] and not (tmp_path / "OUT").exists()  # at most the run's header line


def test_help_is_complete(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert all(f"    {name}" in text for name in ("layers", "invert", "train")) and "examples:" in text
    commands = next(a for a in cli.parser()._actions if a.dest == "command")
    for name, sub in commands.choices.items():
        for action in sub._actions:
            assert action.help, (
                f"`depthrep {name} {'/'.join(action.option_strings) or action.dest}` has no help"
            )
        with pytest.raises(SystemExit):
            main([name, "--help"])
        shown = capsys.readouterr().out
        assert all(o in shown for a in sub._actions for o in a.option_strings)


def parsers(top):
    """``{prog: parser}`` of ``top`` and every subparser below it."""
    found = {top.prog: top}
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= parsers(sub)
    return found


@pytest.mark.parametrize("module", [cli, book, sweep], ids=["depthrep", "book", "sweep"])
def test_every_command_line_has_the_one_help_style(module, capsys):
    """``depthrep``, ``depthrep book`` and ``depthrep sweep``: one formatter in every parser and
    subparser, programs named as the installed script calls them, an examples epilog at each top."""
    top = module.parser()
    assert top.prog == module.PROG and top.prog.split()[0] == "depthrep"  # [project.scripts]
    found = parsers(top)
    assert len(found) > 1 or module is book
    for prog, parser in found.items():
        assert parser.formatter_class is HelpFormatter, f"`{prog} --help` uses {parser.formatter_class}"
        assert prog.startswith(top.prog)
    heading, *lines = top.epilog.splitlines()
    assert heading == EXAMPLES_HEADING and lines, f"`{top.prog} --help` ends with no examples"
    assert lines[0].startswith(f"  {top.prog} ")
    for line in lines:  # a command of this program, or the rest of one after a backslash
        assert line.startswith((f"  {top.prog} ", "      ")), line
    with pytest.raises(SystemExit) as exit_:
        top.parse_args(["--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.endswith(f"\n{top.epilog}\n")


def test_the_help_keeps_line_breaks_and_shows_defaults(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    parser = ArgumentParser(prog="depthrep demo", description="First line.\n  kept as it is\n" + "long " * 40)
    parser.add_argument("--size", type=int, default=128, help="side in pixels")
    parser.add_argument("--weights", nargs="+", default=["random", "imagenet"], help="weights")
    parser.add_argument("--layers", nargs="+", help="layers (default: every layer)")
    parser.add_argument("--nodes", action="store_true", help="list nodes")
    parser.add_argument("--grow", default=2.0, help="%(default)s times")
    parser.add_argument("model", nargs="?", default="resnet18", help="a model")
    text = parser.format_help()
    description = text.split("\n\n")[1]
    assert description.startswith("First line.\n  kept as it is\nlong long ")  # and wrapped:
    assert len(description.splitlines()) > 3 and max(map(len, description.splitlines())) <= 78
    shown = " ".join(text.split()) + " "
    assert "side in pixels (default: 128) " in shown and "weights (default: random imagenet) " in shown
    for bare in ("layers (default: every layer) ", "list nodes ", "2.0 times ", "a model "):
        assert bare in shown


def test_ctrl_c_exits_130_and_writes_nothing(tmp_path, device, monkeypatch, capsys):
    real = engine.invert

    def interrupted(*args, **kwargs):
        def press_ctrl_c(step, results):
            if step >= 2:
                raise KeyboardInterrupt

        return real(*args, **{**kwargs, "callback": press_ctrl_c})

    monkeypatch.setattr(engine, "invert", interrupted)
    out = tmp_path / "out"
    assert main(tiny(out, device)) == 130
    assert capsys.readouterr().err.strip().endswith("depthrep: interrupted; the output folder is as it was")
    assert not out.exists() or not any(out.iterdir())


def test_ctrl_c_while_writing_leaves_neither_file(tmp_path, device, monkeypatch):
    real = cli.atomic_write

    def write(path, fn):
        if path.suffix == ".json":
            raise KeyboardInterrupt
        return real(path, fn)

    monkeypatch.setattr(cli, "atomic_write", write)
    out = tmp_path / "out"
    assert main(tiny(out, device)) == 130
    assert list(out.iterdir()) == []


def _pair(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.mark.parametrize("where", ["savefig", "json"])
@pytest.mark.parametrize("fault", [KeyboardInterrupt, OSError(28, "No space left on device")])
def test_a_failed_rerun_keeps_the_previous_pair(fault, where, tmp_path, device, monkeypatch, capsys):
    out = tmp_path / "out"
    assert main(tiny(out, device)) == 0
    before = _pair(out)
    real = cli.atomic_write

    def write(path, fn):
        if path.suffix == ".json":  # the PNG is complete under its temporary name by now
            raise fault
        return real(path, fn)

    def savefig(*args, **kwargs):  # Ctrl-C or a full disk halfway through the PNG
        raise fault

    if where == "json":
        monkeypatch.setattr(cli, "atomic_write", write)
    else:
        monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    status = main(tiny(out, device, "--seed", "1"))
    assert _pair(out) == before  # the old pair, byte for byte, and no temporary files
    err = capsys.readouterr().err.strip().splitlines()[-1]
    if fault is KeyboardInterrupt:
        assert status == 130 and err.endswith("the output folder is as it was")
    else:
        assert (
            status == 1 and err == f"depthrep: cannot write the results into {out}: No space left on device"
        )


def test_a_rerun_replaces_both_files(tmp_path, device):
    out = tmp_path / "out"
    assert main(tiny(out, device)) == 0
    first = _pair(out)
    assert main(tiny(out, device, "--seed", "1")) == 0
    second = _pair(out)
    assert list(second) == list(first) and all(second[k] != first[k] for k in first)


def test_a_flat_image_writes_undefined_ratios_as_null(tmp_path, device, capsys):
    Image.new("RGB", (48, 48)).save(tmp_path / "black.png")
    out = tmp_path / "out"
    assert main(tiny(out, device, "--image", str(tmp_path / "black.png"))) == 0
    report = json.loads((out / "distances.json").read_text(), parse_constant=pytest.fail)
    for layer in ("conv1", "conv5"):
        d = report["layers"][layer]
        assert d["target_norm"] == 0 and d["relative_m_g"] is None and d["relative_m_r"] is None
        assert d["undefined"] == cli.ZERO_EMBEDDING and d["m_g"] > 0 and d["m_g_over_m_r"] > 0
    captured = capsys.readouterr()
    assert captured.out.count("n/a") == 4 and captured.out.count(cli.ZERO_EMBEDDING) == 2
    warned = [line for line in captured.err.splitlines() if "embedding is zero" in line]
    assert len(warned) == 1 and warned[0].startswith(  # said once, on one line
        "depthrep: warning: The target's embedding is zero at conv1 (image 0); conv5 (image 0): "
    )
    assert captured.err.index("depthrep: warning:") < captured.err.index("invert 2 layer(s)")  # at the start


def test_divergence_is_recorded_marked_and_exits_3(tmp_path, device, monkeypatch, capsys):
    real, show = engine.invert, cli.show_reconstructions
    explode = depthrep.get_method("paper", lr=(1e6, 1e6), blur=None)
    monkeypatch.setattr(engine, "invert", lambda *a, **kw: real(*a, **{**kw, "method": explode}))
    figures = []
    monkeypatch.setattr(
        cli, "show_reconstructions", lambda *a, **kw: figures.append(show(*a, **kw)) or figures[-1]
    )
    out = tmp_path / "out"
    assert main(tiny(out, device)) == cli.DIVERGED == 3
    report = json.loads((out / "distances.json").read_text(), parse_constant=pytest.fail)  # no bare NaN
    steps = {layer: d["diverged_at"] for layer, d in report["layers"].items()}
    assert all(isinstance(step, int) and 0 <= step <= 3 for step in steps.values()), steps
    captured = capsys.readouterr()
    assert all(f"diverged at step {step}" in captured.out for step in steps.values())
    captions = [text.get_text() for axes in figures[0].axes for text in axes.texts]
    assert [c.split("\n")[-1] for c in captions if "DIVERGED" in c] == [
        f"DIVERGED at step {step}" for step in steps.values()
    ]  # the figure marks each layer under its reconstruction
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("depthrep: diverged at conv1 (step") and "results written" in last
    assert "DivergenceWarning" not in captured.err  # said once, by the CLI


def test_json_holds_no_bare_nan():
    assert cli._finite({"a": [float("nan"), 1.0], "b": {"c": float("inf")}, "d": "x"}) == {
        "a": [None, 1.0],
        "b": {"c": None},
        "d": "x",
    }


def test_memory_budget_reaches_the_run(tmp_path, device, monkeypatch):
    seen = {}
    real = engine.invert
    monkeypatch.setattr(engine, "invert", lambda *a, **kw: seen.update(kw) or real(*a, **kw))
    assert main(tiny(tmp_path / "out", device, "--memory-budget", "1.5M")) == 0
    assert seen["memory_budget"] == int(1.5 * 2**20)
    assert [cli._bytes(t) for t in ("4096", "2k", "3G", "1gib")] == [4096, 2048, 3 * 2**30, 2**30]


def test_an_unwritable_out_is_refused_before_the_run(tmp_path, device, monkeypatch, capsys):
    def refuse(self, data):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_bytes", refuse)
    monkeypatch.setattr(engine, "invert", lambda *a, **kw: pytest.fail("the run started"))
    with pytest.raises(SystemExit) as exit_:
        main(tiny(tmp_path / "new" / "out", device))
    assert exit_.value.code == 2
    assert f"cannot write into {tmp_path} (Permission denied)" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_out_of_memory_is_one_line_and_status_1(tmp_path, device, monkeypatch, capsys):
    def too_big(*args, **kwargs):
        raise MemoryError("the run needs 3.2 GiB\nand 1.1 GiB is free: pass fewer layers")

    monkeypatch.setattr(engine, "invert", too_big)
    assert main(tiny(tmp_path / "out", device)) == 1
    err = capsys.readouterr().err
    assert err == (
        "depthrep: out of memory: the run needs 3.2 GiB and 1.1 GiB is free: pass fewer layers; "
        "--memory-budget (e.g. 2G) splits it\n"
    )


def test_sigint_stops_a_real_run(tmp_path, device):
    out = tmp_path / "out"
    process = command(
        *tiny(out, device), "--steps", "1000000", preexec_fn=_default_sigint
    )  # last --steps wins
    try:
        header = process.stdout.readline()  # printed just before the run starts
        if "resnet18 (random weights)" not in header:
            process.kill()
            pytest.fail(
                f"no header line: {header!r}; exit {process.wait()}; stderr: {process.communicate()[1]}"
            )
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and not out.exists()


def test_train_then_reuse(tmp_path, cache, device, capsys):
    assert main(["train", "resnet18", "--steps", "2", "--device", str(device)]) == 0
    first = capsys.readouterr().out.strip()
    assert first.startswith("resnet18 trained here on 10 photos (2 steps of 64") and str(cache) in first
    (checkpoint,) = cache.glob("resnet18-photos-2steps-seed0-*.pt")
    assert first.endswith(str(checkpoint))
    assert main(["train", "resnet18", "--steps", "2", "--device", str(device)]) == 0
    assert capsys.readouterr().out.strip() == first  # the cached run, seconds and all
    model = depthrep.load_model("resnet18", "local", device=device)
    assert torch.equal(
        model.fc.weight.cpu(), torch.load(checkpoint, weights_only=True)["state_dict"]["fc.weight"]
    )
    out = tmp_path / "out"
    assert main(["invert", "--model", "resnet18", "--weights", "local", "--layers", "conv1", "--size", "32",
                 "--steps", "1", "--device", str(device), "--out", str(out)]) == 0  # fmt: skip
    recorded = json.loads((out / "distances.json").read_text())["checkpoint"]
    assert recorded["file"] == checkpoint.name and recorded["config"]["steps"] == 2
    assert (
        recorded["validation_accuracy"]
        == torch.load(checkpoint, weights_only=True)["meta"]["validation_accuracy"]
    )


def test_an_image_that_the_run_would_overwrite_is_refused(tmp_path, capsys):
    picture = tmp_path / "reconstructions.png"
    Image.new("RGB", (32, 32), "red").save(picture)
    before = picture.read_bytes()
    with pytest.raises(SystemExit) as exit_:
        main(
            ["invert", "--model", "resnet18", "--image", str(picture), "--size", "32", "--out", str(tmp_path)]
        )
    assert exit_.value.code == 2 and "would overwrite: pass another --out" in capsys.readouterr().err
    assert picture.read_bytes() == before
