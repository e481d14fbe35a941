"""tinct serve HTTP API: every status the server promises, with a tiny untrained model."""

from __future__ import annotations

import functools
import io
import json
import re
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'tinct[serve]')")
pytest.importorskip("multipart", reason="python-multipart is not installed (pip install 'tinct[serve]')")

with warnings.catch_warnings():  # starlette would rather have httpx2; httpx works the same here
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

from tinct.inference import Colorizer  # noqa: E402
from tinct.models import create_model  # noqa: E402
from tinct.serve import ServeSettings, create_app, is_loopback  # noqa: E402
from tinct.serve.app import STATIC_DIR  # noqa: E402
from tinct.serve.limits import sniff_image_type  # noqa: E402

from . import corpus  # noqa: E402
from .conftest import synthetic_photo  # noqa: E402

TINY = {"decoder_channels": (8, 8, 8, 8), "head": "classification", "output_stride": 4}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_colorizer(hints: bool = True) -> Colorizer:
    torch.manual_seed(0)
    return Colorizer(create_model("unet", **TINY, hints=hints), size=64)


@pytest.fixture(scope="module")
def colorizer() -> Colorizer:
    return tiny_colorizer()


@pytest.fixture(scope="module")
def client(colorizer):
    with TestClient(
        base_url="http://127.0.0.1:8000", app=create_app(colorizer, ServeSettings(workers=1, queue=4, timeout=30))
    ) as c:
        yield c


def png_bytes(rgb: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo() -> bytes:
    return png_bytes(synthetic_photo(0, 72, 48))


@functools.lru_cache(maxsize=2)
def png_bomb(width: int, height: int) -> bytes:
    return corpus.png_bomb(width, height)


def post(client, data: bytes, name: str = "photo.png", **fields):
    return client.post("/api/colorize", files={"file": (name, data, "application/octet-stream")}, data=fields)


def detail(response) -> str:
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    return body["detail"]


# ------------------------------------------------------------------------------------ 200


@pytest.mark.parametrize(
    ("fmt", "content_type", "pil_format"),
    [
        ("png", "image/png", "PNG"),
        ("jpeg", "image/jpeg", "JPEG"),
        ("webp", "image/webp", "WEBP"),
        ("jpg", "image/jpeg", "JPEG"),
    ],
)
def test_colorize_each_format(client, photo, fmt, content_type, pil_format):
    r = post(client, photo, format=fmt)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == content_type
    assert "-colorized." in r.headers["content-disposition"]
    out = Image.open(io.BytesIO(r.content))
    assert out.format == pil_format and out.mode == "RGB"
    assert out.size == (72, 48)
    assert r.headers["x-image-width"] == "72" and r.headers["x-image-height"] == "48"


def test_jpeg_keeps_full_resolution_chroma(client):
    """The server's JPEG is 4:4:4 like `tinct colorize`'s: Pillow's default 4:2:0 would halve the
    resolution of the chroma, the one thing tinct predicts."""
    from PIL import JpegImagePlugin

    r = post(client, png_bytes(synthetic_photo(3, 64, 48)), format="jpeg", vividness="1")
    assert r.status_code == 200, r.text
    with Image.open(io.BytesIO(r.content)) as out:
        assert out.format == "JPEG" and JpegImagePlugin.get_sampling(out) == 0


def test_output_keeps_lightness_and_adds_color(client):
    gray = np.repeat(synthetic_photo(1, 64, 40).mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    r = post(client, png_bytes(gray), vividness="1")
    assert r.status_code == 200
    out = np.asarray(Image.open(io.BytesIO(r.content)))
    assert out.shape == gray.shape
    assert np.ptp(out.astype(int), axis=2).max() > 0  # some chroma
    # Lightness comes from the input: the output's gray level follows the input's.
    assert np.corrcoef(out.mean(axis=2).ravel(), gray[..., 0].ravel())[0, 1] > 0.95


def test_type_is_judged_by_content_not_name(client, photo):
    r = post(client, photo, name="notes.txt")
    assert r.status_code == 200
    jpeg = png_bytes(synthetic_photo(2, 40, 30), "JPEG")
    assert post(client, jpeg, name="picture.png").status_code == 200


class RecordingColorizer(Colorizer):
    """Remembers the hints and vividness of each call."""

    def __init__(self, model) -> None:
        super().__init__(model, size=64)
        self.calls: list[tuple] = []

    def colorize(self, image, hints=None, vividness=None):
        self.calls.append((hints, vividness))
        return super().colorize(image, hints=hints, vividness=vividness)


def test_hints_reach_the_model(colorizer, photo):
    recorder = RecordingColorizer(colorizer.model)
    hints = [{"x": 10, "y": 5.5, "color": "#ff0000"}, {"x": 71, "y": 47, "color": "#00f"}]
    with TestClient(base_url="http://127.0.0.1:8000", app=create_app(recorder, ServeSettings(workers=1))) as c:
        assert post(c, photo, hints=json.dumps(hints), vividness="0.25").status_code == 200
        assert post(c, photo, hints="[]").status_code == 200
    assert recorder.calls[0] == ([(10.0, 5.5, (255, 0, 0)), (71.0, 47.0, (0, 0, 255))], 0.25)
    assert recorder.calls[1] == (None, None)


def test_vividness_changes_the_result(client, photo):
    dull = post(client, photo, vividness="0")
    vivid = post(client, photo, vividness="1")
    assert dull.status_code == vivid.status_code == 200
    assert dull.content != vivid.content


# ------------------------------------------------------------------------------------ 400


@pytest.mark.parametrize("value", ["2", "-0.1", "abc", "nan", "inf"])
def test_bad_vividness_is_400(client, photo, value):
    r = post(client, photo, vividness=value)
    assert r.status_code == 400
    assert "vividness" in detail(r)


@pytest.mark.parametrize(
    ("hints", "words"),
    [
        ("[{", "JSON"),
        ('{"x": 1}', "list"),
        ('[{"x": 1, "y": 2}]', "missing"),
        ('[{"x": 500, "y": 2, "color": "#ff0000"}]', "outside"),
        ('[{"x": 1, "y": 2, "color": "red"}]', "#rrggbb"),
        (json.dumps([{"x": 1, "y": 1, "color": "#ffffff"}] * 300), "too many"),
    ],
)
def test_bad_hints_are_400(client, photo, hints, words):
    r = post(client, photo, hints=hints)
    assert r.status_code == 400
    assert words in detail(r)


def test_hints_for_a_model_without_hints_are_400(photo):
    with TestClient(
        base_url="http://127.0.0.1:8000", app=create_app(tiny_colorizer(hints=False), ServeSettings(workers=1))
    ) as c:
        assert c.get("/api/health").json()["hints"] is False
        r = post(c, photo, hints='[{"x": 1, "y": 1, "color": "#ff0000"}]')
        assert r.status_code == 400 and "does not accept hints" in detail(r)
        assert post(c, photo).status_code == 200


def test_bad_format_and_missing_file_are_400(client, photo):
    r = post(client, photo, format="gif")
    assert r.status_code == 400 and "format" in detail(r)
    r = client.post("/api/colorize", data={"format": "png"})
    assert r.status_code == 400 and "file" in detail(r)
    r = client.post("/api/colorize", data={"file": "not a file"})
    assert r.status_code == 400


# ------------------------------------------------------------------------------------ 413


def test_upload_over_the_limit_is_413(colorizer, photo):
    settings = ServeSettings(workers=1, max_upload_bytes=300_000)
    noise = np.random.default_rng(0).integers(0, 256, (600, 600, 3), dtype=np.uint8)
    slightly_over = png_bytes(noise[:400, :400])  # ~480 KB: refused by the endpoint
    far_over = png_bytes(noise)  # ~1.1 MB: refused by the middleware while the body streams in
    assert 300_000 < len(slightly_over) < 300_000 + 256 * 1024 < len(far_over)
    with TestClient(base_url="http://127.0.0.1:8000", app=create_app(colorizer, settings)) as c:
        for data in (slightly_over, far_over):
            r = post(c, data)
            assert r.status_code == 413 and "too large" in detail(r)
        assert post(c, photo).status_code == 200  # the server goes on


def test_streamed_upload_over_the_limit_is_413_without_content_length(colorizer):
    settings = ServeSettings(workers=1, max_upload_bytes=100_000)
    boundary = "tinctboundary"
    seen = {"chunks": 0}

    def body():
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        for _ in range(200):  # 200 x 64 KB = 12.8 MB, far over the limit
            seen["chunks"] += 1
            yield b"\x89PNG" + b"\x00" * (64 * 1024 - 4)
        yield f"\r\n--{boundary}--\r\n".encode()

    with TestClient(base_url="http://127.0.0.1:8000", app=create_app(colorizer, settings)) as c:
        r = c.post(
            "/api/colorize", content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
    assert r.status_code == 413 and "too large" in detail(r)


def test_declared_oversize_is_refused_before_reading(colorizer):
    from tinct.serve.limits import UploadLimitMiddleware

    received = []

    async def app(scope, receive, send):  # pragma: no cover - must not be reached
        raise AssertionError("the app must not see an oversized request")

    async def receive():
        received.append(1)
        return {"type": "http.request", "body": b"x" * 10, "more_body": False}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "headers": [(b"content-length", b"999999"), (b"expect", b"100-continue")],
    }
    import anyio

    anyio.run(UploadLimitMiddleware(app, max_body_bytes=1000), scope, receive, send)
    assert sent[0]["status"] == 413 and not received  # the client is never asked for its body


# ------------------------------------------------------------------------------------ 415 / 422


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"just some text, not a photo\n" * 20, "holiday.jpg"),
        (b"", "empty.png"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "scan.png"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "logo.png"),
    ],
)
def test_not_an_image_is_415(client, data, name):
    r = post(client, data, name=name)
    assert r.status_code == 415
    assert name in detail(r)


def test_decompression_bomb_is_422_from_the_header(client, monkeypatch):
    bomb = png_bomb(10000, 10000)  # 100 MP: over the server's limit, under PIL's own refusal point
    assert len(bomb) < 200_000
    decoded = []  # a spy on PIL's decoder: the bomb must be refused from its header alone
    load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size) or load(self))
    r = post(client, bomb, name="bomb.png")
    assert r.status_code == 422
    assert "pixels" in detail(r)
    assert decoded == []


def test_max_pixels_setting_is_422(colorizer, photo):
    with TestClient(
        base_url="http://127.0.0.1:8000", app=create_app(colorizer, ServeSettings(workers=1, max_pixels=1000))
    ) as c:
        r = post(c, photo)
        assert r.status_code == 422 and "megapixels" in detail(r)


def test_truncated_image_is_422(client):
    data = png_bytes(synthetic_photo(3, 64, 64))
    r = post(client, data[: len(data) // 2], name="cut.png")
    assert r.status_code == 422 and "cut.png" in detail(r)


# ------------------------------------------------------------------------------------ 503 / 504


class SlowColorizer(Colorizer):
    """Blocks in colorize() until released (or ``hold`` seconds pass), then returns the input as is
    (so that timings do not depend on how busy the machine's cores are)."""

    def __init__(self, model, hold: float = 10.0) -> None:
        super().__init__(model, size=64)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.hold = hold

    def colorize(self, image, hints=None, vividness=None):
        self.entered.set()
        self.release.wait(self.hold)
        return np.asarray(image)


def wait_until(predicate, timeout: float = 120.0) -> None:
    """Poll for a state the pool exposes no event for; the timeout only stops a hung test (it is
    no bound on speed: the cores may be shared with training jobs)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def test_full_queue_is_503_with_retry_after(photo, colorizer):
    slow = SlowColorizer(colorizer.model)
    app = create_app(slow, ServeSettings(workers=1, queue=1, timeout=30, retry_after=3))
    pool = app.state.pool
    with TestClient(base_url="http://127.0.0.1:8000", app=app) as c:
        results = []
        threads = [threading.Thread(target=lambda: results.append(post(c, photo))) for _ in range(2)]
        for t in threads:
            t.start()
        assert slow.entered.wait(120), "no request reached the colorizer"
        wait_until(lambda: pool.running == 1 and pool.waiting == 1)
        health = c.get("/api/health").json()
        assert health["running"] == 1 and health["queue_depth"] == 1
        r = post(c, photo)  # one running, one waiting: no room
        assert r.status_code == 503
        assert r.headers["retry-after"] == "3"
        assert "busy" in detail(r)
        slow.release.set()
        for t in threads:
            t.join(30)
        assert [x.status_code for x in results] == [200, 200]
        assert post(c, photo).status_code == 200
        assert c.get("/api/health").json()["queue_depth"] == 0


def test_slow_colorization_is_504_and_the_pool_recovers(photo, colorizer, monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    slow = SlowColorizer(colorizer.model)
    app = create_app(slow, ServeSettings(workers=1, queue=2, timeout=1.0))
    with TestClient(base_url="http://127.0.0.1:8000", app=app) as c:
        r = post(c, photo)
        assert r.status_code == 504 and "longer than" in detail(r)
        slow.release.set()  # the abandoned colorization finishes in its thread
        wait_until(lambda: app.state.pool.running == 0 and app.state.pool.waiting == 0)
        assert post(c, photo).status_code == 200
    wait_until(lambda: not list(Path(tmp_path).glob("tinct-upload-*")))


def test_temporary_files_are_removed(client, photo, monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert post(client, photo).status_code == 200
    assert post(client, b"text" * 10, name="a.jpg").status_code == 415
    assert post(client, png_bomb(20000, 20000)).status_code == 422
    data = png_bytes(synthetic_photo(3, 64, 64))
    assert post(client, data[: len(data) // 2]).status_code == 422
    assert post(client, photo, hints='[{"x": 999, "y": 0, "color": "#fff"}]').status_code == 400
    assert list(Path(tmp_path).iterdir()) == []


# ------------------------------------------------------------------------------------ other endpoints


def test_health_and_models(client):
    h = client.get("/api/health").json()
    assert h["status"] == "ok" and h["hints"] is True and h["model"] == "unet"
    assert h["queue_depth"] == 0 and h["workers"] == 1 and h["formats"] == ["png", "jpeg", "webp"]
    assert h["max_upload_bytes"] == 25 * 1024 * 1024
    m = client.get("/api/models").json()
    assert m["current"]["architecture"] == "unet" and "unet" in m["architectures"]
    assert isinstance(m["bundled"], list)


def test_page_and_static_files_use_no_cdn(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for name in ("app.js", "style.css", "favicon.svg"):
        assert client.get(f"/static/{name}").status_code == 200
    for path in STATIC_DIR.iterdir():
        if not path.is_file():  # examples/: photos, checked in test_examples_are_served
            continue
        text = path.read_text(encoding="utf-8")
        text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"https?://|//cdn|@import", text), f"{path.name} refers to another host"


def test_examples_are_served(client):
    examples = client.get("/api/examples").json()["examples"]
    assert len(examples) >= 1
    for example in examples:
        r = client.get(f"/{example['url']}")
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(r.content)).mode == "L"  # gray, as a user's old photo would be


def test_openapi_and_docs(client):
    spec = client.get("/openapi.json").json()
    assert "/api/colorize" in spec["paths"] and "/api/health" in spec["paths"]
    fields = spec["components"]["schemas"]
    assert any("vividness" in s.get("properties", {}) for s in fields.values())
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    try:
        import fastapi_offline  # noqa: F401
    except ImportError:
        return
    assert "cdn" not in docs.text  # served from the package, works offline
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_sniffing():
    assert sniff_image_type(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8) == "PNG"
    assert sniff_image_type(b"\xff\xd8\xff\xe0" + b"\x00" * 8) == "JPEG"
    assert sniff_image_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "WebP"
    assert sniff_image_type(b"GIF89a" + b"\x00" * 8) == "GIF"
    assert sniff_image_type(b"II*\x00" + b"\x00" * 8) == "TIFF"
    assert sniff_image_type(b"hello world, this is text") is None
    assert sniff_image_type(b"") is None


def test_settings_validate():
    with pytest.raises(ValueError, match="workers"):
        ServeSettings(workers=0)
    with pytest.raises(ValueError, match="timeout"):
        ServeSettings(timeout=0)
    with pytest.raises(ValueError, match="queue"):
        ServeSettings(queue=-1)


def test_loopback_detection_and_warning(monkeypatch, capsys):
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.1.2.3")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.com")

    import uvicorn

    import tinct.serve.app as app_module

    calls = {}
    monkeypatch.setattr(
        app_module, "create_app", lambda settings: type("A", (), {"state": type("S", (), {"colorizer": "C"})})()
    )
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: calls.update(host=self.config.host, port=self.config.port))
    from tinct.serve import run

    run(ServeSettings(workers=1, torch_threads=1), host="0.0.0.0", port=8123)
    assert calls["host"] == "0.0.0.0" and calls["port"] == 8123
    assert "warning" in capsys.readouterr().err
    run(ServeSettings(workers=1, torch_threads=1), host="127.0.0.1", port=8123)
    assert "warning" not in capsys.readouterr().err


def test_cli_serve_help_and_dispatch(monkeypatch):
    from tinct import cli

    parser = cli.build_parser()
    args = parser.parse_args(["serve", "--port", "9000", "--workers", "1", "--max-upload-mb", "5", "--timeout", "7"])
    assert args.command == "serve"
    seen = {}
    import tinct.serve

    monkeypatch.setattr(tinct.serve, "run", lambda settings, **kw: seen.update(kw, settings=settings))
    assert args.func(args) == 0
    assert seen["port"] == 9000 and seen["host"] == "127.0.0.1" and seen["settings"].workers == 1
    assert seen["settings"].max_upload_bytes == 5 << 20 and seen["settings"].timeout == 7
    # The same backend choice as `tinct colorize`, with the same default.
    colorize = parser.parse_args(["colorize", "in.png", "-o", "out"])
    assert seen["settings"].backend == colorize.backend == "auto" and seen["settings"].onnx is None
    args = parser.parse_args(["serve", "--backend", "onnxruntime", "--onnx", "m.onnx", "--threads", "3"])
    assert args.func(args) == 0
    given = seen["settings"]
    assert (given.backend, given.onnx, given.torch_threads) == ("onnxruntime", "m.onnx", 3)
    # The command line states no default of its own: ServeSettings and run's signature hold them.
    args = parser.parse_args(["serve"])
    assert args.func(args) == 0 and seen["settings"] == ServeSettings()
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8000)
    with pytest.raises(ValueError, match="^--max-upload-mb must be positive, got 0.0$"):
        args.func(parser.parse_args(["serve", "--max-upload-mb", "0"]))


def test_served_model_is_loaded_with_the_chosen_backend(tmp_path):
    from tinct.models.loading import save_model

    path = tmp_path / "tiny.safetensors"
    save_model(path, create_model("unet", **TINY, hints=True))
    app = create_app(settings=ServeSettings(model=str(path), backend="torch", size=64, workers=1))
    assert app.state.colorizer.backend.name == "torch" and app.state.colorizer.source == path
    with pytest.raises(ValueError, match="ONNX file was given with the torch backend"):
        create_app(settings=ServeSettings(model=str(path), backend="torch", onnx=str(tmp_path / "m.onnx")))


def test_animated_upload_is_colorized_with_a_warning_naming_it(client):
    frames = [Image.fromarray(np.full((40, 60, 3), v, np.uint8)) for v in (60, 200)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    with pytest.warns(UserWarning, match="^party.gif: animated"):  # the server log names the upload too
        r = post(client, buffer.getvalue(), name="party.gif")
    assert r.status_code == 200
    assert r.headers["X-Tinct-Warning"] == "party.gif: animated or multi-page image, using the first frame only"
    assert "X-Tinct-Warning" not in post(client, png_bytes(np.asarray(frames[0])), name="still.png").headers
