"""Project set-up: dependency lists in sync, the CI entry point, the README's two commands."""

import os
import re
import shutil
import subprocess
import textwrap
import tomllib

import pytest
import yaml
from conftest import ROOT

CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")


def requirement(line: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", line)
    name, spec = match.group(1).lower(), match.group(2).replace(" ", "")
    return CONDA_NAMES.get(name, name), ",".join(sorted(spec.split(","))) if spec else ""


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_side = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        pip_side += extra
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_side = [
        d for d in environment["dependencies"] if isinstance(d, str) and not d.startswith(("python", "pip"))
    ]
    # Packages that are on PyPI only go under pip:, beside the editable install of depthrep
    pip_only = [d for entry in environment["dependencies"] if isinstance(entry, dict) for d in entry["pip"]]
    conda_side += [d for d in pip_only if not d.startswith("-")]
    # A package in two extras (submitit: `cluster` and `test`) is one conda dependency.
    assert sorted(set(map(requirement, conda_side))) == sorted(set(map(requirement, pip_side)))
    assert len(conda_side) == len(set(conda_side)), "environment.yml lists a dependency twice"


def test_citation_file_names_the_package_version_and_the_paper():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert citation["cff-version"] == "1.2.0" and citation["version"] == project["version"]
    assert citation["preferred-citation"]["url"] == "https://arxiv.org/abs/2211.06496"


def test_torch_pins_on_this_machine_fit_the_ranges():
    from packaging.specifiers import SpecifierSet

    deps = dict(
        requirement(d)
        for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    )
    assert "2.14.1" in SpecifierSet(deps["torch"]) and "0.29.1" in SpecifierSet(deps["torchvision"])


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make book" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@needs_make
def test_setup_refuses_a_disk_too_small_for_the_venv_and_says_how_much_it_needs(tmp_path):
    venv = tmp_path / ".venv"
    done = subprocess.run(
        ["make", "-C", str(ROOT), "setup", f"VENV={venv}", "VENV_GB=1000000"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "needs about 1000000 GB" in done.stdout and "GB free" in done.stdout
    assert not venv.exists(), "nothing is installed when the disk is too small"


def test_public_api_resolves_and_widgets_load_only_when_asked_for():
    import subprocess
    import sys

    code = (
        "import sys, depthrep\n"
        "assert 'ipywidgets' not in sys.modules, 'import depthrep pulled in ipywidgets'\n"
        "depthrep.explorer.layer_grid, depthrep.explorer.LayerGrid  # the picker's data, widget-free\n"
        "assert 'ipywidgets' not in sys.modules, 'the layer grid pulled in ipywidgets'\n"
        "import depthrep.explorer.session, depthrep.explorer.views  # the explorer's run and pictures\n"
        "assert 'ipywidgets' not in sys.modules, 'the session or views pulled in ipywidgets'\n"
        "image = depthrep.load_image('grace_hopper', 32)\n"
        "depthrep.invert(depthrep.load_model('resnet18'), image, ['conv1'], 1, progress=False)\n"
        "faces = {'ipywidgets', 'papermill', 'ipykernel', 'submitit', 'nbformat'} & set(sys.modules)\n"
        "assert not faces, f'the engine pulled in the extras of the faces: {faces}'\n"
        "missing = [n for n in depthrep.__all__ if getattr(depthrep, n, None) is None]\n"
        "assert not missing, missing\n"
        "from depthrep.explorer.picker import layer_picker\n"
        "assert depthrep.layer_picker is layer_picker\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _shrunk(code: str) -> str:
    """A usage example at test size: 32 px and 2 steps instead of its own sizes."""
    return re.sub(r"steps=\d+", "steps=2", re.sub(r'("grace_hopper", )\d+', r"\g<1>32", code))


def _run_example(code: str, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_shrunk(code), "example", "exec"), namespace)
    return namespace


def test_the_packages_first_example_runs(tmp_path, monkeypatch):
    import depthrep

    code = textwrap.dedent(depthrep.__doc__.split("::\n", 1)[1])
    assert "show_reconstructions" in code
    namespace = _run_example(code, tmp_path, monkeypatch)
    assert set(namespace["results"]) == set(depthrep.layers(namespace["model"]))


def test_the_readmes_first_reconstruction_runs(tmp_path, monkeypatch, capsys):
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"## A first reconstruction\s+```python\n(.*?)```", readme, re.S).group(1)
    _run_example(code, tmp_path, monkeypatch)
    assert (tmp_path / "layers.png").stat().st_size > 0
    assert "conv5" in capsys.readouterr().out


def test_the_readmes_labelled_members_example_runs(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A first reconstruction", 1)[1].split("\n## ", 1)[0]
    _, code = re.findall(r"```python\n(.*?)```", section, re.S)[:2]
    joined = _run_example("import depthrep\n" + code, tmp_path, monkeypatch)["joined"]
    assert list(joined.labels) == ["target", "seed", "model"]
    assert joined.mean_per("target", "reference_ratio").shape == (2,)
    assert joined.select(model="resnet50", seed=1).image.shape == (2, 3, 64, 64)


@needs_make
def test_make_book_runs_two_notebooks_at_once_except_at_paper_scale():
    outer = ("PROFILE", "JOBS", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")  # as set by a `make test` around us
    env = {k: v for k, v in os.environ.items() if k not in outer}

    def command(*args):
        make = ["make", "-n", "-C", str(ROOT), "notebooks", *args]
        done = subprocess.run(make, capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        return next(line for line in done.stdout.splitlines() if "-m depthrep book" in line)

    assert "--profile laptop" in command() and "--jobs 2" in command()
    assert "--jobs 2" in command("PROFILE=ci") and "--jobs 2" in command("PROFILE=workstation")
    assert "--jobs 1" in command("PROFILE=paper")  # one GPU, one kernel
    assert "--jobs 3" in command("PROFILE=paper", "JOBS=3")
