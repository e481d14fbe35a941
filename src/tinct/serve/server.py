"""``tinct serve``: load the model once and serve the app with uvicorn."""

from __future__ import annotations

import ipaddress
import sys

from tinct.serve.settings import UPLOAD_MAX_PIXELS, ServeSettings, default_torch_threads, default_workers

__all__ = ["is_loopback", "run"]

_EXTRA_HINT = "tinct serve needs the 'serve' extra: pip install 'tinct[serve]'"


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(
    host: str = "127.0.0.1",
    port: int = 8000,
    model: str = "default",
    workers: int | None = None,
    queue: int = 16,
    max_upload_mb: float = 25.0,
    max_pixels: int = UPLOAD_MAX_PIXELS,
    timeout: float = 60.0,
    threads: int | None = None,
    device: str = "auto",
    size: int | None = None,
    backend: str = "auto",
    onnx: str | None = None,
    log_level: str = "info",
) -> None:
    """Serve the page and the API until interrupted.

    Args:
        host: address to bind; loopback by default. Anything else exposes the server (which has
            no authentication) to the network, so a warning is printed.
        workers: colorizations run at once (threads sharing one loaded model); default 2 on
            machines with 2+ cores.
        queue: requests allowed to wait for a worker before 503.
        max_upload_mb: largest upload in MiB (→ 413).
        max_pixels: largest width*height (→ 422), checked on the header before decoding.
        timeout: seconds per colorization, queueing included (→ 504).
        threads: torch threads per colorization; default: cores / workers.
        backend, onnx: where the model runs, as for ``tinct colorize`` (see ``Colorizer.load``).
    """
    try:
        import uvicorn

        from tinct.serve.app import create_app
    except ImportError as err:
        raise ImportError(f"{_EXTRA_HINT} ({err})") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"--port must be in 0..65535, got {port}")
    if not max_upload_mb > 0:
        raise ValueError(f"--max-upload-mb must be positive, got {max_upload_mb}")
    workers = default_workers() if workers is None else workers
    settings = ServeSettings(
        model=model,
        device=device,
        size=size,
        backend=backend,
        onnx=onnx,
        workers=workers,
        queue=queue,
        max_upload_bytes=int(max_upload_mb * (1 << 20)),
        max_pixels=max_pixels,
        timeout=timeout,
        torch_threads=threads if threads is not None else default_torch_threads(workers),
    )
    if not is_loopback(host):
        print(
            f"warning: binding {host}: anyone who can reach this machine on port {port} can use the "
            "server (it has no authentication). Use the default --host 127.0.0.1 to keep it local.",
            file=sys.stderr,
        )
    app = create_app(settings=settings)  # loads the model now: fail before binding the port
    shown = f"[{host}]" if ":" in host else host
    print(
        f"tinct serve: model {app.state.colorizer!r}; {settings.workers} worker(s) x "
        f"{settings.torch_threads} thread(s); http://{shown}:{port}/ (API docs at /docs)",
        file=sys.stderr,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_keep_alive=5)
