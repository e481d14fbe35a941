"""`tinct serve` against hostile and unlucky clients: names a header cannot hold, nested JSON,
frame counts a header does not state, job files piling up, slow uploads, other web sites
driving a local server (DNS rebinding, form posts), and paths leaking into responses."""

from __future__ import annotations

import io
import json
import urllib.parse
import warnings

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'tinct[serve]')")
pytest.importorskip("multipart", reason="python-multipart is not installed (pip install 'tinct[serve]')")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

from tinct.inference import Colorizer  # noqa: E402
from tinct.models import create_model  # noqa: E402
from tinct.serve import ServeSettings, create_app  # noqa: E402

from .test_serve_video import wait  # noqa: E402  (polls a video job until it ends)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LOCAL = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def colorizer() -> Colorizer:
    import torch

    torch.manual_seed(0)
    return Colorizer(create_model("unet", decoder_channels=(8, 8, 8, 8), hints=True, head="regression"), size=64)


def client_for(colorizer, base_url: str = LOCAL, **settings) -> TestClient:
    return TestClient(create_app(colorizer, ServeSettings(workers=1, **settings)), base_url=base_url)


def png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def post_photo(client, data: bytes, name: str = "photo.png", headers=None, **fields):
    files = {"file": (name, data, "application/octet-stream")}
    return client.post("/api/colorize", files=files, data=fields, headers=headers)


def one_line_json(response) -> str:
    assert response.headers["content-type"] == "application/json", response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and detail
    return detail


def animated(fmt: str) -> bytes:
    frames = [Image.fromarray(np.full((40, 60, 3), v, np.uint8)) for v in (60, 200)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:])
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Item 3: no 500s


@pytest.mark.parametrize(("fmt", "name"), [("GIF", "写真.gif"), ("TIFF", "Ünïcødé séquence.tiff")])
def test_a_warning_about_a_non_latin1_name_is_not_a_500(colorizer, fmt, name):
    with client_for(colorizer) as client, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        response = post_photo(client, animated(fmt), name=name)
    assert response.status_code == 200, response.text
    header = response.headers["X-Tinct-Warning"]
    assert header.isascii()
    assert urllib.parse.unquote(header) == f"{name}: animated or multi-page image, using the first frame only"


@pytest.mark.parametrize("endpoint", ["/api/colorize", "/api/video"])
def test_deeply_nested_hints_are_a_400(colorizer, endpoint):
    hints = "[" * 1000 + "]" * 1000
    with client_for(colorizer) as client:
        files = {"file": ("photo.png", png(np.full((8, 8, 3), 90, np.uint8)), "image/png")}
        response = client.post(endpoint, files=files, data={"hints": hints})
    assert response.status_code == 400
    assert "hints" in one_line_json(response)


def test_an_unexpected_error_is_json_in_one_line_without_paths(colorizer, tmp_path):
    class Broken:
        def __getattr__(self, name):
            return getattr(colorizer, name)

        def colorize(self, *args, **kwargs):
            raise RuntimeError(f"failed at\n{tmp_path}/secret/weights.bin")

    app = create_app(Broken(), ServeSettings(workers=1))
    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as client:
        response = post_photo(client, png(np.full((8, 8, 3), 90, np.uint8)))
    assert response.status_code == 500
    detail = one_line_json(response)
    assert str(tmp_path) not in response.text and "RuntimeError" in detail


# --------------------------------------------------------------------------------------------
# Item 4: the frame limit counts frames, not what a header says


def raw_h264(tmp_path, frames: int) -> bytes:
    from tests.videos import clip_frames, write_clip

    path = write_clip(tmp_path / "raw.h264", clip_frames(32, 24, frames), rate=10)
    return path.read_bytes()


def test_raw_h264_named_mp4_is_held_to_the_frame_limit(colorizer, tmp_path):
    pytest.importorskip("av")
    data = raw_h264(tmp_path, 12)
    with client_for(colorizer, max_video_frames=5) as client:
        response = client.post("/api/video", files={"file": ("x.mp4", data, "video/mp4")})
        assert response.status_code == 422, response.text
        assert "x.mp4" in one_line_json(response) and "more than" in response.json()["detail"]
    with client_for(colorizer, max_video_frames=12) as client:
        response = client.post("/api/video", files={"file": ("x.mp4", data, "video/mp4")})
        assert response.status_code == 202
        assert wait(client, response.json()["id"])["done"] == 12


def test_the_job_itself_stops_past_the_frame_limit(colorizer, tmp_path, monkeypatch):
    # Whatever the upload check counted, decoding stops at the limit: the job gets it.
    pytest.importorskip("av")
    import tinct.video

    seen = {}
    real = tinct.video.colorize_video

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(tinct.video, "colorize_video", spy)
    with client_for(colorizer, max_video_frames=20) as client:
        response = client.post("/api/video", files={"file": ("x.mp4", raw_h264(tmp_path, 4), "video/mp4")})
        wait(client, response.json()["id"])
    assert seen["max_frames"] == 20 and seen["max_pixels"] == ServeSettings().max_pixels


# --------------------------------------------------------------------------------------------
# Item 5: finished jobs are capped in count and bytes, oldest first


def folder_bytes(folder) -> int:
    return sum(p.stat().st_size for p in folder.iterdir())


def test_finished_video_jobs_are_capped_in_count_and_bytes(colorizer, tmp_path):
    pytest.importorskip("av")
    from tests.videos import clip_frames, write_clip

    data = write_clip(tmp_path / "one.mp4", clip_frames(64, 48, 1), rate=10).read_bytes()
    with client_for(colorizer, video_keep_jobs=3) as client:
        ids = []
        for _ in range(5):
            ids.append(client.post("/api/video", files={"file": ("one.mp4", data, "video/mp4")}).json()["id"])
            assert wait(client, ids[-1])["status"] == "done"
        statuses = [client.get(f"/api/video/{i}").status_code for i in ids]
        assert statuses == [404, 404, 200, 200, 200]
        assert len(list(client.app.state.video_jobs.folder.iterdir())) == 3

    with client_for(colorizer) as client:
        first = client.post("/api/video", files={"file": ("one.mp4", data, "video/mp4")}).json()["id"]
        wait(client, first)
        one = folder_bytes(client.app.state.video_jobs.folder)
    with client_for(colorizer, video_keep_bytes=2 * one + one // 2) as client:
        ids = []
        for _ in range(4):
            ids.append(client.post("/api/video", files={"file": ("one.mp4", data, "video/mp4")}).json()["id"])
            wait(client, ids[-1])
        assert [client.get(f"/api/video/{i}").status_code for i in ids] == [404, 404, 200, 200]
        assert folder_bytes(client.app.state.video_jobs.folder) <= 2 * one + one // 2


# --------------------------------------------------------------------------------------------
# Item 7: Host and Origin


@pytest.mark.parametrize("host", ["evil.example:8000", "attacker.test", "192.168.1.7:8000"])
def test_a_foreign_host_header_is_refused(colorizer, host):
    with client_for(colorizer, base_url=f"http://{host}") as client:
        response = client.get("/api/health")
        assert response.status_code == 403 and "Host" in one_line_json(response)
        assert client.get("/").status_code == 403


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "localhost", "127.0.0.2"])
def test_loopback_hosts_are_served(colorizer, host):
    with client_for(colorizer, base_url=f"http://{host}") as client:
        assert client.get("/api/health").status_code == 200


def test_allowed_hosts_option(colorizer):
    with client_for(colorizer, base_url="http://colorize.lan:8000", allowed_hosts=("colorize.lan",)) as client:
        assert client.get("/api/health").status_code == 200
    with client_for(colorizer, base_url="http://other.lan:8000", allowed_hosts=("colorize.lan",)) as client:
        assert client.get("/api/health").status_code == 403
    with client_for(colorizer, base_url="http://any.where", allowed_hosts=("*",)) as client:
        assert client.get("/api/health").status_code == 200


@pytest.mark.parametrize("origin", ["https://evil.example", "http://127.0.0.1:9999", "null", "http://localhost:8000"])
def test_a_cross_origin_post_is_refused(colorizer, origin):
    photo = png(np.full((8, 8, 3), 90, np.uint8))
    with client_for(colorizer) as client:
        response = post_photo(client, photo, headers={"Origin": origin})
        assert response.status_code == 403 and "Origin" in one_line_json(response)
        video = client.post("/api/video", files={"file": ("a.mp4", b"x", "video/mp4")}, headers={"Origin": origin})
        assert video.status_code == 403


def test_a_cross_site_post_without_origin_is_refused_and_same_origin_passes(colorizer):
    photo = png(np.full((8, 8, 3), 90, np.uint8))
    with client_for(colorizer) as client:
        assert post_photo(client, photo, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
        assert post_photo(client, photo, headers={"Origin": LOCAL}).status_code == 200
        assert post_photo(client, photo, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
        assert post_photo(client, photo).status_code == 200  # curl and scripts send no Origin


def test_serve_cli_passes_allowed_hosts_and_allows_the_address_it_binds(monkeypatch):
    import uvicorn

    from tinct import cli

    captured = {}
    import tinct.serve.app as app_module

    def fake_create_app(settings):
        captured["settings"] = settings
        return type("A", (), {"state": type("S", (), {"colorizer": "C"})})()

    monkeypatch.setattr(app_module, "create_app", fake_create_app)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: None)
    args = cli.build_parser().parse_args(
        ["serve", "--host", "192.168.1.5", "--allow-host", "photos.lan", "--allow-host", "nas", "--workers", "1"]
    )
    assert args.func(args) == 0
    assert set(captured["settings"].allowed_hosts) == {"photos.lan", "nas", "192.168.1.5"}


# --------------------------------------------------------------------------------------------
# Item 8: no absolute paths in any response


def test_no_response_names_a_server_path(colorizer, tmp_path):
    from tinct.models.loading import save_model

    weights = tmp_path / "private" / "mine.safetensors"
    weights.parent.mkdir()
    save_model(weights, colorizer.model)
    loaded = Colorizer.load(weights, backend="torch", size=64)
    with client_for(loaded) as client:
        bodies = [client.get(path).text for path in ("/api/health", "/api/models", "/openapi.json")]
        assert json.loads(bodies[1])["current"]["source"] == "mine.safetensors"
        folder = str(client.app.state.video_jobs.folder)
        broken = client.post("/api/video", files={"file": ("b.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\0" * 64, "")})
        bodies.append(broken.text)
    for body in bodies:
        assert str(tmp_path) not in body and folder not in body and "/tmp/" not in body


# --------------------------------------------------------------------------------------------
# Item 6: slow clients are cut off (a real server: the test client has no sockets)


def read_answer(sock) -> bytes:
    """Everything the server sends until it closes the connection (the socket's 20 s timeout
    fails the test if it never does)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def slow_server(colorizer):
    pytest.importorskip("uvicorn")
    from tests.serving import ServerThread

    settings = ServeSettings(workers=1, body_timeout=1.0, idle_timeout=0.5)
    with ServerThread(create_app(colorizer, settings), settings) as running:
        yield running


def request_head(length: int) -> bytes:
    return (
        "POST /api/colorize HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_a_body_that_stops_coming_is_408_and_closed(slow_server):
    with slow_server.connect() as sock:
        sock.sendall(request_head(100_000) + b"--b\r\n")
        answer = read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 408") and b"too slow" in answer


def test_a_trickled_body_is_408_and_closed(slow_server):
    # 10 bytes every 0.1 s: never idle, but the whole body would take minutes.
    with slow_server.connect() as sock:
        part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
        sock.sendall(request_head(100_000) + part)
        sock.settimeout(0.1)
        answer = b""
        for _ in range(300):
            try:
                sock.sendall(b"x" * 10)
                answer += sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:  # the server closed the connection
                break
            if not answer or answer.endswith(b"}"):
                break
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_trickled_headers_are_closed(slow_server):
    with slow_server.connect() as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        sock.settimeout(0.1)
        closed = False
        for _ in range(300):
            try:
                sock.sendall(b"a")
                closed = sock.recv(1) == b""
            except TimeoutError:
                continue
            except OSError:
                closed = True
            if closed:
                break
    assert closed


def test_a_prompt_request_is_served_by_the_timed_server(slow_server):
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{slow_server.port}/api/health", timeout=20) as response:
        assert json.loads(response.read())["status"] == "ok"


# --------------------------------------------------------------------------------------------
# Items 1 and 2 through the server: odd sizes and silent clips come back at their exact size


@pytest.mark.parametrize(
    ("name", "size", "codec"), [("scan.webm", (65, 49), "libvpx-vp9"), ("silent.avi", (64, 48), "mpeg4")]
)
def test_odd_and_silent_uploads_come_back_at_their_size(colorizer, tmp_path, name, size, codec):
    pytest.importorskip("av")
    from tests.videos import clip_frames, read_frames, write_clip

    data = write_clip(tmp_path / name, clip_frames(*size, 40), rate=25, codec=codec).read_bytes()
    with client_for(colorizer) as client:
        job = client.post("/api/video", files={"file": (name, data, "video/webm")}).json()
        assert wait(client, job["id"])["status"] == "done"
        (tmp_path / "out.mp4").write_bytes(client.get(f"/api/video/{job['id']}/result").content)
    frames = read_frames(tmp_path / "out.mp4")
    assert len(frames) == 40 and frames[0].shape == (size[1], size[0], 3)
