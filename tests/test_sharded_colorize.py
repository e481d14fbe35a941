"""`torchrun -m tinct colorize`: disjoint shards, one JSON-lines log per rank, exact resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from tinct.inference.batch import Shard, rank_log_path, shard_index

from .conftest import synthetic_photo, write_photos

RANKS = 2
COUNT = 40


def _command(src: Path, out: Path, weights: Path) -> list[str]:
    return [
        *("nice", "-n", "15", sys.executable, "-m", "torch.distributed.run", "--standalone"),
        f"--nproc_per_node={RANKS}",
        *("-m", "tinct", "colorize", str(src), "-o", str(out), "--model", str(weights), "--size", "64"),
        *("--threads", "1"),
    ]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "OMP_NUM_THREADS": "1"}


def _logs(out: Path) -> dict[int, list[dict]]:
    return {
        rank: [json.loads(line) for line in (out / f"colorize-log.rank{rank}.jsonl").read_text().splitlines()]
        for rank in range(RANKS)
    }


def _temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*.tmp")]


def _check_shards(records: dict[int, list[dict]], out: Path) -> None:
    """Each rank logged exactly the outputs its shard owns (so shards are disjoint)."""
    for rank, lines in records.items():
        for record in lines:
            key = Path(record["output"]).relative_to(out).as_posix()
            assert shard_index(key, RANKS) == rank, f"{key} logged by rank {rank}"
    seen = [r["input"] for lines in records.values() for r in lines]
    assert len(seen) == len(set(seen)), "an input was logged twice"


def test_shard_helpers():
    keys = [f"sub/photo_{i}.png" for i in range(1000)]
    counts = [sum(shard_index(k, 4) == r for k in keys) for r in range(4)]
    assert sum(counts) == 1000 and min(counts) > 200  # every key in one shard, roughly balanced
    assert shard_index("photo_0.png", 2) == shard_index("photo_0.png", 2)
    # NFC and NFD spellings of the same name land in the same shard (macOS vs Linux nodes).
    assert shard_index("caf\u00e9.png", 7) == shard_index("cafe\u0301.png", 7)
    assert Shard.from_env({}) == Shard(0, 1)
    assert Shard.from_env({"RANK": "3", "WORLD_SIZE": "4"}) == Shard(3, 4)
    for bad in ({"RANK": "4", "WORLD_SIZE": "4"}, {"RANK": "x", "WORLD_SIZE": "2"}, {"WORLD_SIZE": "0"}):
        with pytest.raises(ValueError, match="RANK="):
            Shard.from_env(bad)
    assert Shard(1, 4).owns("a.png") == (shard_index("a.png", 4) == 1)
    assert rank_log_path(None, "out", Shard()) is None
    assert rank_log_path(None, "out", Shard(1, 2)) == Path("out/colorize-log.rank1.jsonl")
    assert rank_log_path("logs/run.jsonl", "out", Shard()) == Path("logs/run.jsonl")
    assert rank_log_path("logs/run.jsonl", "out", Shard(1, 2)) == Path("logs/run.rank1.jsonl")


@pytest.mark.slow  # torchrun with two colorizing processes: each imports torch and loads a model
def test_two_processes_write_each_output_once(tmp_path, weights):
    src = tmp_path / "in"
    write_photos(src, COUNT, size=(48, 40))
    # One rank fails a file and has only small photos, so it finishes well before the other. It
    # must still wait: torchrun stops all processes as soon as one exits with an error status.
    failing = shard_index("broken.png", RANKS)
    (src / "broken.png").write_bytes(b"not a png")
    for i in range(COUNT):
        if shard_index(f"photo_{i}.png", RANKS) != failing:
            Image.fromarray(synthetic_photo(i, 640, 480)).save(src / f"photo_{i}.png")
    sizes = {f"photo_{i}.png": Image.open(src / f"photo_{i}.png").size for i in range(COUNT)}
    out = tmp_path / "out"

    done = subprocess.run(_command(src, out, weights), capture_output=True, text=True, timeout=300, env=_env())

    assert done.returncode == 1, done.stderr[-3000:]  # a file failed
    records = _logs(out)
    _check_shards(records, out)
    flat = [r for lines in records.values() for r in lines]
    assert sorted(r["input"] for r in flat) == sorted(str(p) for p in src.iterdir())
    assert [r for r in flat if r["status"] != "ok"] == [
        {
            "input": str(src / "broken.png"),
            "output": str(out / "broken.png"),
            "status": "failed",
            "error": f"{src / 'broken.png'}: not an image (cannot identify image file)",
            "warning": None,
            "seconds": next(r["seconds"] for r in flat if r["status"] == "failed"),
        }
    ]
    assert all(isinstance(r["seconds"], float) and r["error"] is None for r in flat if r["status"] == "ok")
    assert all(len(lines) > 0 for lines in records.values())  # both ranks did work
    for name, size in sizes.items():
        assert Image.open(out / name).size == size
    assert f"all {RANKS} ranks: colorized {COUNT}, skipped 0, failed 1" in done.stdout
    assert not _temp_files(out)


def _descendants(pid: int) -> list[int]:
    """All live descendants of ``pid`` (torchrun starts each worker in its own session, so
    killing torchrun's process group would not reach them)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in parents.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


@pytest.mark.slow  # torchrun with two colorizing processes: each imports torch and loads a model
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find torchrun's workers")
def test_killed_run_resumes_without_redoing_finished_files(tmp_path, weights):
    src = tmp_path / "in"
    # Big enough that the 40 files take a couple of seconds, so "half done" is easy to catch.
    write_photos(src, COUNT, size=(512, 512))
    out = tmp_path / "out"

    job = subprocess.Popen(
        _command(src, out, weights),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while len(list(out.glob("photo_*.png"))) < COUNT // 3:
            assert job.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.01)
        # Everything dies at once, as on a node failure: workers, their children, the launcher.
        victims = [*_descendants(job.pid), job.pid]
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        job.wait(timeout=30)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()

    finished = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("photo_*.png")}
    assert COUNT // 3 <= len(finished) < COUNT, "the kill did not land halfway"
    for name in finished:
        Image.open(out / name).load()  # every output that exists is complete
    before = {rank: len(lines) for rank, lines in _logs(out).items()}
    # A kill between writing and renaming leaves temporary files; plant two more, as a kill
    # right after the rename (finished output) and one mid-write (missing output) would.
    missing = sorted(set(f"photo_{i}.png" for i in range(COUNT)) - set(finished))
    (out / f".{next(iter(finished))}.0123456789ab.tmp").write_bytes(b"stale")
    (out / f".{missing[0]}.ba9876543210.tmp").write_bytes(b"stale")
    unrelated = out / ".notes.txt.tmp"  # not one of ours: left alone
    unrelated.write_bytes(b"keep")

    done = subprocess.run(_command(src, out, weights), capture_output=True, text=True, timeout=300, env=_env())

    assert done.returncode == 0, done.stderr[-3000:]
    logs = _logs(out)
    rerun = {rank: lines[before[rank] :] for rank, lines in logs.items()}
    _check_shards(rerun, out)
    status = {Path(r["output"]).name: r["status"] for lines in rerun.values() for r in lines}
    assert status == {f"photo_{i}.png": "skipped" if f"photo_{i}.png" in finished else "ok" for i in range(COUNT)}
    for name, identity in finished.items():  # finished files were not rewritten
        stat = (out / name).stat()
        assert (stat.st_ino, stat.st_mtime_ns) == identity, f"{name} was redone"
    for i in range(COUNT):
        with Image.open(out / f"photo_{i}.png") as image:
            image.load()
            assert image.size == (512, 512)
    assert _temp_files(out) == [unrelated]
    summary = f"all {RANKS} ranks: colorized {COUNT - len(finished)}, skipped {len(finished)}, failed 0"
    assert summary in done.stdout
