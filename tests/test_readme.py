"""The README's install block names what the project has: its extras, the torch pin, the CPU index.
(The block itself is not run: it needs PyTorch's package index; see the README.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _install_block() -> str:
    return README.split("## Install", 1)[1].split("```sh", 1)[1].split("```", 1)[0]


def test_install_block_uses_the_cpu_index_and_the_pinned_torch():
    block = _install_block()
    pin = re.search(r"^TORCH\s*:=\s*(\S+)", (REPO / "Makefile").read_text(), re.M).group(1)
    assert f"pip install {pin} --index-url https://download.pytorch.org/whl/cpu" in block
    assert "/bin/activate" in block and ".venv" not in block  # the user's own environment, activated


def test_every_extra_the_readme_names_exists_and_all_has_the_fast_path():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = set(re.findall(r"^\| `(\w+)` \|", README.split("## Install", 1)[1].split("## How it works", 1)[0], re.M))
    assert named == set(extras) - {"bench"}, named
    assert {"tinct[onnx]", "tinct[video]", "tinct[serve]"} <= set(extras["all"])
    for spec in re.findall(r"'\.\[([\w,]+)\]'", _install_block()):
        assert set(spec.split(",")) <= set(extras), spec


def test_examples_need_no_data_users_lack():
    usage = README.split("## Usage", 1)[1].split("## Results", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", usage, re.S)
    assert blocks and not any("../shared" in block for block in blocks)
