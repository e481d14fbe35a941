"""Unlucky and hostile videos through `tinct colorize`: odd frame sizes, silent clips in every
container, frames over the pixel limit, more frames than a limit allows, a disk that fills up."""

from __future__ import annotations

import errno
import io
import os

import pytest

pytest.importorskip("av")

import av  # noqa: E402

from tests.videos import CONTAINER_CODECS, ODD_SIZES, clip_frames, container_corpus, write_clip  # noqa: E402
from tinct.cli import main  # noqa: E402
from tinct.inference import Colorizer  # noqa: E402
from tinct.io.images import ImageWriteError  # noqa: E402
from tinct.video import VideoReadError, colorize_video  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def colorizer(weights):
    return Colorizer.load(weights, backend="torch", size=64)


def facts(path):
    """(width, height, frames decoded) of a video file."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24").shape for f in container.decode(video=0)]
    heights, widths = {s[0] for s in frames}, {s[1] for s in frames}
    assert len(heights) == len(widths) == 1
    return widths.pop(), heights.pop(), len(frames)


def colorize_folder(src, out, weights, *extra):
    return main(
        ["colorize", str(src), "-o", str(out), "--model", str(weights), "--size", "64", "--backend", "torch", *extra]
    )


def test_odd_sizes_and_silent_clips_are_colorized_at_their_exact_size(weights, tmp_path, capsys):
    # The 321x241 scan in MP4, a silent MKV and WebM long enough for the MP4 muxer to
    # write its header mid-clip, and a photo after them: the batch must reach all of them.
    src = tmp_path / "in"
    src.mkdir()
    write_clip(src / "a-scan.mp4", clip_frames(321, 241, 4), rate=10, codec="mpeg4")
    write_clip(src / "b-silent.mkv", clip_frames(64, 48, 40), rate=25)
    write_clip(src / "c-silent.webm", clip_frames(65, 49, 40), rate=24, codec="libvpx-vp9")
    from PIL import Image

    Image.fromarray(clip_frames(40, 30, 1)[0]).save(src / "d-photo.png")
    out = tmp_path / "out"

    code = colorize_folder(src, out, weights)

    captured = capsys.readouterr()
    assert captured.err.strip() == ""
    assert "colorized 4, skipped 0, failed 0" in captured.out
    assert code == 0
    assert facts(out / "a-scan.mp4") == (321, 241, 4)
    assert facts(out / "b-silent.mp4") == (64, 48, 40)
    assert facts(out / "c-silent.mp4") == (65, 49, 40)


@pytest.mark.slow
def test_every_container_at_every_odd_size_and_silent(weights, tmp_path, capsys):
    made = container_corpus(tmp_path / "in")
    assert {name.rsplit(".", 1)[1] for name in made} == {s[1:] for s in CONTAINER_CODECS}
    assert set(ODD_SIZES) <= set(made.values())
    out = tmp_path / "out"

    code = colorize_folder(tmp_path / "in", out, weights)

    captured = capsys.readouterr()
    assert captured.err.strip() == ""
    assert f"colorized {len(made)}, skipped 0, failed 0" in captured.out and code == 0
    for name, (width, height) in made.items():
        frames = 40 if (width, height) == (64, 48) else 6
        assert facts(out / (name.rsplit(".", 1)[0] + ".mp4")) == (width, height, frames), name


def test_odd_sized_output_keeps_its_lightness(colorizer, tmp_path):
    # 4:4:4 keeps every pixel's own chroma: L* of the output matches the input's as closely as
    # for an even clip (see test_video.py), down to the last odd row and column.
    import numpy as np

    from tinct.inference import image_lightness

    src = write_clip(tmp_path / "odd.mkv", clip_frames(65, 49, 3), rate=10, codec="ffv1")
    colorize_video(colorizer, src, tmp_path / "odd.mp4")
    with av.open(str(src)) as a, av.open(str(tmp_path / "odd.mp4")) as b:
        pairs = zip(a.decode(video=0), b.decode(video=0), strict=True)
        for fa, fb in pairs:
            la, lb = (image_lightness(f.to_ndarray(format="rgb24")) for f in (fa, fb))
            diff = np.abs(la - lb)
            assert diff.shape == (49, 65)
            assert diff.mean() < 1.5 and diff[-1].mean() < 3 and diff[:, -1].mean() < 3


def test_video_frames_over_the_pixel_limit_get_one_line(weights, tmp_path, capsys, monkeypatch):
    # A 256 MP frame would take gigabytes; photos are refused above READ_MAX_PIXELS, so are
    # video frames. Lowered here so that a small clip stands for a huge one.
    import tinct.io.video

    monkeypatch.setattr(tinct.io.video, "VIDEO_MAX_PIXELS", 64 * 48 - 1, raising=False)
    src = tmp_path / "in"
    src.mkdir()
    write_clip(src / "big.mp4", clip_frames(64, 48, 3), rate=10)
    write_clip(src / "small.mp4", clip_frames(32, 24, 3), rate=10)
    out = tmp_path / "out"

    code = colorize_folder(src, out, weights)

    captured = capsys.readouterr()
    assert code == 1 and "colorized 1, skipped 0, failed 1" in captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{src / 'big.mp4'}: 64x48 frames are")
    assert "more than" in lines[0]
    assert sorted(p.name for p in out.iterdir()) == ["small.mp4"]


def test_decoded_frames_count_not_the_header(colorizer, tmp_path):
    # Raw H.264 in a file named .mp4 states no frame count; the limit counts decoded frames.
    raw = tmp_path / "raw.h264"
    write_clip(raw, clip_frames(32, 24, 12), rate=10)
    src = tmp_path / "x.mp4"
    raw.rename(src)
    with av.open(str(src)) as container:
        assert not container.streams.video[0].frames  # nothing in the header to trust
    with pytest.raises(VideoReadError, match="more than 5 frames"):
        colorize_video(colorizer, src, tmp_path / "out.mp4", max_frames=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.mp4"]
    assert colorize_video(colorizer, src, tmp_path / "out.mp4", max_frames=12).frames == 12


class _FillsUp(io.RawIOBase):
    """A file that takes ``room`` bytes and then fails as a full disk does."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.pos = self.end = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.pos + len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.pos += len(data)
        self.end = max(self.end, self.pos)
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 else self.end + offset
        return self.pos

    def tell(self) -> int:
        return self.pos


def test_a_full_disk_is_one_line_without_pyav_tracebacks(colorizer, tmp_path, capfd, monkeypatch):
    # The disk fills up at points from the first packets to the trailer and the final flush
    # (a buffered file, as atomic_open gives, over one that refuses bytes past its room).
    import contextlib

    import tinct.io.video

    src = write_clip(tmp_path / "clip.mp4", clip_frames(64, 48, 8), rate=10, audio=True)
    disks = [_FillsUp(1 << 30)]

    @contextlib.contextmanager
    def full_disk(path, mode, overwrite=False):
        with io.BufferedWriter(disks[-1], buffer_size=2048) as f:
            yield f

    monkeypatch.setattr(tinct.io.video, "atomic_open", full_disk)
    colorize_video(colorizer, src, tmp_path / "fits.mp4")
    size = disks[0].end
    rooms = [size // 8, size // 2, *range(size - 2500, size, 500)]
    capfd.readouterr()
    for room in rooms:
        disks.append(_FillsUp(room))
        with pytest.raises(ImageWriteError, match="No space left on device") as caught:
            colorize_video(colorizer, src, tmp_path / "out.mp4")
        assert "\n" not in str(caught.value)
        captured = capfd.readouterr()
        assert "Traceback" not in captured.err and "dropped" not in captured.err, (room, size, captured.err)
