"""``tinct serve``: a local web page and HTTP API for colorizing photos.

Example::

    from tinct.serve import create_app, ServeSettings
    app = create_app(settings=ServeSettings(workers=1))   # an ASGI app (FastAPI)

or from a shell: ``tinct serve --port 8000``. Needs the ``serve`` extra (fastapi, uvicorn,
python-multipart); importing this package does not, so ``tinct --help`` works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tinct.serve.server import is_loopback, run
from tinct.serve.settings import UPLOAD_MAX_PIXELS, ServeSettings

if TYPE_CHECKING:
    from tinct.serve.app import create_app

__all__ = ["UPLOAD_MAX_PIXELS", "ServeSettings", "create_app", "is_loopback", "run"]


def __getattr__(name: str) -> Any:
    if name == "create_app":  # imports fastapi: only when asked for
        from tinct.serve.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
