"""The package metadata tells the truth: its lower bounds admit no Python or torch that lacks an API
the sources use, the environment the tests run in satisfies them, and the license and typing
marker it names are shipped."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest
import torch

packaging = pytest.importorskip("packaging.specifiers")
from packaging.requirements import Requirement  # noqa: E402
from packaging.version import Version  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SOURCES = REPO / "src" / "tinct"

#: (regex over the package's sources, dependency, first version that has it). Add a row when
#: code starts using an API newer than the bound in pyproject.toml.
NEEDS = [
    (r"^\s*import tomllib\b", "python", "3.11"),
    (r"torch\.onnx\.export\([^)]*\bdynamo=", "torch", "2.5"),
    (r"torch\.serialization\.safe_globals\(", "torch", "2.5"),
]


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _lower_bound(specifier) -> Version:
    bounds = [Version(s.version) for s in specifier if s.operator in (">=", "~=", "==")]
    assert bounds, f"no lower bound in {specifier}"
    return max(bounds)


def _declared(project: dict) -> dict:
    from packaging.specifiers import SpecifierSet

    declared = {"python": SpecifierSet(project["requires-python"])}
    for line in project["dependencies"]:
        req = Requirement(line)
        declared[req.name] = req.specifier
    return declared


def test_lower_bounds_cover_the_apis_the_sources_use(project):
    code = "\n".join(p.read_text() for p in SOURCES.rglob("*.py"))
    declared = _declared(project)
    used = [(dep, minimum) for pattern, dep, minimum in NEEDS if re.search(pattern, code, re.M | re.S)]
    assert used, "none of the version-sensitive APIs was found: update NEEDS"
    for dep, minimum in used:
        bound = declared[dep]
        assert _lower_bound(bound) >= Version(minimum), f"{dep} {bound} admits versions before {minimum}"


def test_this_environment_and_the_makefile_pin_satisfy_the_bounds(project):
    declared = _declared(project)
    python = ".".join(map(str, sys.version_info[:3]))
    assert declared["python"].contains(python), (python, declared["python"])
    assert declared["torch"].contains(torch.__version__.split("+")[0]), (torch.__version__, declared["torch"])
    pinned = re.search(r"^TORCH\s*:=\s*torch==(\S+)", (REPO / "Makefile").read_text(), re.M)
    assert pinned and declared["torch"].contains(pinned.group(1)), (pinned, declared["torch"])


def test_license_and_typing_marker_are_shipped(project):
    assert project["license"] == "Apache-2.0"
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the full text, not a pointer to it
    assert (SOURCES / "py.typed").is_file()
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["tinct"]


def test_core_dependencies_are_what_inference_needs(project):
    core = {Requirement(line).name for line in project["dependencies"]}
    assert core == {"torch", "numpy", "pillow", "safetensors", "tqdm"}
    extras = project["optional-dependencies"]
    assert {"numba", "matplotlib"} <= {Requirement(x).name for x in extras["train"]}
    assert {"tinct[onnx]", "tinct[video]", "tinct[serve]", "tinct[train]", "tinct[eval]"} <= set(extras["all"])
    assert project["classifiers"] and project["authors"]


def test_fast_color_without_numba_says_which_extra_to_install(monkeypatch):
    """Inference never needs numba; the callers of tinct.color.fast (training, eval) get one line."""
    import builtins

    from tinct.color import fast

    real_import = builtins.__import__

    def no_numba(name, *args, **kwargs):
        if name == "numba" or name.startswith("numba."):
            raise ModuleNotFoundError("No module named 'numba'", name="numba")
        return real_import(name, *args, **kwargs)

    import tinct.color

    monkeypatch.delitem(sys.modules, "tinct.color._kernels", raising=False)
    monkeypatch.delattr(tinct.color, "_kernels", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_numba)
    fast.kernels.cache_clear()
    try:
        with pytest.raises(ModuleNotFoundError, match=r"pip install 'tinct\[eval\]'"):
            fast.rgb_to_lab(torch.rand(3, 8, 8))
    finally:
        fast.kernels.cache_clear()



def test_building_without_a_c_compiler_says_what_to_do(tmp_path):
    import shutil
    import subprocess

    shutil.copy(REPO / "setup.py", tmp_path)
    (tmp_path / "src" / "tinct" / "color").mkdir(parents=True)
    shutil.copy(SOURCES / "color" / "_rgb8.c", tmp_path / "src" / "tinct" / "color")
    env = {"PATH": "/usr/bin:/bin", "CC": str(tmp_path / "no-such-cc"), "LDSHARED": str(tmp_path / "no-such-cc")}

    run = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--build-temp", "t", "--build-lib", "l"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )

    assert run.returncode != 0
    message = (run.stdout + run.stderr).strip().splitlines()[-1]
    assert "needs a working C compiler" in message and "apt-get install gcc" in message, message
