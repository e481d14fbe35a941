"""torch's thread count while a film is colorized (the model is one of three busy stages)."""

from __future__ import annotations

import pytest

pytest.importorskip("av")

import torch  # noqa: E402

from tests.videos import clip_frames, write_clip  # noqa: E402
from tinct import threads  # noqa: E402
from tinct.inference import Colorizer  # noqa: E402
from tinct.video import colorize_video  # noqa: E402


class Recording:
    """A colorizer that notes torch's thread count each time the model runs."""

    def __init__(self, colorizer: Colorizer) -> None:
        self.inner, self.seen = colorizer, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def working_chroma(self, *args, **kwargs):
        self.seen.append(torch.get_num_threads())
        return self.inner.working_chroma(*args, **kwargs)


@pytest.fixture
def clip(tmp_path):
    return write_clip(tmp_path / "clip.mp4", clip_frames(64, 48, 4))


@pytest.fixture
def default_threads(monkeypatch):
    monkeypatch.setattr(threads, "_threads", None)  # as if no --threads was given
    previous = torch.get_num_threads()
    torch.set_num_threads(2)  # torch's default on a 2-core machine
    yield
    torch.set_num_threads(previous)


def test_torch_runs_one_thread_inside_a_film_and_gets_its_threads_back(clip, tmp_path, weights, default_threads):
    colorizer = Recording(Colorizer.load(weights, backend="torch"))

    colorize_video(colorizer, clip, tmp_path / "out.mp4")

    assert colorizer.seen and set(colorizer.seen) == {1}
    assert torch.get_num_threads() == 2


def test_threads_given_by_the_user_are_kept(clip, tmp_path, weights, default_threads):
    colorizer = Recording(Colorizer.load(weights, backend="torch"))
    threads.set_num_threads(2)

    colorize_video(colorizer, clip, tmp_path / "out.mp4")

    assert set(colorizer.seen) == {2}
