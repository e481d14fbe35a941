"""Video jobs for ``tinct serve``: upload a clip, get a job id, poll its progress, download the MP4.

A video takes seconds to minutes, longer than an HTTP request should wait, so it becomes a job:

  POST /api/video                multipart ``file`` (+ ``vividness``, ``hints``, ``reference``: a
                                 color photo, checked like a photo upload) → 202 ``{"id", ...}``
  GET  /api/video/{id}           ``{"status": "queued" | "running" | "done" | "failed", "done",
                                 "total", "progress", "error", "seconds"}``
  GET  /api/video/{id}/result    the colorized MP4 (409 while not done, 422 if it failed)

The limits are the images' where they apply (upload bytes, pixels per frame, hints) plus
``ServeSettings.max_video_frames``. Frames are counted, never taken from a header (raw H.264
states no count): the upload's packets are counted before it is accepted, and the job's decoder
stops past the limit and past ``max_pixels`` per decoded frame. Jobs run one at a time
(``tinct.video`` already keeps both cores busy), at most ``ServeSettings.queue`` wait, and
finished jobs and their files are forgotten after ``ServeSettings.video_ttl`` seconds, or
sooner, oldest finished first, to keep at most ``video_keep_jobs`` jobs and
``video_keep_bytes`` bytes of files. Errors are the images' JSON ``{"detail"}``:
415 (not a video, judged by opening it), 422 (too many pixels or frames; a video that fails
while decoding ends its job as ``failed`` with one line), 404 (no such job), 503 (queue full).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import os
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["VideoJob", "VideoJobs"]

_COPY_CHUNK = 1 << 20


@dataclasses.dataclass
class VideoJob:
    id: str
    name: str
    source: Path
    result: Path
    width: int
    height: int
    total: int | None
    status: str = "queued"
    done: int = 0
    error: str | None = None
    created: float = dataclasses.field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None

    def public(self) -> dict[str, Any]:
        seconds = None
        if self.started is not None:
            seconds = round((self.finished or time.monotonic()) - self.started, 3)
        progress = self.done / self.total if self.total else (1.0 if self.status == "done" else None)
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "done": self.done,
            "total": self.total,
            "progress": None if progress is None else round(min(1.0, progress), 4),
            "width": self.width,
            "height": self.height,
            "error": self.error,
            "seconds": seconds,
        }


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _count_frames(reader: Any) -> int:
    """The video stream's packets, counted by demuxing (no decoding, and a header's count is not
    trusted; the upload limit bounds the work). A stream damaged midway counts what came before."""
    from tinct.io.video import import_av

    count = 0
    try:
        for packet in reader.container.demux(reader.stream):
            count += 1 if packet.size else 0
    except import_av().FFmpegError:  # decoding will say what is wrong, in the job's error
        pass
    return count


class JobError(Exception):
    """A request the jobs refuse: ``status`` is the HTTP status, ``str`` the one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class VideoJobs:
    """The server's video jobs: one worker thread, a bounded queue, files in a private folder."""

    def __init__(self, colorizer: Any, settings: Any) -> None:
        self.colorizer = colorizer
        self.settings = settings
        self.folder = Path(tempfile.mkdtemp(prefix="tinct-video-jobs-"))
        self.jobs: dict[str, VideoJob] = {}
        self.lock = threading.Lock()
        self.executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tinct-video-job")

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    # ---------------------------------------------------------------- submitting

    def _expire(self) -> None:
        now = time.monotonic()
        with self.lock:
            ttl = self.settings.video_ttl
            old = [j for j in self.jobs.values() if j.finished is not None and now - j.finished > ttl]
            for job in old:
                del self.jobs[job.id]
        self._forget(old)

    def _forget(self, jobs: list[VideoJob]) -> None:
        for job in jobs:
            for path in (job.source, job.result):
                with contextlib.suppress(OSError):
                    path.unlink()

    def _trim(self, adding: int = 0) -> None:
        """Forget the oldest finished jobs until ``adding`` more jobs fit in ``video_keep_jobs``
        and the files in the folder (uploads staged for them included) in ``video_keep_bytes``."""
        with self.lock:
            finished = sorted((j for j in self.jobs.values() if j.finished is not None), key=lambda j: j.finished)
            count = len(self.jobs) + adding
            total = sum(_size(p) for p in self.folder.iterdir())
            dropped = []
            for job in finished:
                if count <= self.settings.video_keep_jobs and total <= self.settings.video_keep_bytes:
                    break
                del self.jobs[job.id]
                dropped.append(job)
                count -= 1
                total -= _size(job.source) + _size(job.result)
        self._forget(dropped)

    def stage(self, source: BinaryIO, name: str, suffix: str) -> tuple[Path, Any]:
        """Copy an upload into the jobs' folder and open its header; ``(path, VideoInfo)``.

        Raises:
            JobError: 413 too large, 415 not a video, 422 too many pixels or frames.
        """
        from tinct.io.video import VIDEO_EXTENSIONS, VideoReader, VideoReadError

        settings = self.settings
        suffix = suffix.lower() if suffix.lower() in VIDEO_EXTENSIONS else ".mp4"
        path = self.folder / f"upload-{secrets.token_hex(8)}{suffix}"
        try:
            size = 0
            source.seek(0)
            with open(path, "wb") as out:
                while chunk := source.read(_COPY_CHUNK):
                    size += len(chunk)
                    if size > settings.max_upload_bytes:
                        limit = settings.max_upload_bytes / (1 << 20)
                        raise JobError(413, f"upload too large: the limit is {limit:.1f} MB")
                    out.write(chunk)
            if size == 0:
                raise JobError(415, f"{name}: empty file (0 bytes), not a video")
            try:
                with VideoReader(path) as reader:
                    info = reader.info
                    frames = _count_frames(reader)
            except VideoReadError as err:
                usable = ("truncated" in err.reason or "megapixels" in err.reason) and "not a video" not in err.reason
                status = 422 if usable else 415
                raise JobError(status, f"{name}: {err.reason}") from None
            if info.width * info.height > settings.max_pixels:
                raise JobError(
                    422,
                    f"{name}: {info.width}x{info.height} frames are {info.width * info.height / 1e6:.1f} megapixels, "
                    f"more than this server accepts ({settings.max_pixels / 1e6:.1f} megapixels)",
                )
            if frames > settings.max_video_frames:
                raise JobError(
                    422, f"{name}: {frames} frames, more than this server accepts ({settings.max_video_frames})"
                )
            return path, dataclasses.replace(info, frames=info.frames or frames)  # a total for progress
        except BaseException:
            with contextlib.suppress(OSError):
                path.unlink()
            raise

    def submit(
        self, path: Path, info: Any, name: str, hints: list[Any], vividness: float | None, reference: Any = None
    ) -> VideoJob:
        """Queue a staged upload (``reference``: prepared reference photos or None). Raises
        ``JobError(503)`` when the queue is full."""
        self._expire()
        self._trim(adding=1)
        with self.lock:
            waiting = sum(1 for j in self.jobs.values() if j.status in ("queued", "running"))
            if waiting >= self.settings.queue + 1:
                with contextlib.suppress(OSError):
                    path.unlink()
                raise JobError(503, f"the server is busy ({waiting} videos queued or running); try again shortly")
            job_id = secrets.token_urlsafe(12)
            job = VideoJob(
                id=job_id,
                name=name,
                source=path,
                result=self.folder / f"result-{job_id}.mp4",
                width=info.width,
                height=info.height,
                total=info.frames,
            )
            self.jobs[job_id] = job
        self.executor.submit(self._run, job, hints, vividness, reference)
        return job

    def get(self, job_id: str) -> VideoJob:
        self._expire()
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None:
            ttl = self.settings.video_ttl
            raise JobError(404, f"no video job {job_id!r} (unknown, or finished more than {ttl:g} s ago)")
        return job

    # ---------------------------------------------------------------- running

    def _run(self, job: VideoJob, hints: list[Any], vividness: float | None, reference: Any = None) -> None:
        from tinct.video import colorize_video

        job.status, job.started = "running", time.monotonic()

        def progress(done: int, total: int | None) -> None:
            job.done = done
            if total:
                job.total = total

        try:
            colorize_video(
                self.colorizer,
                job.source,
                job.result,
                hints=hints or None,
                vividness=vividness,
                reference=reference,
                progress=progress,
                overwrite=True,
                max_pixels=self.settings.max_pixels,
                max_frames=self.settings.max_video_frames,
            )
            job.total = job.done
            job.status = "done"
        except Exception as err:  # one line for the client; the job ends, the server goes on
            reason = getattr(err, "reason", None) or str(err) or type(err).__name__
            reason = reason.replace(str(job.source), job.name).replace(str(job.result), job.name)
            reason = reason.replace(str(self.folder), "")  # no server path reaches a client
            job.error = " ".join(f"{job.name}: {reason}".split())
            job.status = "failed"
        finally:
            job.finished = time.monotonic()
            with contextlib.suppress(OSError):
                os.unlink(job.source)
            self._trim()
