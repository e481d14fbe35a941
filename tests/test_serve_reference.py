"""The HTTP API's optional second upload, ``reference``: its colors reach the result where it
matches, the response says where (coverage and a map), and a gray, corrupt or oversized reference
is one JSON line naming it, with the photo's own limits."""

from __future__ import annotations

import base64
import io
import warnings

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'tinct[serve]')")
pytest.importorskip("multipart", reason="python-multipart is not installed (pip install 'tinct[serve]')")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

from tinct.serve import ServeSettings, create_app  # noqa: E402

from .test_reference import CROP, SCENE_AB, WIDTH, ab_of, textured_scene  # noqa: E402
from .test_serve_api import png_bytes, tiny_colorizer  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def client():
    settings = ServeSettings(workers=1, queue=4, timeout=60, max_upload_bytes=200_000)
    with TestClient(base_url="http://127.0.0.1:8000", app=create_app(tiny_colorizer(), settings)) as c:
        yield c


def post(
    client, photo: bytes, reference: bytes | None = None, ref_name: str = "ref.png", *, endpoint: str = "/api/colorize"
):
    """POST `photo` (or a film, to /api/video) with an optional reference upload."""
    name = "film.mp4" if endpoint == "/api/video" else "gray.png"
    files = {"file": (name, photo, "application/octet-stream")}
    if reference is not None:
        files["reference"] = (ref_name, reference, "application/octet-stream")
    return client.post(endpoint, files=files)


@pytest.fixture(scope="module")
def scene_pair() -> tuple[bytes, bytes]:
    scene = textured_scene()
    gray = np.asarray(Image.fromarray(scene[:, :CROP]).convert("L"))
    return png_bytes(gray), png_bytes(np.ascontiguousarray(scene[:, WIDTH - CROP :]))


def test_a_reference_upload_colors_the_shared_part_and_says_where(client, scene_pair):
    gray, reference = scene_pair
    auto = post(client, gray)
    with_ref = post(client, gray, reference)
    assert auto.status_code == with_ref.status_code == 200, with_ref.text
    assert "X-Tinct-Reference-Map" not in auto.headers
    shared = (slice(10, -10), slice(WIDTH - CROP + 15, CROP - 5))
    errors = []
    for response in (auto, with_ref):
        rgb = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
        errors.append(np.linalg.norm(ab_of(rgb[shared]) - np.array(SCENE_AB), axis=-1).mean())
    assert errors[1] < 0.5 * errors[0], errors
    assert 0.2 < float(with_ref.headers["X-Tinct-Reference-Coverage"]) < 0.8
    url = with_ref.headers["X-Tinct-Reference-Map"]
    assert url.startswith("data:image/png;base64,")
    confidence = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    half = confidence.shape[1] // 2
    assert confidence[:, : half // 2].max() == 0 and confidence[:, half + half // 2 :].mean() > 128


def test_a_gray_reference_is_one_line_naming_it(client, scene_pair):
    gray, _ = scene_pair
    response = post(client, gray, png_bytes(np.full((30, 40), 99, np.uint8)), ref_name="old-print.png")
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "reference old-print.png: the reference is gray; it has no color to carry over (give a color photo)"
    )


@pytest.mark.parametrize(
    ("content", "status"),
    [(b"", 415), (b"plain text, no image", 415), (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, 422), (None, 413)],
)
def test_a_bad_reference_gets_the_photos_own_checks(client, scene_pair, content, status):
    gray, _ = scene_pair
    if content is None:  # over the upload limit (noise does not compress)
        content = png_bytes(np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8))
    response = post(client, gray, content, ref_name="bad-ref.png")
    assert response.status_code == status, response.text
    line = response.json()["detail"]
    assert "\n" not in line and ("bad-ref.png" in line or status == 413), line


# ------------------------------------------------------------------ video jobs (POST /api/video)


def post_video(client, film: bytes, reference: bytes | None = None, ref_name: str = "ref.png"):
    return post(client, film, reference, ref_name, endpoint="/api/video")


@pytest.fixture(scope="module")
def film(tmp_path_factory) -> bytes:
    pytest.importorskip("av")
    from .test_reference import moving_clip_frames
    from .videos import write_clip

    return write_clip(tmp_path_factory.mktemp("film") / "film.mp4", moving_clip_frames()).read_bytes()


def test_a_video_job_takes_a_reference_upload(client, film, scene_pair, tmp_path):
    from .test_serve_video import wait
    from .videos import read_frames

    _, reference = scene_pair
    errors = []
    for ref in (None, reference):
        response = post_video(client, film, ref)
        assert response.status_code == 202, response.text
        job = response.json()
        assert wait(client, job["id"])["status"] == "done"
        out = tmp_path / f"{job['id']}.mp4"
        out.write_bytes(client.get(f"/api/video/{job['id']}/result").content)
        last = read_frames(out)[-1]
        shared = (slice(10, -10), slice(WIDTH - CROP + 15, CROP - 5))
        errors.append(np.linalg.norm(ab_of(last[shared]) - np.array(SCENE_AB), axis=-1).mean())
    assert errors[1] < 0.5 * errors[0], errors


@pytest.mark.parametrize(
    ("content", "status", "detail"),
    [
        ("gray", 422, "reference old-print.png: the reference is gray; it has no color to carry over"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, 422, None),
        (b"plain text, no image", 415, None),
        (None, 413, "reference old-print.png: upload too large"),
    ],
)
def test_a_video_job_refuses_a_gray_corrupt_or_oversized_reference_in_one_line(client, film, content, status, detail):
    if content == "gray":
        content = png_bytes(np.full((30, 40), 99, np.uint8))
    elif content is None:  # over the upload limit (noise does not compress)
        content = png_bytes(np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8))
    jobs = client.app.state.video_jobs.jobs
    before = len(jobs)
    response = post_video(client, film, content, ref_name="old-print.png")
    assert response.status_code == status, response.text
    line = response.json()["detail"]
    assert "\n" not in line and ("old-print.png" in line or status == 413), line
    assert detail is None or line.startswith(detail), line
    assert len(jobs) == before  # no job started


def test_a_video_job_refuses_a_text_reference(client, film):
    response = client.post(
        "/api/video", files={"file": ("film.mp4", film, "application/octet-stream")}, data={"reference": "x.png"}
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "reference must be an uploaded image file, not text"
