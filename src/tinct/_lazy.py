"""Lazy package exports (PEP 562), so that ``import tinct.x`` costs only what is used.

A package lists which of its modules defines each public name; the module is imported the first
time the name is looked up. This is what keeps ``tinct --help`` and the ONNX Runtime path free of
torch: ``tinct.color.rgb8`` loads without ``tinct.color.lab``'s torch, ``tinct.io.images``
without ``tinct.io.weights``', and so on. A leaf: imports nothing of tinct.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package``.

    Args:
        package: the package's ``__name__``, e.g. ``"tinct.color"``.
        exports: public name → the submodule (relative to ``package``) that defines it.

    Returns:
        ``__getattr__(name)``: the name's value from its submodule, imported on first use;
        ``AttributeError`` for names not in ``exports``.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
