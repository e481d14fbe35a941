"""One staged pipeline (decode → model → encode) that photo batches and films both run.

Each stage runs in a thread of its own and hands its results to the next, so while the model
works on item i the first stage decodes item i + 1 and the last encodes item i - 1: decoding,
the model (ONNX Runtime or torch), the color kernels and the codecs all release the GIL, so the
stages keep several cores busy where one item at a time would leave one idle in each stage.

- **Bounded**: at most ``depth`` items are in flight (taken from the source, and not yet done
  with by the caller: a result counts until the caller asks for the next one), so memory stays
  that of a few photos or frames whatever the input's length.
- **Ordered**: each stage is one thread working first in, first out, so results come back in
  the source's order.
- **Errors**: an exception in a stage (or in the source) stops every stage, and the caller's
  loop raises it, the same exception with a note naming the stage and the item (PEP 678).
- **Clean shutdown**: leaving the ``with`` block, however (the loop done, a ``break``, an error,
  Ctrl-C), stops the stages and joins their threads; a stage finishes the item it is working on.

A leaf module: it imports nothing of tinct's, so every layer may use it.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

__all__ = ["staged"]

#: After the last item: passed from stage to stage, then ends the caller's loop.
_END = object()
#: Wakes every waiting thread after a failure or when the caller leaves.
_STOP = object()


@contextlib.contextmanager
def staged(
    items: Iterable[Any],
    stages: Mapping[str, Callable[[Any], Any]],
    *,
    depth: int,
    label: Callable[[Any], str] | None = None,
) -> Iterator[Iterator[Any]]:
    """Run ``items`` through ``stages`` (name → function, in order), each stage in its own thread.

    Example::

        with staged(frames, {"decode": decode, "model": predict, "encode": write}, depth=8) as done:
            for result in done:  # what the last stage returned, in the order of ``frames``
                ...

    Args:
        items: the source, iterated in the first stage's thread (it may be lazy, e.g. a decoder).
        stages: the functions, each called with what the stage before returned (the first with
            an item); names appear in the threads' names and in error notes.
        depth: the most items in flight at once (>= 1).
        label: an item's name in an error note; default ``"item N"`` (0-based position).

    Raises:
        whatever a stage (or iterating ``items``) raised, from the caller's loop, with a note
        ``"in the pipeline's <stage> stage, on <item>"``.
    """
    run = _Run(items, stages, depth, label)
    try:
        yield run.results()
    finally:
        run.close()


class _Run:
    def __init__(
        self,
        items: Iterable[Any],
        stages: Mapping[str, Callable[[Any], Any]],
        depth: int,
        label: Callable[[Any], str] | None,
    ) -> None:
        if depth < 1 or not stages:
            raise ValueError(f"a pipeline needs a stage and a depth of at least 1 (got {len(stages)}, {depth})")
        self.names, self.functions = list(stages), list(stages.values())
        self.label = label
        # queues[k] holds what stage k made; the last one feeds the caller. Unbounded: the window
        # bounds them all, so no put ever blocks and a stop never waits on a full queue.
        self.queues: list[queue.SimpleQueue] = [queue.SimpleQueue() for _ in self.names]
        self.window = threading.Semaphore(depth)
        self.stop = threading.Event()
        self.failure: BaseException | None = None
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._first, args=(items,), name=f"tinct-{self.names[0]}", daemon=True)]
        self.threads += [
            threading.Thread(target=self._later, args=(k,), name=f"tinct-{name}", daemon=True)
            for k, name in enumerate(self.names[1:], 1)
        ]
        for thread in self.threads:
            thread.start()

    def _first(self, items: Iterable[Any]) -> None:
        """Take items from the source (within the window) and run the first stage on them."""
        name, function, out = self.names[0], self.functions[0], self.queues[0]
        index, tag = 0, "item 0"
        try:
            source = iter(items)
            while True:
                self.window.acquire()
                if self.stop.is_set():
                    return
                tag = f"item {index}"
                item = next(source, _END)
                if item is _END:
                    out.put(_END)
                    return
                if self.stop.is_set():
                    return
                tag = self.label(item) if self.label is not None else tag
                out.put((tag, function(item)))
                index += 1
        except BaseException as err:  # handed to the caller's loop
            self._fail(err, name, tag)

    def _later(self, k: int) -> None:
        name, function, source, out = self.names[k], self.functions[k], self.queues[k - 1], self.queues[k]
        while True:
            entry = source.get()
            if entry is _STOP or self.stop.is_set():
                return
            if entry is _END:
                out.put(_END)
                return
            tag, value = entry
            try:
                out.put((tag, function(value)))
            except BaseException as err:
                self._fail(err, name, tag)
                return

    def _fail(self, err: BaseException, stage: str, tag: str) -> None:
        with self.lock:
            if self.failure is None:  # the first failure is the one raised; the rest follow from it
                err.add_note(f"in the pipeline's {stage} stage, on {tag}")
                self.failure = err
        self._halt()

    def _halt(self) -> None:
        self.stop.set()
        self.window.release()  # wakes the first stage if it waits for room
        for q in self.queues:
            q.put(_STOP)

    def results(self) -> Iterator[Any]:
        done, holding = self.queues[-1], False
        while True:
            if holding:  # the caller is done with its last result: room for one more item
                self.window.release()
            entry = done.get()
            if entry is _END:
                return
            if entry is _STOP:  # only a failure puts it here while the caller still reads
                raise self.failure  # type: ignore[misc]
            holding = True
            yield entry[1]

    def close(self) -> None:
        self._halt()
        for thread in self.threads:
            thread.join()
