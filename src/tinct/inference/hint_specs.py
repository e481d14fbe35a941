"""Color hints as users write them: ``X,Y,#RRGGBB`` strings and JSON files of hints.

``parse_hint_spec`` / ``read_hint_file`` only check the form of each hint (numbers, a color, a
position >= 0), so that a typo fails before any model is loaded; whether a hint lies inside an
image is checked per image, by :func:`parse_hints`. torch-free: the ONNX inference path uses it.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Hint", "gather_hints", "parse_color", "parse_hint_spec", "parse_hints", "read_hint_file"]

#: One validated hint: column x and row y in input-image pixels (0-based), and an sRGB color 0..255.
Hint = tuple[float, float, tuple[int, int, int]]

_HEX = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")


def parse_color(value: Any) -> tuple[int, int, int]:
    """``"#rrggbb"``, ``"#rgb"`` (``#`` optional) or an ``(r, g, b)`` sequence of ints 0..255 → (r, g, b)."""
    if isinstance(value, str):
        match = _HEX.fullmatch(value.strip())
        if not match:
            raise ValueError(f"hint color must look like '#rrggbb', got {value!r}")
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    if isinstance(value, Sequence) and len(value) == 3:
        try:
            channels = tuple(int(c) for c in value)
        except (TypeError, ValueError):
            channels = ()
        if len(channels) == 3 and all(c == v and 0 <= c <= 255 for c, v in zip(channels, value, strict=True)):
            return channels  # type: ignore[return-value]
    raise ValueError(f"hint color must be '#rrggbb' or three integers 0..255, got {value!r}")


def parse_hints(hints: Sequence[Any], width: int, height: int) -> list[Hint]:
    """Validate user hints against an image of ``width`` × ``height`` pixels.

    Args:
        hints: each either ``(x, y, color)`` or a mapping ``{"x": ..., "y": ..., "color": ...}``;
            x is the column and y the row in input-image pixels, 0 ≤ x < width and
            0 ≤ y < height; color as accepted by :func:`parse_color`.

    Returns:
        ``[(x, y, (r, g, b)), ...]`` in the same order.

    Raises:
        ValueError: a malformed hint or one outside the image; the message names its index.
    """
    parsed: list[Hint] = []
    for i, hint in enumerate(hints):
        try:
            if isinstance(hint, Mapping):
                missing = [k for k in ("x", "y", "color") if k not in hint]
                if missing:
                    raise ValueError(f"missing key(s) {', '.join(missing)}")
                x, y, color = hint["x"], hint["y"], hint["color"]
            elif isinstance(hint, Sequence) and not isinstance(hint, str) and len(hint) == 3:
                x, y, color = hint
            else:
                raise ValueError("expected (x, y, color) or {'x', 'y', 'color'}")
            try:
                x, y = float(x), float(y)
            except (TypeError, ValueError):
                raise ValueError(f"x and y must be numbers, got {x!r}, {y!r}") from None
            if not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError(f"x and y must be finite, got {x}, {y}")
            if not (0 <= x < width and 0 <= y < height):
                raise ValueError(
                    f"position (x={x:g}, y={y:g}) is outside the {width}x{height} image "
                    f"(need 0 <= x < {width}, 0 <= y < {height})"
                )
            parsed.append((x, y, parse_color(color)))
        except ValueError as err:
            raise ValueError(f"hint {i}: {err}") from None
    return parsed


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


def gather_hints(hint_file: str | os.PathLike | None = None, specs: Sequence[str] = ()) -> list[Hint]:
    """The hints of ``tinct colorize --hints FILE --hint X,Y,#RRGGBB ...``: ``hint_file``'s
    (:func:`read_hint_file`), then each of ``specs`` (:func:`parse_hint_spec`). Whether a hint lies
    inside an image is checked per image, by :func:`parse_hints`.

    Raises:
        ValueError: one line naming the option (``--hints``/``--hint``) and what is wrong.
    """
    hints = []
    if hint_file is not None:
        try:
            hints += read_hint_file(hint_file)
        except ValueError as err:
            raise ValueError(f"--hints {err}") from None
    for spec in specs:
        try:
            hints.append(parse_hint_spec(spec))
        except ValueError as err:
            raise ValueError(f"--hint {spec!r}: {err}") from None
    return hints
