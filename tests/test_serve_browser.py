"""tinct serve in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

The server runs in a background thread on a free 127.0.0.1 port with a tiny untrained model
(set TINCT_SERVE_TEST_MODEL to a weights name or file to use real weights instead).
Screenshots go to $TINCT_SCREENSHOT_DIR (default: the test's tmp_path); with
TINCT_UPDATE_SCREENSHOT=1 one copy is also saved as docs/serve-screenshot.png.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'tinct[serve]')")
pytest.importorskip("uvicorn", reason="the serve extra is not installed (pip install 'tinct[serve]')")
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install 'tinct[serve]' or 'tinct[dev]')"
)

CHROMIUM = Path(os.environ.get("TINCT_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium; `make test` does)",
        allow_module_level=True,
    )

import uvicorn  # noqa: E402

from tinct.inference import BUNDLED_WEIGHTS_DIR, Colorizer  # noqa: E402
from tinct.models import create_model  # noqa: E402
from tinct.serve import ServeSettings, create_app  # noqa: E402

expect = playwright_api.expect
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[1]
TIMEOUT_MS = 60_000  # the machine's cores may be shared with training jobs
W, H = 640, 420  # test photo size in pixels


# ------------------------------------------------------------------------------------ photos


def colorful_scene(width: int = W, height: int = H) -> Image.Image:
    """A small color "photo": blue sky, yellow sun, green hills, a red house with a dark roof."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    sky = np.stack([90 + 60 * y / height, 150 + 50 * y / height, 235 - 20 * y / height], axis=-1)
    rgb = sky.copy()
    hill = y > height * 0.58 + 18 * np.sin(x / 55)
    rgb[hill] = np.stack([60 + 30 * np.sin(x / 23), 150 + 25 * np.cos(y / 17), 60 + 0 * x], axis=-1)[hill]
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.75, height * 0.08, width * 0.75 + 70, height * 0.08 + 70), fill=(250, 215, 60))
    x0, y0 = int(width * 0.32), int(height * 0.42)  # the divider (50%) crosses the house
    draw.rectangle((x0, y0, x0 + 160, y0 + 120), fill=(200, 40, 35))
    draw.polygon([(x0 - 14, y0), (x0 + 80, y0 - 70), (x0 + 174, y0)], fill=(70, 45, 40))
    draw.rectangle((x0 + 62, y0 + 54, x0 + 100, y0 + 120), fill=(110, 70, 40))
    return image


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    color = colorful_scene()
    paths = {"color": folder / "scene.png", "gray": folder / "scene-gray.png"}
    color.save(paths["color"])
    color.convert("L").save(paths["gray"])
    return paths


# ------------------------------------------------------------------------------------ server and browser


class ServerThread:
    """uvicorn serving ``app`` from a background thread on a free loopback port."""

    def __init__(self, app) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self._run, daemon=True)
        # Set once the server has started, or has given up: an event, not a polled wall-clock budget.
        self.settled = threading.Event()
        startup = self.server.startup

        async def startup_then_signal(*args, **kwargs):
            try:
                await startup(*args, **kwargs)
            finally:
                self.settled.set()

        self.server.startup = startup_then_signal

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.settled.set()

    def __enter__(self) -> ServerThread:
        self.thread.start()
        self.settled.wait(600)  # only a guard against a hung test, never reached by a live server
        if not self.server.started:
            raise RuntimeError("the test server did not start")
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class RecordingColorizer(Colorizer):
    """Remembers what each colorization was asked for: the server's view of the page's requests
    (Chromium does not report the body of a multipart request that carries a file)."""

    def __init__(self, model, size=None, source=None) -> None:
        super().__init__(model, size=size)
        self.source = source
        self.calls: list[dict] = []

    def colorize(self, image, hints=None, vividness=None):
        self.calls.append({"hints": hints, "vividness": vividness})
        return super().colorize(image, hints=hints, vividness=vividness)


def test_colorizer() -> RecordingColorizer:
    spec = os.environ.get("TINCT_SERVE_TEST_MODEL")
    if spec:
        loaded = Colorizer.load(spec, backend="torch", device="cpu")
        return RecordingColorizer(loaded.model, loaded.size, loaded.source)
    torch.manual_seed(0)
    model = create_model("unet", decoder_channels=(8, 8, 8, 8), head="classification", output_stride=4, hints=True)
    return RecordingColorizer(model, size=128)


test_colorizer.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def server():
    colorizer = test_colorizer()
    with ServerThread(create_app(colorizer, ServeSettings(workers=1, queue=8, timeout=120))) as running:
        running.calls = colorizer.calls
        yield running


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
        except Exception as err:  # e.g. a chromium that does not start in this environment
            pytest.skip(f"cannot start {CHROMIUM}: {err}")
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.elsewhere = []  # every request not to our server: must stay empty (no CDN)
    page.on(
        "request",
        lambda r: None if r.url.startswith((server.url, "blob:", "data:")) else page.elsewhere.append(r.url),
    )
    page.goto(server.url + "/")
    expect(page.locator("#model-status")).to_contain_text("Model:")
    server.calls.clear()
    yield page
    context.close()


def screenshot_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("TINCT_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def is_colorize(request) -> bool:
    return request.url.endswith("/api/colorize") and request.method == "POST"


def upload(page, path: Path) -> None:
    with page.expect_response(lambda r: is_colorize(r.request)) as response:
        page.set_input_files("#file", str(path))
    assert response.value.status == 200, response.value.text()
    wait_done(page)


def wait_done(page) -> None:
    # A function, not an expression string: Playwright eval()s strings when polling, which the page's
    # Content-Security-Policy (no 'unsafe-eval') rightly refuses.
    page.wait_for_function("() => document.body.dataset.state === 'done'", timeout=TIMEOUT_MS)
    expect(page.locator("#busy")).to_be_hidden()


def chroma(region: np.ndarray) -> float:
    """Mean max-min channel spread (0..255) of an (h, w, 3) uint8 region: ~0 for gray."""
    region = region.astype(np.int16)
    return float((region.max(axis=2) - region.min(axis=2)).mean())


# ------------------------------------------------------------------------------------ tests


def test_upload_compare_vividness_and_screenshot(page, server, photos, tmp_path):
    # Record the page's state changes, to see the busy indicator that a fast answer hides quickly.
    page.evaluate(
        """() => { window.seen = []; const busy = document.getElementById('busy');
        new MutationObserver(() => window.seen.push([document.body.dataset.state, busy.hidden]))
            .observe(document.body, {attributes: true, attributeFilter: ['data-state']}); }"""
    )
    upload(page, photos["gray"])
    assert page.evaluate("window.seen") == [["busy", False], ["done", True]]

    before, after = page.locator("#before"), page.locator("#after")
    expect(before).to_be_visible()
    expect(after).to_be_visible()
    natural = page.evaluate(
        "[document.getElementById('after').naturalWidth, document.getElementById('after').naturalHeight]"
    )
    assert natural == [W, H]
    box_before, box_after = before.bounding_box(), after.bounding_box()
    assert box_before["width"] > 300
    for key in ("x", "y", "width", "height"):  # the colorized image lies exactly over the original
        assert abs(box_before[key] - box_after[key]) < 1.5
    assert "inset(0px 0px 0px 50%)" in after.evaluate("el => getComputedStyle(el).clipPath")
    expect(page.locator("#download")).to_have_attribute("download", "scene-gray-colorized.png")
    expect(page.locator("#info")).to_contain_text(f"{W}×{H}")

    # The vividness slider re-runs the colorization (debounced: a burst of key presses, one request).
    sent = []
    page.on("request", lambda r: sent.append(r) if is_colorize(r) else None)
    slider = page.locator("#vividness")
    start = float(slider.input_value())  # the model's default vividness
    target = round(start + 0.25, 2) if start <= 0.75 else round(start - 0.25, 2)
    slider.focus()
    with page.expect_response(lambda r: is_colorize(r.request)) as response:
        for _ in range(5):  # 5 steps of 0.05
            page.keyboard.press("ArrowRight" if target > start else "ArrowLeft")
    assert response.value.status == 200
    wait_done(page)
    assert len(sent) == 1  # debounced
    assert server.calls[-1]["vividness"] == pytest.approx(target)
    expect(page.locator("#vividness-value")).to_have_text(f"{target:.2f}")

    # The divider moves when dragged.
    box = page.locator("#compare").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5, steps=4)
    page.mouse.up()
    assert abs(float(page.locator("#divider").get_attribute("aria-valuenow")) - 30) <= 1
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=4)
    page.mouse.up()
    page.mouse.move(0, 0)
    slider.blur()

    shot = screenshot_dir(tmp_path) / "serve-screenshot.png"
    page.screenshot(path=str(shot))
    if os.environ.get("TINCT_UPDATE_SCREENSHOT") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / "serve-screenshot.png")

    # In the screenshot the left half of the photo is gray (original) and the right half colored.
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    x, y, w, h = (int(round(box[k])) for k in ("x", "y", "width", "height"))
    band = pixels[y + h // 4 : y + 3 * h // 4]  # below the labels, above the busy indicator
    left, right = band[:, x + w // 20 : x + 2 * w // 5], band[:, x + 3 * w // 5 : x + 19 * w // 20]
    assert chroma(left) < 3, chroma(left)
    assert chroma(right) > chroma(left) + 4, (chroma(left), chroma(right))
    assert page.elsewhere == []


def test_drop_a_file_and_download_the_result(page, photos):
    data = base64.b64encode(photos["gray"].read_bytes()).decode()
    transfer = page.evaluate_handle(
        """(b64) => { const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer(); dt.items.add(new File([bytes], 'scene-gray.png', {type: 'image/png'}));
        return dt; }""",
        data,
    )
    with page.expect_response(lambda r: is_colorize(r.request)) as response:
        page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    assert response.value.status == 200
    wait_done(page)
    with page.expect_download() as download:
        page.click("#download")
    path = download.value.path()
    assert download.value.suggested_filename == "scene-gray-colorized.png"
    assert Image.open(path).size == (W, H)


def test_bad_file_shows_the_servers_message(page):
    with page.expect_response(lambda r: is_colorize(r.request)) as response:
        page.set_input_files(
            "#file", files=[{"name": "holiday.jpg", "mimeType": "image/jpeg", "buffer": b"this is not a photo\n" * 10}]
        )
    assert response.value.status == 415
    message = response.value.json()["detail"]
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error).to_have_text(message)
    assert "holiday.jpg" in message and "not a supported image" in message
    expect(page.locator("#workspace")).to_be_hidden()
    assert page.evaluate("document.body.dataset.state") == "error"


def test_hint_mode_sends_hints_and_draws_markers(page, server, photos):
    upload(page, photos["gray"])
    hint_button = page.locator("#hint-mode")
    expect(hint_button).to_be_enabled()
    hint_button.click()
    expect(hint_button).to_have_attribute("aria-pressed", "true")
    page.locator("#hint-color").fill("#ff0000")

    box = page.locator("#compare").bounding_box()
    fx, fy = 0.4, 0.62  # on the house's wall
    with page.expect_response(lambda r: is_colorize(r.request)) as response:
        page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
    assert response.value.status == 200
    wait_done(page)
    hints = server.calls[-1]["hints"]  # as parsed by the server: [(x, y, (r, g, b))]
    assert len(hints) == 1 and hints[0][2] == (255, 0, 0)
    x, y = hints[0][0], hints[0][1]
    assert abs(x - fx * W) <= 2 and abs(y - fy * H) <= 2
    expect(page.locator("#markers .marker")).to_have_count(1)
    expect(page.locator("#hint-list li")).to_have_count(1)
    expect(page.locator("#hint-list li")).to_contain_text(f"x {x:g}, y {y:g}")
    marker, compare = page.locator("#markers .marker").bounding_box(), page.locator("#compare").bounding_box()
    assert abs(marker["x"] + marker["width"] / 2 - (compare["x"] + compare["width"] * fx)) <= 3
    # In hint mode a click adds a hint, it does not move the divider.
    assert page.locator("#divider").get_attribute("aria-valuenow") == "50"

    with page.expect_response(lambda r: is_colorize(r.request)):
        page.locator("#hint-list li button", has_text="Remove").click()
    wait_done(page)
    assert server.calls[-1]["hints"] is None
    expect(page.locator("#markers .marker")).to_have_count(0)


def test_api_docs_render_offline(browser, server):
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    elsewhere = []
    page.on("request", lambda r: None if r.url.startswith((server.url, "data:")) else elsewhere.append(r.url))
    try:
        page.goto(server.url + "/docs")
        expect(page.locator(".opblock-summary-path", has_text="/api/colorize")).to_be_visible()
        if importlib.util.find_spec("fastapi_offline") is not None:
            assert elsewhere == [], elsewhere  # Swagger UI came from the installed package
    finally:
        context.close()


def test_phone_sized_screen(browser, server, photos, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1, has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(server.url + "/")
        upload(page, photos["gray"])
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px wide)"
        compare, panel = page.locator("#compare").bounding_box(), page.locator(".panel").bounding_box()
        assert compare["width"] > 300 and compare["x"] >= 0 and compare["x"] + compare["width"] <= 390
        assert panel["y"] >= compare["y"] + compare["height"] - 1  # controls stack below the photo
        shot = screenshot_dir(tmp_path) / "serve-phone.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("TINCT_UPDATE_SCREENSHOT") == "1":
            shutil.copyfile(shot, REPO / "docs" / "serve-phone.png")
    finally:
        context.close()


# ------------------------------------------------------------------------------------ with real weights

DEFAULT_WEIGHTS = BUNDLED_WEIGHTS_DIR / "default.safetensors"
TRAINED = os.environ.get("TINCT_SERVE_TEST_MODEL") or (str(DEFAULT_WEIGHTS) if DEFAULT_WEIGHTS.is_file() else None)


@pytest.mark.skipif(TRAINED is None, reason=f"no bundled default weights yet ({DEFAULT_WEIGHTS})")
def test_red_hint_turns_the_region_red_with_the_default_model(browser, photos):
    colorizer = Colorizer.load(TRAINED, backend="torch", device="cpu")
    if not colorizer.accepts_hints:
        pytest.skip(f"the model {TRAINED} does not accept hints")
    with ServerThread(create_app(colorizer, ServeSettings(workers=1, timeout=120))) as running:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            page.goto(running.url + "/")
            expect(page.locator("#hint-mode")).to_be_enabled()
            upload(page, photos["gray"])
            hx, hy = 0.15 * W, 0.15 * H  # open sky, which a model colors blue without hints; image pixels
            read = (
                "([x, y]) => { const img = document.getElementById('after');"
                " const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;"
                " const g = c.getContext('2d'); g.drawImage(img, 0, 0);"
                " return Array.from(g.getImageData(x - 3, y - 3, 7, 7).data); }"
            )

            def patch() -> np.ndarray:
                return np.array(page.evaluate(read, [int(hx), int(hy)]), dtype=float).reshape(-1, 4)[:, :3].mean(0)

            without = patch()
            page.locator("#hint-mode").click()
            page.locator("#hint-color").fill("#ff0000")
            box = page.locator("#compare").bounding_box()
            with page.expect_response(lambda r: is_colorize(r.request)):
                page.mouse.click(box["x"] + box["width"] * hx / W, box["y"] + box["height"] * hy / H)
            wait_done(page)
            r, g, b = patch()
            redness = r - (g + b) / 2
            assert redness > 25 and redness > without[0] - (without[1] + without[2]) / 2 + 15, (without, (r, g, b))
        finally:
            context.close()


def test_video_shows_progress_and_plays_beside_the_original(page, tmp_path):
    pytest.importorskip("av")
    from tests.videos import clip_frames, write_clip

    clip = write_clip(tmp_path / "film.mp4", clip_frames(160, 120, 12, cut=6), rate=12)
    page.locator("#file").set_input_files(str(clip))
    expect(page.locator("#video-workspace")).to_be_visible()
    expect(page.locator("#video-label")).to_contain_text("12 frames colorized")
    expect(page.locator("#video-download")).to_have_attribute("aria-disabled", "false")
    assert page.locator("#video-after").get_attribute("src").startswith("api/video/")
    # Both play in the browser: their metadata (size) is known once the media can be decoded.
    page.wait_for_function(
        "() => ['video-before', 'video-after'].every(id => document.getElementById(id).videoWidth === 160)"
    )
    expect(page.locator("#workspace")).to_be_hidden()
    assert not page.elsewhere
