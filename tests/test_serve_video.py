"""`tinct serve` video jobs: upload → job id → progress → download, with the images' limits and errors."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("av")

from fastapi.testclient import TestClient  # noqa: E402

from tests.videos import clip_frames, read_frames, write_clip  # noqa: E402
from tinct.inference import Colorizer  # noqa: E402
from tinct.models import create_model  # noqa: E402
from tinct.serve import ServeSettings, create_app  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def colorizer() -> Colorizer:
    import torch

    torch.manual_seed(0)
    return Colorizer(create_model("unet", decoder_channels=(8, 8, 8, 8), hints=True, head="regression"), size=64)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("clips") / "film.mp4"
    return write_clip(path, clip_frames(64, 48, 10, cut=5), rate=10, audio=True).read_bytes()


def client_for(colorizer, **settings):
    return TestClient(base_url="http://127.0.0.1:8000", app=create_app(colorizer, ServeSettings(workers=1, **settings)))


def upload(client, data: bytes, name: str = "film.mp4", **fields):
    return client.post("/api/video", files={"file": (name, data, "application/octet-stream")}, data=fields)


def wait(client, job_id: str, seconds: float = 60.0) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = client.get(f"/api/video/{job_id}").json()
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {state}")


def test_job_flow_upload_poll_download(colorizer, clip, tmp_path):
    with client_for(colorizer) as client:
        response = upload(client, clip, vividness="0.7", hints='[{"x": 10, "y": 10, "color": "#cc2020"}]')
        assert response.status_code == 202
        job = response.json()
        assert job["status"] in ("queued", "running") and job["width"] == 64 and job["height"] == 48
        assert response.headers["location"] == f"api/video/{job['id']}"

        state = wait(client, job["id"])
        assert state["status"] == "done" and state["done"] == state["total"] == 10 and state["progress"] == 1.0
        assert state["error"] is None and state["seconds"] >= 0

        result = client.get(f"/api/video/{job['id']}/result")
        assert result.status_code == 200 and result.headers["content-type"] == "video/mp4"
        assert "film-colorized.mp4" in result.headers["content-disposition"]
        out = tmp_path / "out.mp4"
        out.write_bytes(result.content)
        frames = read_frames(out)
        assert len(frames) == 10 and frames[0].shape == (48, 64, 3)
        assert client.get("/api/health").json()["max_video_frames"] == 1500


def test_unknown_job_is_404_and_unfinished_result_is_409(colorizer, clip):
    with client_for(colorizer) as client:
        response = client.get("/api/video/nope")
        assert response.status_code == 404 and "no video job" in response.json()["detail"]
        job = upload(client, clip).json()
        early = client.get(f"/api/video/{job['id']}/result")
        assert early.status_code in (200, 409)  # 200 only if the tiny job already finished
        if early.status_code == 409:
            assert "not finished" in early.json()["detail"]
        wait(client, job["id"])


@pytest.mark.parametrize(
    ("data", "name", "status", "words"),
    [
        (b"", "empty.mp4", 415, "empty file"),
        (b"just some text\n" * 10, "notes.mp4", 415, "not a video"),
    ],
)
def test_not_a_video_is_refused(colorizer, data, name, status, words):
    with client_for(colorizer) as client:
        response = upload(client, data, name)
        assert response.status_code == status
        assert words in response.json()["detail"] and name in response.json()["detail"]


def test_limits_apply_to_videos(colorizer, clip):
    with client_for(colorizer, max_video_frames=5) as client:
        response = upload(client, clip)
        assert response.status_code == 422 and "10 frames" in response.json()["detail"]
    with client_for(colorizer, max_pixels=1000) as client:
        response = upload(client, clip)
        assert response.status_code == 422 and "megapixels" in response.json()["detail"]
    with client_for(colorizer, max_upload_bytes=1000) as client:
        assert upload(client, clip).status_code == 413
    with client_for(colorizer) as client:
        assert upload(client, clip, vividness="3").status_code == 400
        assert upload(client, clip, hints='[{"x": 999, "y": 1, "color": "#ff0000"}]').status_code == 400


def test_a_video_broken_inside_fails_its_job_with_one_line(colorizer, tmp_path):
    # A valid header and first frames, then garbage: found while decoding, so the job fails.
    frames = clip_frames(64, 48, 30)
    data = bytearray(write_clip(tmp_path / "long.mkv", frames, rate=10).read_bytes())
    half = len(data) * 2 // 3
    broken = bytes(data[:half])
    with client_for(colorizer) as client:
        response = upload(client, broken, "broken.mkv")
        assert response.status_code == 202
        state = wait(client, response.json()["id"])
        assert state["status"] == "failed" and "truncated" in state["error"] and "\n" not in state["error"]
        result = client.get(f"/api/video/{state['id']}/result")
        assert result.status_code == 422 and "broken.mkv" in result.json()["detail"]


def test_page_allows_playing_videos():
    from tinct.serve.app import _PAGE_CSP

    assert "media-src 'self' blob:" in _PAGE_CSP
