"""The ``tinct serve`` web app: one static page and a small HTTP API over :class:`Colorizer`.

Endpoints:
  GET  /               the page (static/index.html; no CDN, no build step)
  POST /api/colorize   multipart ``file`` (+ ``vividness``, ``hints``, ``format``, ``reference``: a
                       color photo whose colors are carried over where it matches) → image bytes
  GET  /api/health     status, model, hint support, queue depth, limits
  GET  /api/models     the loaded model, bundled weights and architectures
  GET  /api/examples   example photos for the page (static/examples)
  POST /api/video      multipart ``file`` (+ ``vividness``, ``hints``, ``reference``) → 202 and a video job id;
  GET  /api/video/{id} its progress; GET /api/video/{id}/result the MP4 (see serve/video_jobs.py)
  GET  /docs, /redoc   OpenAPI docs (served offline when the ``fastapi-offline`` assets are installed)

Every error is JSON ``{"detail": "<one line a person can read>"}`` with status 400 (bad
parameters), 403 (a Host or Origin other than this server's; see serve/guards.py), 408 (a body
too slow), 413 (upload too large), 415 (not an accepted image type, judged by content), 422 (an
image that cannot be used: too many pixels, corrupt, truncated), 503 (busy; with
``Retry-After``) or 504 (took longer than the timeout); a bug is a JSON 500 naming only the
exception's type. No response names a path on the server's disk.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import math
import os
import re
import tempfile
import time
import urllib.parse
import warnings
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import anyio.to_thread
import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image

from tinct import __version__
from tinct.inference import Colorizer, bundled_weights, parse_hints
from tinct.inference.colorizer import image_lightness
from tinct.inference.reference import Reference, confidence_map, coverage, load_reference, match_best
from tinct.io.images import ImageReadError, encode_image, open_image_size, output_encoding, read_image
from tinct.serve.guards import BodyTimeoutMiddleware, HostOriginMiddleware
from tinct.serve.limits import ACCEPTED_TYPES, UploadLimitMiddleware, sniff_image_type
from tinct.serve.pool import PoolFull, PoolTimeout, WorkerPool
from tinct.serve.settings import ServeSettings
from tinct.serve.video_jobs import JobError, VideoJobs

__all__ = ["FORMATS", "STATIC_DIR", "create_app"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"

#: The output formats offered (those a browser shows; "jpg" is accepted for "jpeg"). They are
#: encoded as tinct.io.images.ENCODINGS says, as `tinct colorize` writes them (JPEG 4:4:4).
FORMATS = ("png", "jpeg", "webp")

#: Body bytes allowed on top of the file itself: multipart boundaries and the small form fields.
_FORM_OVERHEAD = 256 * 1024
_COPY_CHUNK = 1 << 20

# The page loads nothing from elsewhere; the policy makes any accidental CDN use fail loudly.
_PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=message, headers=headers)


def _display_name(filename: str | None) -> str:
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    name = "".join(c for c in name if c.isprintable())[:120]
    return name or "upload"


def _download_stem(name: str) -> str:
    stem = os.path.splitext(name)[0]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "image"
    return stem[:80]


def _parse_format(value: str | None) -> str:
    fmt = (value or "png").strip().lower()
    offered = {output_encoding(name).pil_format for name in FORMATS}
    try:
        if output_encoding(fmt).pil_format in offered:
            return fmt
    except ValueError:
        pass
    raise _error(400, f"format must be one of {', '.join(FORMATS)}, got {value!r}")


def _parse_vividness(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        vividness = float(value)
    except ValueError:
        raise _error(400, f"vividness must be a number in [0, 1], got {value!r}") from None
    if not math.isfinite(vividness):
        raise _error(400, f"vividness must be a number in [0, 1], got {value!r}")
    return vividness  # its range: Colorizer.check_request, with the hints (_check_request)


def _check_request(colorizer: Colorizer, hints: list[Any], vividness: float | None) -> None:
    """The colorizer's own check of a request (hints, vividness) as a 400."""
    try:
        colorizer.check_request(hints, vividness)
    except ValueError as err:
        raise _error(400, str(err)) from None


def _parse_hints(value: str | None, limit: int) -> list[Any]:
    if value is None or not value.strip():
        return []
    try:
        hints = json.loads(value)
    except json.JSONDecodeError as err:
        raise _error(400, f"hints must be JSON, a list of {{x, y, color}} objects ({err.msg})") from None
    except RecursionError:  # [[[[...]]]]: the parser's stack, not a hint list
        raise _error(400, "hints are nested too deeply: send a flat list of {x, y, color} objects") from None
    if not isinstance(hints, list):
        raise _error(400, 'hints must be a JSON list like [{"x": 10, "y": 20, "color": "#ff0000"}]')
    if len(hints) > limit:
        raise _error(400, f"too many hints: {len(hints)} (at most {limit})")
    return hints


def _stage_upload(source: BinaryIO, name: str, settings: ServeSettings) -> tuple[str, tuple[int, int]]:
    """Copy an upload to a temporary file and check it without decoding pixels.

    Returns the file's path (the caller deletes it) and its (width, height) as displayed.
    """
    source.seek(0)
    head = source.read(32)
    if not head:
        raise _error(415, f"{name}: empty file (0 bytes), not an image")
    kind = sniff_image_type(head)
    if kind is None:
        raise _error(
            415,
            f"{name}: not a supported image (judged by its content, not its name); send {', '.join(ACCEPTED_TYPES)}",
        )
    fd, path = tempfile.mkstemp(prefix="tinct-upload-")
    try:
        size = len(head)
        with os.fdopen(fd, "wb") as out:
            out.write(head)
            while chunk := source.read(_COPY_CHUNK):
                size += len(chunk)
                if size > settings.max_upload_bytes:
                    raise _error(413, _too_large(settings))
                out.write(chunk)
        try:
            width, height = open_image_size(path)  # header only: nothing is decoded yet
        except ImageReadError as err:
            if isinstance(err.__cause__, Image.DecompressionBombError):  # beyond even PIL's own limit
                found = re.match(r"(\d+) pixels", err.reason)
                count = f"{int(found.group(1)) / 1e6:.1f} megapixels" if found else "too many pixels"
                raise _error(422, f"{name}: {count}, more than this server accepts ({_megapixels(settings)})") from None
            raise _error(422, f"{name}: {err.reason}") from None
        if width * height > settings.max_pixels:
            raise _error(
                422,
                f"{name}: {width}x{height} is {width * height / 1e6:.1f} megapixels, more than this "
                f"server accepts ({_megapixels(settings)})",
            )
        return path, (width, height)
    except BaseException:
        _unlink(path)
        raise


def _megapixels(settings: ServeSettings) -> str:
    return f"{settings.max_pixels / 1e6:.1f} megapixels"


def _too_large(settings: ServeSettings) -> str:
    return f"upload too large: the limit is {settings.max_upload_bytes / (1 << 20):.1f} MB"


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


class _Unprocessable(Exception):
    """An image that passed the header checks but cannot be decoded or colorized (→ 422)."""


def _colorize_file(
    colorizer: Colorizer,
    path: str,
    name: str,
    hints: list[Any],
    vividness: float | None,
    fmt: str,
    max_pixels: int,
    reference: tuple[str, str] | None = None,
) -> tuple[bytes, str | None, dict[str, str]]:
    """Runs in a worker thread: decode, colorize, encode. Returns the encoded image, a warning
    for the client (or None) and extra response headers (the reference's coverage and map).

    The upload was opened once before, for its header (``_stage_upload``); this is the one decode.
    ``reference``: the staged reference photo's path and display name.
    """
    headers: dict[str, str] = {}
    references = None if reference is None else _read_reference(*reference, max_pixels)
    notes: list[str] = []
    try:
        # Warnings name the upload as the client sent it, never the server's temporary file.
        rgb = read_image(path, max_pixels=max_pixels, display_name=name, notes=notes, keep_gray=True)
    except ImageReadError as err:
        raise _Unprocessable(f"{name}: {err.reason}") from None
    for note in notes:
        warnings.warn(note, stacklevel=2)  # the server's log names the upload too
    warning = "; ".join(notes) or None
    try:
        # Passed only when given: a photo without a reference is colorized exactly as before.
        extra = {} if references is None else {"reference": references}
        out = colorizer.colorize(rgb, hints=hints or None, vividness=vividness, **extra)
        if references is not None:
            headers = _reference_headers(colorizer, rgb, references)
    except ValueError as err:
        raise _Unprocessable(f"{name}: {err}") from None
    del rgb
    return encode_image(out, fmt), warning, headers


def _reference_upload(reference: Any, settings: ServeSettings) -> tuple[Any, str]:
    """The optional ``reference`` form field → ``(upload or None, display name)``; 400 for text,
    413 when it declares more bytes than the photo's limit."""
    if isinstance(reference, str) and reference:  # a form text field, not a file
        raise _error(400, "reference must be an uploaded image file, not text")
    upload = reference if reference is not None and hasattr(reference, "file") else None
    name = _display_name(upload.filename) if upload is not None else ""
    if upload is not None and upload.size is not None and upload.size > settings.max_upload_bytes:
        raise _error(413, f"reference {name}: {_too_large(settings)}")
    return upload, name


def _stage_reference(source: BinaryIO, name: str, settings: ServeSettings) -> tuple[Reference]:
    """A reference upload checked like a photo (:func:`_stage_upload`), decoded and prepared; its
    file is gone on return. A video job keeps only this (small) prepared form."""
    path, _ = _stage_upload(source, name, settings)
    try:
        return _read_reference(path, name, settings.max_pixels)
    except _Unprocessable as err:
        raise _error(422, str(err)) from None
    finally:
        _unlink(path)


def _read_reference(path: str, name: str, max_pixels: int) -> tuple[Reference]:
    """A staged reference upload → prepared for matching (photos and video jobs alike).

    Raises:
        _Unprocessable: corrupt, truncated or gray; one line naming the field and the upload.
    """
    try:
        pixels = read_image(path, max_pixels=max_pixels, keep_gray=True)
        return (load_reference(pixels, name=f"reference {name}"),)
    except ImageReadError as err:  # never the server's temporary path
        raise _Unprocessable(f"reference {name}: {err.reason}") from None
    except ValueError as err:  # gray: one line naming it
        raise _Unprocessable(str(err)) from None


def _reference_headers(colorizer: Colorizer, rgb: np.ndarray, references: tuple) -> dict[str, str]:
    """Where the reference gave the color: ``X-Tinct-Reference-Coverage`` (share of the photo, in
    [0, 1]) and ``X-Tinct-Reference-Map``, a data URL of a small gray PNG (white: the reference's
    color) that the page stretches over the photo. Matched a second time here (at 128 px,
    whatever the photo's size) so that ``Colorizer.colorize`` keeps returning just the image."""
    match = match_best(references, colorizer.working_lightness(image_lightness(rgb)))
    buffer = io.BytesIO()
    Image.fromarray(confidence_map(match, match.weight.shape)).save(buffer, format="PNG", optimize=True)
    return {
        "X-Tinct-Reference-Coverage": f"{coverage(match):.3f}",
        "X-Tinct-Reference-Map": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(),
    }


def _header_text(text: str) -> str:
    """``text`` for an HTTP header, which holds Latin-1 only: non-ASCII characters (and ``%``)
    percent-encoded as UTF-8, so ``decodeURIComponent`` / ``urllib.parse.unquote`` gives it back."""
    printable = "".join(chr(c) for c in range(32, 127) if chr(c) != "%")
    return urllib.parse.quote(" ".join(text.split()), safe=printable)


def _offline_docs_dir() -> Path | None:
    """Swagger UI / ReDoc assets shipped by the ``fastapi-offline`` package, if installed."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    folder = Path(fastapi_offline.__file__).resolve().parent / "static"
    needed = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")
    return folder if all((folder / f).is_file() for f in needed) else None


def _add_docs(app: FastAPI, assets: Path) -> None:
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API docs",
            swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/static/favicon.svg",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API reference",
            redoc_js_url=f"{root}/docs-assets/redoc.standalone.js",
            redoc_favicon_url=f"{root}/static/favicon.svg",
            with_google_fonts=False,
        )


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad parameters (vividness, hints, format) or no file"},
    413: {"description": "Upload larger than the server's limit"},
    415: {"description": "Not an accepted image type (judged by content)"},
    422: {"description": "Image cannot be used: too many pixels, corrupt or truncated"},
    503: {"description": "Every worker busy and the queue full; retry after Retry-After seconds"},
    504: {"description": "Colorization took longer than the server's timeout"},
}


def _architectures() -> list[str]:
    from tinct.models import list_models  # imports torch: only when a client asks for the list

    return list_models()


def create_app(colorizer: Colorizer | None = None, settings: ServeSettings | None = None) -> FastAPI:
    """Build the app. The model is loaded here, once (unless ``colorizer`` is given, e.g. in tests).

    Args:
        colorizer: the predictor to serve; default ``Colorizer.load`` of ``settings.model``.
        settings: limits and knobs (see :class:`ServeSettings`).
    """
    settings = settings or ServeSettings()
    if settings.torch_threads is not None:
        from tinct.threads import set_num_threads

        set_num_threads(settings.torch_threads)  # the CLI's threads setting: ONNX Runtime, color kernels, torch
    if colorizer is None:
        colorizer = Colorizer.load(
            settings.model, backend=settings.backend, onnx=settings.onnx, device=settings.device, size=settings.size
        )
    model_name = colorizer.name
    pool = WorkerPool(settings.workers, settings.queue)
    video_jobs = VideoJobs(colorizer, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        pool.shutdown()
        video_jobs.shutdown()

    docs_assets = _offline_docs_dir()
    app = FastAPI(
        title="tinct",
        version=__version__,
        description="Colorize black-and-white photos. Only chroma is predicted; size and lightness are kept.",
        docs_url=None if docs_assets else "/docs",
        redoc_url=None if docs_assets else "/redoc",
        lifespan=lifespan,
    )
    app.state.colorizer = colorizer
    app.state.settings = settings
    app.state.pool = pool
    app.state.video_jobs = video_jobs
    # The last added runs first: Host/Origin, then the size limit, then the body's timing.
    app.add_middleware(BodyTimeoutMiddleware, body_timeout=settings.body_timeout, idle_timeout=settings.idle_timeout)
    app.add_middleware(
        UploadLimitMiddleware,
        # A photo and its optional reference photo, each checked against the limit on its own.
        max_body_bytes=2 * settings.max_upload_bytes + _FORM_OVERHEAD,
        message=_too_large(settings),
    )
    app.add_middleware(HostOriginMiddleware, allowed_hosts=settings.allowed_hosts)
    if docs_assets:
        _add_docs(app, docs_assets)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
        return JSONResponse({"detail": " ".join(("bad request: " + "; ".join(parts)).split())}, status_code=400)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not the client's fault: the log gets the traceback, the client one line without
        # the message (it may name files on this machine).
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        detail = f"internal error ({type(exc).__name__}); the server's log has the details"
        return JSONResponse({"detail": detail}, status_code=500)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(
            STATIC_DIR / "index.html",
            media_type="text/html",
            headers={"Content-Security-Policy": _PAGE_CSP, "Cache-Control": "no-cache"},
        )

    @app.get("/api/health")
    async def health() -> dict[str, Any]:
        """Whether the server is up, which model it serves and how busy it is."""
        spec = colorizer.spec
        return {
            "status": "ok",
            "version": __version__,
            "model": model_name,
            "architecture": spec.name,
            "head": spec.head,
            "hints": colorizer.accepts_hints,
            "default_vividness": colorizer.vividness if colorizer.vividness is not None else spec.default_vividness,
            "queue_depth": pool.waiting,
            "running": pool.running,
            "workers": settings.workers,
            "queue_limit": settings.queue,
            "max_upload_bytes": settings.max_upload_bytes,
            "max_pixels": settings.max_pixels,
            "timeout_seconds": settings.timeout,
            "formats": list(FORMATS),
            "max_video_frames": settings.max_video_frames,
        }

    @app.get("/api/examples")
    async def examples() -> dict[str, Any]:
        """Gray example photos the page offers to try (shipped in static/examples)."""
        folder = STATIC_DIR / "examples"
        names = sorted(p.name for p in folder.glob("*.jpg")) if folder.is_dir() else []
        return {"examples": [{"name": name, "url": f"static/examples/{name}"} for name in names]}

    @app.get("/api/models")
    async def models() -> dict[str, Any]:
        """The model being served, the weights bundled with tinct and the known architectures.

        The server serves one model, chosen at start (``tinct serve --model``).
        """
        return {
            "current": {
                "name": model_name,
                "architecture": colorizer.spec.name,
                "head": colorizer.spec.head,
                "hints": colorizer.accepts_hints,
                # The file's name only: where the server keeps it is none of a client's business.
                "source": colorizer.source.name if colorizer.source else None,
            },
            "bundled": [
                {"name": w.name, "size_mb": round(w.size_mb, 2), "model": w.model, "head": w.head, "hints": w.hints}
                for w in bundled_weights()
            ],
            "architectures": _architectures(),
        }

    @app.post(
        "/api/colorize",
        response_class=Response,
        responses={
            200: {
                "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
                "description": "The colorized image: the upload's size and lightness, in the asked format",
            },
            **_ERRORS,
        },
    )
    async def colorize(
        file: Annotated[UploadFile | None, File(description="the photo (PNG, JPEG, WebP, GIF, BMP, TIFF)")] = None,
        vividness: Annotated[str | None, Form(description="saturation in [0, 1]; default: the model's")] = None,
        hints: Annotated[
            str | None,
            Form(description='JSON list of {"x", "y", "color": "#rrggbb"}, x/y in image pixels (hint models only)'),
        ] = None,
        fmt: Annotated[str, Form(alias="format", description="png | jpeg | webp")] = "png",
        reference: Annotated[
            UploadFile | str | None,
            File(description="optional color photo of the same scene (same limits as 'file'): its colors are "
            "carried over where it matches; X-Tinct-Reference-Coverage and X-Tinct-Reference-Map say where"),
        ] = None,
    ) -> Response:
        """Colorize one photo and return it as an image file of the same size."""
        if file is None or not hasattr(file, "file"):
            raise _error(400, "no file: send the photo as the multipart form field 'file'")
        name = _display_name(file.filename)
        fmt = _parse_format(fmt)
        vivid = _parse_vividness(vividness)
        hint_list = _parse_hints(hints, settings.max_hints)
        _check_request(colorizer, hint_list, vivid)
        if file.size is not None and file.size > settings.max_upload_bytes:
            raise _error(413, _too_large(settings))

        ref_upload, ref_name = _reference_upload(reference, settings)

        path, (width, height) = await anyio.to_thread.run_sync(_stage_upload, file.file, name, settings)
        ref_path = None
        try:
            checked_hints = parse_hints(hint_list, width, height)
            if ref_upload is not None:
                ref_path, _ = await anyio.to_thread.run_sync(_stage_upload, ref_upload.file, ref_name, settings)
        except ValueError as err:
            _unlink(path)
            raise _error(400, f"hints: {err}") from None
        except BaseException:
            _unlink(path)
            raise

        def cleanup() -> None:
            _unlink(path)
            if ref_path is not None:
                _unlink(ref_path)

        started = time.perf_counter()
        try:
            data, warning, extra = await pool.run(
                _colorize_file,
                colorizer,
                path,
                name,
                checked_hints,
                vivid,
                fmt,
                settings.max_pixels,
                None if ref_path is None else (ref_path, ref_name),
                timeout=settings.timeout,
                cleanup=cleanup,
            )
        except PoolFull:
            raise _error(
                503,
                f"the server is busy ({settings.workers} running, {settings.queue} waiting); try again shortly",
                headers={"Retry-After": str(settings.retry_after)},
            ) from None
        except PoolTimeout:
            raise _error(504, f"{name}: colorizing took longer than {settings.timeout:g} s") from None
        except _Unprocessable as err:
            raise _error(422, str(err)) from None
        seconds = time.perf_counter() - started
        encoding = output_encoding(fmt)
        return Response(
            content=data,
            media_type=encoding.media_type,
            headers={
                "Content-Disposition": f'inline; filename="{_download_stem(name)}-colorized{encoding.suffix}"',
                "Cache-Control": "no-store",
                "X-Tinct-Model": model_name,
                "X-Tinct-Seconds": f"{seconds:.3f}",
                "X-Image-Width": str(width),
                "X-Image-Height": str(height),
                **({"X-Tinct-Warning": _header_text(warning)} if warning else {}),
                **extra,
            },
        )

    add_video_routes(app, video_jobs, model_name)
    return app


def add_video_routes(app: FastAPI, jobs: VideoJobs, model_name: str) -> None:
    """The video job endpoints (see ``tinct.serve.video_jobs``)."""
    settings = jobs.settings

    def fail(err: JobError) -> HTTPException:
        headers = {"Retry-After": str(settings.retry_after)} if err.status == 503 else None
        return _error(err.status, str(err), headers)

    @app.post("/api/video", status_code=202, responses={k: v for k, v in _ERRORS.items() if k != 504})
    async def video_submit(
        file: Annotated[UploadFile | None, File(description="the film (MP4, MOV, MKV, AVI, WebM)")] = None,
        vividness: Annotated[str | None, Form(description="saturation in [0, 1]; default: the model's")] = None,
        hints: Annotated[
            str | None,
            Form(description='JSON list of {"x", "y", "color": "#rrggbb"}, x/y in frame pixels (hint models only)'),
        ] = None,
        reference: Annotated[
            UploadFile | str | None,
            File(description="optional color photo (same limits as a photo upload), e.g. one frame colored by "
            "hand: its colors are carried over wherever a frame matches it"),
        ] = None,
    ) -> JSONResponse:
        """Start colorizing a video; poll ``/api/video/{id}`` and download ``/api/video/{id}/result``."""
        if file is None or not hasattr(file, "file"):
            raise _error(400, "no file: send the video as the multipart form field 'file'")
        name = _display_name(file.filename)
        vivid = _parse_vividness(vividness)
        hint_list = _parse_hints(hints, settings.max_hints)
        _check_request(jobs.colorizer, hint_list, vivid)
        if file.size is not None and file.size > settings.max_upload_bytes:
            raise _error(413, _too_large(settings))
        ref_upload, ref_name = _reference_upload(reference, settings)
        references = None
        if ref_upload is not None:  # checked before the film is staged: a bad one fails at once
            references = await anyio.to_thread.run_sync(_stage_reference, ref_upload.file, ref_name, settings)
        try:
            path, info = await anyio.to_thread.run_sync(jobs.stage, file.file, name, os.path.splitext(name)[1])
        except JobError as err:
            raise fail(err) from None
        try:
            checked_hints = parse_hints(hint_list, info.width, info.height)
        except ValueError as err:
            _unlink(str(path))
            raise _error(400, f"hints: {err}") from None
        try:
            job = jobs.submit(path, info, name, checked_hints, vivid, references)
        except JobError as err:
            raise fail(err) from None
        return JSONResponse(job.public(), status_code=202, headers={"Location": f"api/video/{job.id}"})

    @app.get("/api/video/{job_id}")
    async def video_status(job_id: str) -> dict[str, Any]:
        """A video job's state: queued, running (``done`` of ``total`` frames), done or failed."""
        try:
            return jobs.get(job_id).public()
        except JobError as err:
            raise fail(err) from None

    @app.get("/api/video/{job_id}/result", response_class=FileResponse)
    async def video_result(job_id: str) -> FileResponse:
        """The colorized MP4 of a finished job."""
        try:
            job = jobs.get(job_id)
        except JobError as err:
            raise fail(err) from None
        if job.status == "failed":
            raise _error(422, job.error or f"{job.name}: failed")
        if job.status != "done":
            raise _error(409, f"{job.name}: not finished yet ({job.status}, {job.done} frames done)")
        return FileResponse(
            job.result,
            media_type="video/mp4",
            filename=f"{_download_stem(job.name)}-colorized.mp4",
            content_disposition_type="inline",
            headers={"Cache-Control": "no-store", "X-Tinct-Model": model_name},
        )
