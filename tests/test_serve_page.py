"""The page's newer parts in headless Chromium: example photos, keyboard hints, zoom / pan / full
screen, several photos downloaded as one ZIP, and two videos on one set of controls.

Uses the server, browser and helpers of tests/test_serve_browser.py (skipped with it when
Chromium or the serve extra is missing)."""

# ruff: noqa: F811 (the fixtures imported from test_serve_browser are, as pytest means, redefined as arguments)
from __future__ import annotations

import io
import os
import re
import shutil
import zipfile

import pytest
from PIL import Image

from tests.test_serve_browser import (  # noqa: F401 (fixtures)
    REPO,
    TIMEOUT_MS,
    H,
    W,
    _one_thread,
    browser,
    expect,
    is_colorize,
    page,
    photos,
    screenshot_dir,
    server,
    upload,
    wait_done,
)


def keep(page, tmp_path, name: str) -> None:
    """A screenshot into the test's folder; with TINCT_UPDATE_SCREENSHOT=1 also into docs/."""
    shot = screenshot_dir(tmp_path) / name
    page.screenshot(path=str(shot))
    if os.environ.get("TINCT_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, REPO / "docs" / name)


def test_examples_are_offered_and_the_drop_area_makes_way(page, server, tmp_path):
    examples = page.locator("#example-list button")
    expect(examples).to_have_count(4)
    page.wait_for_function("() => [...document.querySelectorAll('#example-list img')].every(i => i.naturalWidth)")
    keep(page, tmp_path, "serve-start.png")

    with page.expect_response(lambda r: is_colorize(r.request)) as response:
        examples.first.click()
    assert response.value.status == 200
    wait_done(page)

    expect(page.locator("#info")).to_contain_text(".jpg")
    expect(page.locator("#drop")).to_be_hidden()  # the photo takes its place
    status = page.locator("#model-status").inner_text()
    assert "classification" not in status and "(" not in status, status  # no jargon in the status line
    assert page.elsewhere == []


def test_hints_with_the_keyboard_alone(page, server, photos):
    upload(page, photos["gray"])
    page.locator("#hint-mode").focus()
    page.keyboard.press("Enter")  # hint mode on
    page.locator("#compare").focus()  # what Shift+Tab back to the photo does
    expect(page.locator("#cursor")).to_be_visible()
    for key in ["ArrowRight"] * 10 + ["ArrowUp"] * 2:  # from the centre: +10% across, -2% down
        page.keyboard.press(key)
    server.calls.clear()
    with page.expect_response(lambda r: is_colorize(r.request)):
        page.keyboard.press("Enter")
    wait_done(page)

    ((x, y, _),) = server.calls[-1]["hints"]
    assert abs(x - 0.6 * W) <= 2 and abs(y - 0.48 * H) <= 2, (x, y)
    expect(page.locator("#hint-list li")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.locator("#hint-mode")).to_have_attribute("aria-pressed", "false")


def _cut(page) -> float:
    css = page.locator("#after").evaluate("el => getComputedStyle(el).clipPath")
    return float(re.search(r"([\d.]+)%", css).group(1))


def _pan(page) -> tuple[float, float, float]:
    """(scale, x, y) of the zoomed photo pair, from its computed transform."""
    matrix = page.locator("#zoom").evaluate("el => getComputedStyle(el).transform")
    if matrix == "none":
        return 1.0, 0.0, 0.0
    a, _, _, _, e, f = (float(v) for v in re.findall(r"-?[\d.e]+", matrix.split("(", 1)[1]))
    return a, e, f


def test_zoom_pan_and_full_screen(page, photos):
    upload(page, photos["gray"])
    page.locator("#zoom-in").click()
    expect(page.locator("#zoom-level")).to_have_text("150%")
    box = page.locator("#compare").bounding_box()

    # A drag pans the zoomed pair; the colorized photo stays cut where the divider is on the screen.
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.3 + 60, box["y"] + box["height"] * 0.3 + 30, steps=3)
    page.mouse.up()
    z, x, y = _pan(page)
    assert z == pytest.approx(1.5) and x > -box["width"] * 0.25 and y > -box["height"] * 0.25
    divider = float(page.locator("#divider").get_attribute("aria-valuenow"))
    assert divider == 50  # panning does not move the divider
    assert _cut(page) == pytest.approx((0.5 * box["width"] - x) / z / box["width"] * 100, abs=0.3)

    page.locator("#compare").focus()
    page.keyboard.press("0")
    assert _pan(page) == (1.0, 0.0, 0.0) and _cut(page) == pytest.approx(50)

    page.locator("#fullscreen").click()
    page.wait_for_function("() => document.fullscreenElement && document.fullscreenElement.id === 'viewer'")
    expect(page.locator("#fullscreen")).to_have_attribute("aria-pressed", "true")
    page.locator("#fullscreen").click()
    page.wait_for_function("() => document.fullscreenElement === null")


def test_several_photos_colorize_in_turn_and_download_as_one_zip(page, server, photos, tmp_path):
    paths = []
    for i, size in enumerate([(320, 210), (210, 300), (400, 200)]):
        path = tmp_path / f"photo-{i}.png"
        Image.open(photos["gray"]).resize(size).save(path)
        paths.append(path)

    page.set_input_files("#file", [str(p) for p in paths])

    expect(page.locator("#gallery-list li")).to_have_count(3)
    expect(page.locator("#gallery-status")).to_have_text("3 of 3 colorized", timeout=TIMEOUT_MS)
    wait_done(page)
    page.locator("#gallery").scroll_into_view_if_needed()
    keep(page, tmp_path, "serve-several.png")
    with page.expect_download() as download:
        page.locator("#download-all").click()
    data = (tmp_path / "all.zip")
    download.value.save_as(data)
    with zipfile.ZipFile(data) as archive:
        assert archive.testzip() is None  # every CRC matches
        names = sorted(archive.namelist())
        assert names == [f"photo-{i}-colorized.png" for i in range(3)]
        sizes = [Image.open(io.BytesIO(archive.read(name))).size for name in names]
    assert sizes == [(320, 210), (210, 300), (400, 200)]

    # A thumbnail opens its photo in the comparison.
    with page.expect_response(lambda r: is_colorize(r.request)):
        page.locator("#gallery-list li button").nth(2).click()
    wait_done(page)
    expect(page.locator("#info")).to_contain_text("photo-2.png")


def test_both_videos_play_in_step_from_one_set_of_controls(page, tmp_path):
    pytest.importorskip("av")
    from tests.videos import clip_frames, write_clip

    clip = write_clip(tmp_path / "film.mp4", clip_frames(160, 120, 48, cut=24), rate=12, audio=True)
    page.locator("#file").set_input_files(str(clip))
    expect(page.locator("#video-label")).to_contain_text("48 frames colorized", timeout=TIMEOUT_MS)
    expect(page.locator("#video-play")).to_be_enabled()

    state = """() => { const b = document.getElementById('video-before'), a = document.getElementById('video-after');
        return {before: b.currentTime, after: a.currentTime, duration: a.duration, paused: a.paused,
                bpaused: b.paused, muted: a.muted, defaultMuted: a.defaultMuted, bmuted: b.muted,
                controls: b.controls || a.controls}; }"""
    page.wait_for_function("() => document.getElementById('video-after').currentTime > 0.3")
    now = page.evaluate(state)
    assert not now["controls"]  # one set of controls for both
    assert now["bmuted"] and not now["defaultMuted"]  # the colorized one carries the sound
    sound = page.locator("#video-sound").inner_text()
    assert sound == ("Sound off" if now["muted"] else "Sound on")
    assert abs(now["before"] - now["after"]) < 0.3, now

    page.locator("#video-play").click()  # pause both
    page.wait_for_function("() => document.getElementById('video-before').paused")
    page.locator("#video-seek").fill("500")  # both jump to the middle
    now = page.evaluate(state)
    assert now["paused"] and now["bpaused"]
    assert now["after"] == pytest.approx(now["duration"] / 2, abs=0.2)
    assert now["before"] == pytest.approx(now["after"], abs=0.05)
