"""Video: `tinct colorize clip.mp4`, tinct.video (streaming, temporal filter), flicker, bad inputs."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("av")

import av  # noqa: E402

from tests.videos import clip_frames, read_frames, write_clip  # noqa: E402
from tinct.cli import main  # noqa: E402
from tinct.inference import Colorizer, image_lightness  # noqa: E402
from tinct.metrics import FlickerMeter, flicker  # noqa: E402
from tinct.video import ChromaStabilizer, StabilizerConfig, VideoReadError, colorize_video  # noqa: E402
from tinct.video.temporal import block_motion  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def colorizer(weights):
    return Colorizer.load(weights, backend="torch", size=64)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """96x64, 16 frames at 12 fps: a pan and zoom, a cut at frame 8, AAC audio, rotated 90°."""
    path = tmp_path_factory.mktemp("clips") / "clip.mp4"
    return write_clip(path, clip_frames(96, 64, 16, cut=8), rate=12, audio=True, rotation=90)


def stream_facts(path):
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        rotation = next(container.decode(video=0)).rotation
        return video.width, video.height, video.average_rate, video.frames, rotation


def audio_packets(path):
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --------------------------------------------------------------------------------------------
# Flicker metric


def test_flicker_is_zero_for_a_still_video_and_measures_a_chroma_change():
    L = np.full((8, 8), 50.0, np.float32)
    ab = np.zeros((2, 8, 8), np.float32)
    assert flicker_value([(L, ab), (L, ab), (L, ab)]) == 0.0
    shifted = ab.copy()
    shifted[0] += 3.0
    shifted[1] += 4.0
    assert flicker_value([(L, ab), (L, shifted)]) == pytest.approx(5.0)


def test_flicker_ignores_pixels_whose_gray_input_moves():
    L0 = np.full((4, 4), 50.0, np.float32)
    L1 = L0.copy()
    L1[:2] = 60.0  # the top half changes in lightness: its color may change too
    ab0 = np.zeros((2, 4, 4), np.float32)
    ab1 = ab0.copy()
    ab1[:, :2] = 20.0
    ab1[0, 2:] = 1.0  # the static bottom half flickers by 1
    assert flicker_value([(L0, ab0), (L1, ab1)]) == pytest.approx(1.0)


def test_flicker_of_rgb_frames_uses_their_lightness():
    gray = np.full((6, 6, 3), 120, np.uint8)
    reddish = gray.copy()
    reddish[..., 0] += 6
    reddish[..., 1] -= 3
    value = flicker([gray, reddish], gray=[image_lightness(gray)] * 2)
    assert value > 1.0
    assert flicker([gray, gray.copy()]) == 0.0
    assert np.isnan(flicker([gray]))


def flicker_value(frames):
    meter = FlickerMeter()
    for L, ab in frames:
        meter.update(L, ab)
    return meter.value


# --------------------------------------------------------------------------------------------
# Temporal filter


def textured(h=32, w=40, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.uniform(10, 90, (h // 4 + 2, w // 4 + 2)).astype(np.float32)
    return np.kron(base, np.ones((4, 4), np.float32))


def test_block_motion_finds_a_shift():
    big = textured(48, 56)
    prev, cur = big[8:40, 8:48], big[6:38, 9:49]  # content moved down 2 and left 1
    dy, dx = block_motion(prev, cur, search=3, block=5, shift_penalty=0.3)
    inner = (slice(4, -4), slice(4, -4))
    assert np.median(dy[inner]) == -2 and np.median(dx[inner]) == 1


def test_stabilizer_reduces_flicker_on_a_static_scene_and_keeps_the_mean():
    rng = np.random.default_rng(0)
    L = textured()
    truth = np.stack([np.full(L.shape, 20.0), np.full(L.shape, -10.0)]).astype(np.float32)
    noisy = [truth + rng.normal(0, 2.0, truth.shape).astype(np.float32) for _ in range(40)]
    stab = ChromaStabilizer(StabilizerConfig(keyframe_interval=1))
    filtered = [stab.step(L, lambda a=a: a) for a in noisy]
    raw, smooth = flicker_value([(L, a) for a in noisy]), flicker_value([(L, a) for a in filtered])
    assert smooth < 0.5 * raw
    assert np.abs(np.mean(filtered[10:], axis=0) - truth).mean() < 0.5
    assert stab.predictions == 40 and stab.cuts == 0


def test_stabilizer_runs_the_model_on_keyframes_only():
    L = textured()
    calls = []

    def predict():
        calls.append(1)
        return np.zeros((2, *L.shape), np.float32)

    stab = ChromaStabilizer(StabilizerConfig(keyframe_interval=3))
    for _ in range(10):
        stab.step(L, predict)
    assert len(calls) == stab.predictions == 4  # frames 0, 3, 6, 9


def test_stabilizer_carries_nothing_across_a_cut():
    a, b = textured(seed=1) * 0.3, textured(seed=2) * 0.3 + 60  # dark shot, then a bright one
    red, blue = np.full((2, *a.shape), 30.0, np.float32), np.full((2, *a.shape), -30.0, np.float32)
    stab = ChromaStabilizer(StabilizerConfig(keyframe_interval=4, strength=0.9))
    for _ in range(5):
        stab.step(a, lambda: red)
    after = stab.step(b, lambda: blue)
    assert stab.cut and stab.cuts == 1
    np.testing.assert_array_equal(after, blue)


def test_stabilizer_config_is_checked():
    with pytest.raises(ValueError, match="keyframe_interval"):
        StabilizerConfig(keyframe_interval=0)
    with pytest.raises(ValueError, match="strength"):
        StabilizerConfig(strength=1.0)


# --------------------------------------------------------------------------------------------
# colorize_video and `tinct colorize`


def test_output_keeps_size_rate_count_rotation_audio_and_lightness(clip, colorizer, tmp_path):
    out = tmp_path / "out.mp4"
    seen = []
    report = colorize_video(colorizer, clip, out, progress=lambda done, total: seen.append((done, total)))

    assert stream_facts(out) == stream_facts(clip) == (96, 64, 12, 16, 90)
    assert report.frames == 16 and report.cuts == 1 and report.predictions < 16
    assert seen[-1] == (16, 16) and len(seen) == 16
    assert audio_packets(out) == audio_packets(clip)  # copied, not re-encoded
    # L* is the input's, up to uint8 rounding and the lossy yuv420p encoding (chroma is subsampled,
    # and L* of an RGB pixel depends a little on its chroma): measured mean 0.9, 99th pct 2.7.
    source, result = read_frames(clip), read_frames(out)
    diffs = np.stack([np.abs(image_lightness(a) - image_lightness(b)) for a, b in zip(source, result, strict=True)])
    assert diffs.mean(axis=(1, 2)).max() < 1.5
    assert np.percentile(diffs, 99) < 4.0
    assert leftovers(tmp_path) == ["out.mp4"]


def test_vividness_and_hints_reach_the_video_path(clip, colorizer, tmp_path):
    with pytest.raises(ValueError, match="hints"):
        colorize_video(colorizer, clip, tmp_path / "h.mp4", hints=[(1, 1, (255, 0, 0))])
    with pytest.raises(ValueError, match="vividness"):
        colorize_video(colorizer, clip, tmp_path / "v.mp4", vividness=2.0)
    assert leftovers(tmp_path) == []


def test_hints_color_the_video(tmp_path):
    import torch

    from tinct.models import create_model

    torch.manual_seed(0)
    model = create_model("unet", decoder_channels=(8, 8, 8, 8), hints=True, head="regression")
    hinted = Colorizer(model, size=64)
    path = write_clip(tmp_path / "gray.mp4", [np.full((48, 64, 3), 128, np.uint8)] * 4, rate=8)
    plain = colorize_video(hinted, path, tmp_path / "plain.mp4")
    red = colorize_video(hinted, path, tmp_path / "red.mp4", hints=[(32, 24, (220, 40, 40))])
    assert plain.frames == red.frames == 4
    a, b = read_frames(tmp_path / "plain.mp4")[2], read_frames(tmp_path / "red.mp4")[2]
    assert b[..., 0].astype(int).mean() > a[..., 0].astype(int).mean() + 5


def test_cli_colorizes_videos_beside_photos_and_skips_existing(clip, weights, tmp_path, capsys):
    from PIL import Image

    src = tmp_path / "in"
    src.mkdir()
    os.link(clip, src / "film.mov")  # any container suffix; the output is always .mp4
    Image.fromarray(clip_frames(40, 30, 1)[0]).save(src / "photo.png")
    out = tmp_path / "out"
    args = ["colorize", str(src), "-o", str(out), "--model", str(weights), "--size", "64", "--backend", "torch"]

    assert main(args) == 0
    assert "colorized 2, skipped 0, failed 0" in capsys.readouterr().out
    assert leftovers(out) == ["film.mp4", "photo.png"]
    assert stream_facts(out / "film.mp4")[:4] == (96, 64, 12, 16)

    before = (out / "film.mp4").stat().st_mtime_ns
    assert main(args) == 0
    assert "colorized 0, skipped 2, failed 0" in capsys.readouterr().out
    assert (out / "film.mp4").stat().st_mtime_ns == before
    assert main([*args, "--overwrite"]) == 0
    assert "colorized 2, skipped 0, failed 0" in capsys.readouterr().out


def test_a_film_between_photos_is_done_in_its_place(clip, colorizer, tmp_path):
    """tinct.batch runs photos through the staged pipeline and a film by itself between them; the
    log lists the files in input order, a bad photo after the film included."""
    import json

    from PIL import Image

    from tinct import colorize_paths

    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.png", "b.png", "d.png"):
        Image.fromarray(clip_frames(40, 30, 1)[0]).save(src / name)
    os.link(clip, src / "c.mp4")
    (src / "e.png").write_bytes(b"broken")
    log = tmp_path / "log.jsonl"

    report = colorize_paths([src], tmp_path / "out", colorizer, progress=False, log=log)

    assert (report.done, report.skipped, len(report.failed)) == (4, 0, 1) and "e.png" in report.failed[0]
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(line["input"].rsplit("/", 1)[-1], line["status"]) for line in lines] == [
        ("a.png", "ok"), ("b.png", "ok"), ("c.mp4", "ok"), ("d.png", "ok"), ("e.png", "failed")
    ]  # fmt: skip
    assert leftovers(tmp_path / "out") == ["a.png", "b.png", "c.mp4", "d.png"]


def audio_only(path):
    container = av.open(str(path), "w")
    stream = container.add_stream("aac", rate=16000)
    stream.layout = "mono"
    for i in range(8):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.rate, frame.pts = 16000, i * 1024
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()


def test_bad_videos_get_one_line_each_and_leave_nothing(clip, weights, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "zero.mp4").write_bytes(b"")
    (src / "text.mp4").write_text("this is not a video\n")
    audio_only(src / "sound.mp4")
    data = clip.read_bytes()
    (src / "cut_short.mp4").write_bytes(data[: len(data) // 2])
    mkv = write_clip(tmp_path / "long.mkv", clip_frames(64, 48, 40), rate=10)
    (src / "half.mkv").write_bytes(mkv.read_bytes()[: mkv.stat().st_size * 2 // 3])
    out = tmp_path / "out"

    code = main(["colorize", str(src), "-o", str(out), "--model", str(weights), "--size", "64", "--backend", "torch"])

    captured = capsys.readouterr()
    assert code == 1
    assert "colorized 0, skipped 0, failed 5" in captured.out
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 5
    reasons = {line.split(": ", 1)[0].rsplit("/", 1)[-1]: line.split(": ", 1)[1] for line in lines}
    assert reasons["zero.mp4"] == "empty file (0 bytes)"
    assert reasons["sound.mp4"].startswith("no video stream")
    assert "not a video" in reasons["text.mp4"]
    assert "truncated" in reasons["cut_short.mp4"]
    assert "truncated" in reasons["half.mkv"]
    assert leftovers(out) == []  # no output, no temporary file


def test_an_interrupted_run_leaves_nothing_under_the_final_name(clip, colorizer, tmp_path):
    out = tmp_path / "out.mp4"

    def interrupt(done, total):
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        colorize_video(colorizer, clip, out, progress=interrupt)
    assert leftovers(tmp_path) == []


def test_reader_reports_missing_file(tmp_path, colorizer):
    with pytest.raises(VideoReadError, match="no such file"):
        colorize_video(colorizer, tmp_path / "nope.mp4", tmp_path / "out.mp4")


def test_eval_scores_a_color_video(clip, weights, tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(["eval", str(clip), "--model", str(weights), "--size", "64", "--out", str(out), "--limit", "10"])
    assert code == 0
    table = (out / "video.tsv").read_text().splitlines()
    header, row = table[0].split("\t"), dict(zip(table[0].split("\t"), table[1].split("\t"), strict=True))
    assert header[:2] == ["model", "video"] and row["video"] == "clip.mp4" and row["frames"] == "10"
    for key in ("flicker_truth", "flicker_frame", "flicker_tinct", "de00_frame", "de00_tinct"):
        assert float(row[key]) >= 0


def test_audio_mp4_cannot_hold_is_reencoded_to_aac(colorizer, tmp_path):
    # PCM (as in many .avi/.mov files) is not allowed in MP4: it becomes AAC of the same rate.
    src = tmp_path / "pcm.mkv"
    container = av.open(str(src), "w")
    video = container.add_stream("libx264", rate=10)
    video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
    sound = container.add_stream("pcm_s16le", rate=16000)
    sound.layout = "mono"
    for i, rgb in enumerate(clip_frames(64, 48, 10)):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = i
        for packet in video.encode(frame):
            container.mux(packet)
    for i in range(16):
        wave = (3000 * np.sin(np.arange(1000) * 0.2)).astype(np.int16)[None]
        aframe = av.AudioFrame.from_ndarray(wave, format="s16", layout="mono")
        aframe.rate, aframe.pts = 16000, i * 1000
        for packet in sound.encode(aframe):
            container.mux(packet)
    for stream in (video, sound):
        for packet in stream.encode(None):
            container.mux(packet)
    container.close()

    colorize_video(colorizer, src, tmp_path / "out.mp4")
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert out.streams.audio[0].codec_context.name == "aac" and out.streams.audio[0].rate == 16000
        assert out.streams.video[0].frames == 10
        assert sum(1 for p in out.demux(audio=0) if p.size) > 5


def test_write_video_table(tmp_path):
    from tinct.video.evaluate import VIDEO_METRICS, write_video_table

    row = {"model": "m", "video": "a.mp4", **dict.fromkeys(VIDEO_METRICS, 1), "flicker_ratio": 0.12345}
    path = write_video_table([row], tmp_path / "new", extra=("model",))
    assert path == tmp_path / "new" / "video.tsv"
    header, line = path.read_text().splitlines()
    assert header.split("\t")[:3] == ["model", "video", "frames"]
    assert dict(zip(header.split("\t"), line.split("\t"), strict=True))["flicker_ratio"] == "0.123"


def test_eval_of_a_folder_fails_when_a_video_fails_even_if_its_photos_pass(weights, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    data = tmp_path / "data"
    data.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(data / "p.png")
    (data / "broken.mp4").write_bytes(b"not a video")
    code = main(["eval", str(data), "--model", str(weights), "--size", "32", "--out", str(tmp_path / "eval")])
    captured = capsys.readouterr()
    assert "broken.mp4" in captured.err and "1 photo(s) evaluated" in captured.out
    assert code == 1
