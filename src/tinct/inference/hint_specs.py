"""Color hints as users write them: ``X,Y,#RRGGBB`` strings and JSON files of hints.

These only check the form of each hint (numbers, a color, a position >= 0), so that a typo fails
before any model is loaded; whether a hint lies inside an image is checked per image, by
``tinct.inference.hints.parse_hints``.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from tinct.inference.hints import Hint, parse_color

__all__ = ["parse_hint_spec", "read_hint_file"]


def _point(x: Any, y: Any, color: Any) -> Hint:
    try:
        if isinstance(x, bool) or isinstance(y, bool):  # JSON true/false are not positions
            raise TypeError
        px, py = float(x), float(y)
    except (TypeError, ValueError):
        raise ValueError(f"x and y must be numbers, got {x!r}, {y!r}") from None
    if not (math.isfinite(px) and math.isfinite(py) and px >= 0 and py >= 0):
        raise ValueError(f"x and y must be pixel positions >= 0 (from the top-left corner), got {x!r}, {y!r}")
    return px, py, parse_color(color)


def parse_hint_spec(text: str) -> Hint:
    """``"X,Y,#RRGGBB"`` (pixel column, pixel row, color) → ``(x, y, (r, g, b))``.

    Raises:
        ValueError: not three comma-separated parts, bad numbers or a bad color (one line).
    """
    parts = text.split(",")
    if len(parts) != 3:
        raise ValueError("expected X,Y,#RRGGBB (pixel column, pixel row, hex color)")
    return _point(parts[0].strip(), parts[1].strip(), parts[2])


def read_hint_file(path: str | os.PathLike) -> list[Hint]:
    """A JSON list of ``{"x": X, "y": Y, "color": "#rrggbb"}`` objects → hints, in file order.

    Raises:
        ValueError: ``"<path>: <reason>"`` for an unreadable file, invalid JSON, or a malformed
            entry (named by its index).
    """
    where = os.fsdecode(path)
    try:
        with open(path, encoding="utf-8") as f:
            items = json.load(f)
    except OSError as err:
        raise ValueError(f"{where}: cannot read it ({err.strerror or err})") from None
    except ValueError as err:
        raise ValueError(f"{where}: not valid JSON ({err})") from None
    if not isinstance(items, list):
        raise ValueError(f'{where}: expected a JSON list of {{"x", "y", "color"}} objects')
    hints = []
    for i, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise ValueError('expected an object {"x": .., "y": .., "color": "#rrggbb"}')
            missing = [k for k in ("x", "y", "color") if k not in item]
            if missing:
                raise ValueError(f"missing key(s) {', '.join(missing)}")
            hints.append(_point(item["x"], item["y"], item["color"]))
        except ValueError as err:
            raise ValueError(f"{where}: hint {i}: {err}") from None
    return hints
