"""tinct.pipeline.staged: the decode → model → encode pipeline of photo batches and films."""

from __future__ import annotations

import random
import threading
import time

import pytest

from tinct.pipeline import staged


@pytest.fixture(autouse=True)
def threads_before():
    """The threads alive before the test (other tests' servers and pools may still run)."""
    global _before
    _before = set(threading.enumerate())


def stage_threads() -> list[threading.Thread]:
    """The pipeline's threads started by this test and still alive."""
    return [t for t in threading.enumerate() if t.name.startswith("tinct-") and t not in _before]


def jittered(fn):
    """The function, after a random pause of up to 2 ms (so stages overtake each other if they can)."""
    rng = random.Random(0)

    def slow(x):
        time.sleep(rng.random() / 500)
        return fn(x)

    return slow


def three_stages(**overrides):
    stages = {"decode": jittered(lambda x: x * 10), "model": jittered(lambda x: x + 1), "encode": jittered(str)}
    return {**stages, **overrides}


def test_results_come_in_order_through_every_stage():
    with staged(range(50), three_stages(), depth=3) as results:
        assert list(results) == [str(10 * i + 1) for i in range(50)]
    assert stage_threads() == []


def test_stages_overlap_but_at_most_depth_items_are_in_flight():
    changed, counts = threading.Condition(), {"taken": 0, "handed": 0, "most": 0}
    both_busy = threading.Barrier(2, timeout=10)

    def source():
        for i in range(20):
            with changed:
                counts["taken"] += 1
                counts["most"] = max(counts["most"], counts["taken"] - counts["handed"])
                changed.notify_all()
            yield i

    def decode(x):
        if x == 1:  # item 1 is decoded while item 0 is in the model: only overlapping stages meet here
            both_busy.wait()
        return x

    def model(x):
        if x == 0:
            both_busy.wait()
        return x

    with staged(source(), {"decode": decode, "model": model, "encode": jittered(lambda x: x)}, depth=4) as results:
        for i, _ in enumerate(results):
            with changed:
                if i == 0:  # holding item 0, the caller lets the stages run ahead as far as they may
                    assert changed.wait_for(lambda: counts["taken"] == 4, timeout=10)
                counts["handed"] += 1
    assert counts["handed"] == 20 and counts["most"] == 4


@pytest.mark.parametrize("where", ["source", "decode", "model", "encode"])
def test_an_error_in_any_stage_names_the_item_and_stops_the_others(where):
    seen = {"decode": [], "model": [], "encode": []}

    def source():
        for i in range(1000):
            if where == "source" and i == 7:
                raise OSError("the disk went away")
            yield i

    def stage(name):
        def run(x):
            seen[name].append(x)
            if name == where and x == 7:
                raise ValueError(f"bad input {x}")
            return x

        return run

    stages = {name: stage(name) for name in seen}
    with pytest.raises((ValueError, OSError)) as caught:
        with staged(source(), stages, depth=3, label=lambda x: f"frame {x}") as results:
            got = list(results)
    assert type(caught.value) is (OSError if where == "source" else ValueError)  # the stage's own error
    stage = "decode" if where == "source" else where  # the source is iterated by the first stage
    item = "item 7" if where == "source" else "frame 7"  # the label of an item the source never gave
    assert caught.value.__notes__ == [f"in the pipeline's {stage} stage, on {item}"]
    assert "got" not in locals()
    order = ["source", "decode", "model", "encode"]
    for name, xs in seen.items():  # a stage before the failing one stops within the window, one after it at once
        assert max(xs, default=-1) < (7 + 3 if order.index(name) <= order.index(where) else 7), (name, xs)
    assert stage_threads() == []


def test_leaving_early_stops_the_stages_and_reads_no_further():
    taken = []

    def source():
        for i in range(10_000):
            taken.append(i)
            yield i

    with staged(source(), three_stages(), depth=2) as results:
        for result in results:
            if result == "11":  # item 1
                break
    assert stage_threads() == [] and len(taken) <= 4


def test_an_error_in_the_callers_loop_propagates_and_no_thread_is_left():
    with pytest.raises(KeyboardInterrupt):
        with staged(range(100), three_stages(), depth=3) as results:
            for result in results:
                if result == "31":
                    raise KeyboardInterrupt
    assert stage_threads() == []


def test_an_empty_source_and_a_single_stage():
    with staged([], {"only": str}, depth=1) as results:
        assert list(results) == []
    with staged([1, 2], {"only": str}, depth=1) as results:
        assert list(results) == ["1", "2"]
    with pytest.raises(ValueError, match="depth of at least 1"):
        with staged([1], {"only": str}, depth=0):
            pass
    assert stage_threads() == []
