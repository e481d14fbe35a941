"""Limits and knobs of ``tinct serve`` (no web dependencies here, so the CLI can build them cheaply)."""

from __future__ import annotations

import dataclasses
import math
import os

from tinct.inference.lookup import DEFAULT_NAME, MODEL_HELP

__all__ = ["UPLOAD_MAX_PIXELS", "ServeSettings", "default_torch_threads", "default_workers"]

#: Largest accepted width*height of an upload. Lower than ``tinct.io.READ_MAX_PIXELS`` (179 MP): one
#: 50 MP request needs about 0.6 GB while it runs (input, L* plane, output, encoded file), and the
#: server runs ``workers`` of them at once.
UPLOAD_MAX_PIXELS = 50_000_000


def _option(text: str, **cli: object) -> dict[str, object]:
    """A field's metadata: ``text`` is the help of its ``tinct serve`` option; ``cli`` holds the
    option's name ("flag"), how its default reads ("shown"), its unit ("unit") or argparse settings."""
    return {"help": text, **cli}


def default_workers() -> int:
    """Colorizations run at once by default: 2 where there are at least 2 cores, else 1."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def default_torch_threads(workers: int) -> int:
    """Torch intra-op threads per colorization: the cores shared out between the workers.

    Running ``workers`` requests side by side, each with ``cores / workers`` threads, keeps every
    core busy without oversubscribing (oversubscribed OpenMP barriers are 10-100x slower).
    """
    return max(1, (os.cpu_count() or 1) // max(1, workers))


@dataclasses.dataclass(frozen=True)
class ServeSettings:
    """What the app enforces. Sizes in bytes and pixels, times in seconds.

    Attributes:
        model: weights to load when no colorizer is injected (see ``Colorizer.load``).
        device: where the model runs (``"auto"``, ``"cpu"``, ``"cuda"``...).
        size: working resolution of the model (longer side, pixels); ``None``: the model's.
        backend: ``"auto"``, ``"torch"`` or ``"onnxruntime"``, as for ``tinct colorize``.
        onnx: an ONNX file exported from ``model`` (``tinct export``), for ONNX Runtime.
        workers: colorizations run at once, each in a thread of one process (the model is
            loaded once and shared).
        queue: requests allowed to wait for a worker; beyond ``workers + queue`` the server
            answers 503 with ``Retry-After``.
        max_upload_bytes: largest accepted upload (file); larger → 413, detected while the body
            streams in.
        max_pixels: largest accepted width*height, read from the file header before decoding;
            larger → 422.
        timeout: seconds from queueing a colorization to its result; longer → 504. A colorization
            that already started cannot be interrupted: it finishes in its thread (still counted
            in the queue) and its result is dropped.
        torch_threads: torch intra-op threads, set when the app is created; ``None`` leaves the
            process setting alone (``tinct serve`` passes :func:`default_torch_threads`).
        retry_after: seconds suggested to a client refused with 503.
        max_hints: most hints accepted in one request.
        max_video_frames: most frames of an uploaded video (``/api/video``); more → 422. Videos
            run as jobs, one at a time; ``queue`` of them may wait.
        video_ttl: seconds a finished video job (and its file) is kept for download.
        video_keep_jobs: most video jobs remembered (with their files); past it, the oldest
            finished ones are forgotten first.
        video_keep_bytes: most bytes the video jobs' files may take on disk (uploads and
            results); past it, the oldest finished jobs are forgotten first.
        allowed_hosts: names (or addresses) the ``Host`` header may carry besides loopback ones
            (localhost, 127.0.0.0/8, ::1); ``"*"`` allows any. Other hosts get 403, which stops
            DNS rebinding: a web page cannot reach the server under its own domain name.
        body_timeout: seconds a request's whole body may take to arrive; longer → 408.
        idle_timeout: seconds a request may send nothing, while its headers or its body are
            still coming; longer → the connection is closed (408 once the headers are in).
    """

    # The fields with a "help" are the options of `tinct serve` (its only statement of defaults):
    # "flag" names an option other than --field-name, "shown" says how a default reads, "unit" is
    # the option's unit in the field's (MB of bytes).
    model: str = dataclasses.field(default=DEFAULT_NAME, metadata=_option(MODEL_HELP, metavar="NAME|PATH"))
    device: str = dataclasses.field(default="auto", metadata=_option("auto | cpu | cuda | cuda:N | mps"))
    size: int | None = dataclasses.field(
        default=None, metadata=_option("working resolution: longer side in pixels", shown="model's")
    )
    backend: str = "auto"
    onnx: str | None = None
    workers: int = dataclasses.field(
        default_factory=default_workers,
        metadata=_option("colorizations run at once, in threads", shown="2 on 2+ cores"),
    )
    queue: int = dataclasses.field(default=16, metadata=_option("requests that may wait for a worker before 503"))
    max_upload_bytes: int = dataclasses.field(
        default=25 * 1024 * 1024, metadata=_option("largest upload in MB", flag="--max-upload-mb", unit=1 << 20)
    )
    max_pixels: int = dataclasses.field(default=UPLOAD_MAX_PIXELS, metadata=_option("largest width*height in pixels"))
    timeout: float = dataclasses.field(default=60.0, metadata=_option("seconds per colorization before 504"))
    torch_threads: int | None = dataclasses.field(
        default=None,
        metadata=_option("torch threads per colorization", flag="--threads", shown="cores / workers"),
    )
    retry_after: int = 2
    max_hints: int = 256
    max_video_frames: int = 1500
    video_ttl: float = 3600.0
    video_keep_jobs: int = 32
    video_keep_bytes: int = 1 << 30
    allowed_hosts: tuple[str, ...] = dataclasses.field(
        default=(),
        metadata=_option(
            "also answer requests whose Host is NAME (repeatable; '*': any). Loopback names and "
            "the --host address are always allowed; other names are refused against DNS rebinding",
            flag="--allow-host",
            metavar="NAME",
        ),
    )
    body_timeout: float = 120.0
    idle_timeout: float = 15.0

    def __post_init__(self) -> None:
        def positive_int(name: str, value: object, minimum: int = 1) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")

        positive_int("workers", self.workers)
        positive_int("queue", self.queue, minimum=0)
        positive_int("max_upload_bytes", self.max_upload_bytes)
        positive_int("max_pixels", self.max_pixels)
        positive_int("retry_after", self.retry_after)
        positive_int("max_hints", self.max_hints, minimum=0)
        positive_int("max_video_frames", self.max_video_frames)
        positive_int("video_keep_jobs", self.video_keep_jobs)
        positive_int("video_keep_bytes", self.video_keep_bytes)
        if isinstance(self.allowed_hosts, str) or not all(isinstance(h, str) and h for h in self.allowed_hosts):
            raise ValueError(f"allowed_hosts must be a tuple of host names, got {self.allowed_hosts!r}")
        object.__setattr__(self, "allowed_hosts", tuple(h.strip().lower() for h in self.allowed_hosts))
        if self.size is not None:
            positive_int("size", self.size)
        if self.torch_threads is not None:
            positive_int("torch_threads", self.torch_threads)
        for name in ("timeout", "body_timeout", "idle_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")

    @property
    def capacity(self) -> int:
        """Colorizations admitted at once (running + waiting)."""
        return self.workers + self.queue
