"""The package's import layers (docs/DESIGN.md, "Layout"), checked on the real import graph with
grimp: no module imports from a layer above its own, siblings in a layer do not import each other,
and no package's children import each other in a cycle. Imports inside functions count too."""

from __future__ import annotations

import grimp
import pytest

#: Top to bottom. A set is a layer of independent siblings.
LAYERS = [
    "__main__",
    "cli",
    "serve",
    # tinct/batch.py: a batch of photos (inference) and films (video), so above both.
    "batch",
    "video",
    "inference",
    # inference exports a model to ONNX on first use (its ONNX Runtime backend), so export sits below it.
    {"export", "train"},
    # losses/perceptual.py uses the models' ImageNet EfficientNet, so models sit below losses.
    {"losses", "metrics", "data"},
    "models",
    {"color", "io", "ops"},
    # The torch-free leaves every layer shares.
    {"threads", "_lazy", "vividness", "device", "pipeline"},
]

#: Imports that break the layers today: (importing module, imported module) → why, and where it is
#: to be undone. Each is checked to still exist, so a fixed one must be removed from here.
KNOWN: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("tinct")


def _imports(deps) -> set[tuple[str, str]]:
    return {(head, tail) for dep in deps for route in dep.routes for head in route.heads for tail in route.tails}


def test_every_package_is_in_a_layer(graph):
    layered = {name for layer in LAYERS for name in ([layer] if isinstance(layer, str) else layer)}
    children = {module.split(".")[1] for module in graph.find_children("tinct")}
    assert children == layered


def test_no_import_from_a_lower_layer_to_a_higher_one(graph):
    illegal = _imports(graph.find_illegal_dependencies_for_layers(layers=LAYERS, containers={"tinct"}))
    assert illegal - set(KNOWN) == set(), "imports against the layers (docs/DESIGN.md)"
    assert set(KNOWN) <= illegal, "a known exception is gone: remove it from KNOWN and docs/DESIGN.md"


def test_no_cycle_among_a_packages_children(graph):
    packages = sorted(module for module in graph.modules if graph.find_children(module))
    assert len(packages) > 10  # tinct and its subpackages
    cycles = {package: graph.nominate_cycle_breakers(package) - set(KNOWN) for package in packages}
    assert {package: sorted(b) for package, b in cycles.items() if b} == {}, "import cycles, through these imports"
