"""Load and abuse test for `tinct serve`, on this machine only (127.0.0.1).

Starts its own server subprocess (or uses a running one with --url), sends N colorize requests at
concurrency C with small photos, and reports throughput, latency percentiles, status counts and
the server's memory: resident set after the first 20 requests vs after the run, and the peak.
Then it sends what a server must survive: a 30 MB upload (expect 413), a 20000x20000 PNG
decompression bomb (expect 422), a text file named .jpg (expect 415), and checks /api/health.

    python benchmarks/load_serve.py                          # bundled default weights
    python benchmarks/load_serve.py --untrained tiny         # no weights needed
    python benchmarks/load_serve.py --url http://127.0.0.1:8000 --pid 1234
    python benchmarks/load_serve.py --untrained tiny --out benchmarks/SERVE_RESULTS.md

Only loopback addresses are accepted. The run is bounded by --requests and --deadline.
Exit status 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import io
import ipaddress
import json
import os
import platform
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image, ImageDraw

WARMUP = 20  # requests before the first memory reading


# ------------------------------------------------------------------------------------ inputs


def photo(seed: int, width: int = 640, height: int = 480) -> bytes:
    """A small JPEG "photo" (gray: what users send): gradients, hills and a few shapes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 150 + 60 * np.sin(x / rng.uniform(40, 90) + rng.uniform(0, 6)) * np.cos(y / rng.uniform(50, 120))
    base[y > height * rng.uniform(0.5, 0.7) + 20 * np.sin(x / 50)] *= 0.55
    image = Image.fromarray(np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x0, y0 = int(rng.integers(0, width - 100)), int(rng.integers(0, height - 100))
        draw.rectangle(
            (x0, y0, x0 + int(rng.integers(30, 100)), y0 + int(rng.integers(30, 100))), fill=int(rng.integers(0, 255))
        )
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 1-bit PNG of width x height pixels in a few tens of KB (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)
    z = zlib.compressobj(9)
    body = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
    )
    parts.append(data)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# ------------------------------------------------------------------------------------ HTTP


class Client:
    """One keep-alive connection per thread (http.client, no third-party dependency)."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return conn

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        """(status, headers, body bytes); status 0 and the error text if the connection failed."""
        for attempt in (0, 1):
            conn = self._conn()
            try:
                conn.request(method, path, body=body, headers=headers or {})
                response = conn.getresponse()
                data = response.read()
                if response.getheader("connection", "").lower() == "close":
                    conn.close()
                    self.local.conn = None
                return response.status, dict(response.getheaders()), data
            except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as err:
                conn.close()
                self.local.conn = None
                if attempt == 1 or not isinstance(err, (http.client.RemoteDisconnected, BrokenPipeError)):
                    return 0, {}, f"{type(err).__name__}: {err}".encode()
        raise AssertionError("unreachable")

    def colorize(self, data: bytes, filename: str, **fields: str):
        body, content_type = multipart(fields, filename, data)
        return self.request("POST", "/api/colorize", body, {"Content-Type": content_type})


# ------------------------------------------------------------------------------------ memory


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in kB, from /proc/<pid>/status."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0])
    except OSError:
        pass
    return values


def mb(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.0f} MB"


# ------------------------------------------------------------------------------------ server


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def untrained_weights(kind: str, folder: Path) -> Path:
    import torch

    from tinct.models import create_model
    from tinct.models.loading import save_model

    torch.manual_seed(0)
    if kind == "tiny":
        model = create_model("unet", decoder_channels=(8, 8, 8, 8), head="classification", output_stride=4, hints=True)
    else:
        model = create_model("unet", hints=True)  # the default unet layout, random weights
    path = folder / f"untrained-{kind}.safetensors"
    save_model(path, model)
    return path


def start_server(args, folder: Path) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    command = [sys.executable, "-m", "tinct", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--model", args.model, "--queue", str(args.queue), "--timeout", str(args.timeout)]
    if args.workers:
        command += ["--workers", str(args.workers)]
    log_path = folder / "server.log"
    log = open(log_path, "wb")  # closed when the process ends; lives as long as the server
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    client = Client("127.0.0.1", port, timeout=5)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with status {server.returncode}:\n{log_path.read_text()[-3000:]}")
        status, _, _ = client.request("GET", "/api/health")
        if status == 200:
            return server, url, log_path
        time.sleep(0.3)
    stop_server(server)
    raise SystemExit(f"the server did not answer within 180 s:\n{log_path.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully on Ctrl-C
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


# ------------------------------------------------------------------------------------ the run


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def run_load(client: Client, photos: list[bytes], count: int, concurrency: int, first: int, deadline: float):
    results: list[tuple[int, float]] = []
    lock = threading.Lock()

    def one(i: int):
        if time.monotonic() > deadline:
            return
        start = time.perf_counter()
        status, _, _ = client.colorize(photos[i % len(photos)], f"photo_{i}.jpg", vividness="0.6", format="jpeg")
        with lock:
            results.append((status, time.perf_counter() - start))

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(first, first + count)))
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="use this running server (loopback only) instead of starting one")
    p.add_argument("--pid", type=int, help="with --url: the server's process id, for memory readings")
    p.add_argument("--model", default="default", help="weights for the started server (default: bundled)")
    p.add_argument("--untrained", choices=("tiny", "full"), help="serve an untrained unet (tiny: 8-channel decoder)")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--workers", type=int, help="server worker threads (default: the server's)")
    p.add_argument("--queue", type=int, default=16, help="server queue limit")
    p.add_argument("--timeout", type=float, default=120, help="server per-request timeout, s")
    p.add_argument("--deadline", type=float, default=1800, help="stop sending after this many seconds")
    p.add_argument("--out", help="also write the report (Markdown) to this file")
    args = p.parse_args(argv)
    if args.requests < WARMUP + 1 or args.concurrency < 1:
        p.error(f"--requests must be > {WARMUP} and --concurrency >= 1")

    folder = Path(tempfile.mkdtemp(prefix="tinct-load-"))
    server = None
    if args.url:
        parts = urlsplit(args.url)
        if parts.scheme != "http" or not parts.hostname or not is_loopback(parts.hostname):
            p.error(f"--url must be http:// on a loopback address (127.0.0.1, localhost, [::1]), got {args.url!r}")
        host, port, pid, url = parts.hostname, parts.port or 80, args.pid, args.url
        model_label = f"a running server at {url}"
    else:
        if args.untrained:
            args.model = str(untrained_weights(args.untrained, folder))
            model_label = {
                "tiny": "tiny untrained unet (decoder (8, 8, 8, 8), classification head, hints, random weights)",
                "full": "untrained unet, default layout (random weights; same compute as a trained one)",
            }[args.untrained]
        else:
            model_label = f"--model {args.model}"
        server, url, log_path = start_server(args, folder)
        host, port, pid = "127.0.0.1", int(url.rsplit(":", 1)[1]), server.pid

    client = Client(host, port, timeout=max(60.0, args.timeout + 30))
    lines: list[str] = []
    checks: list[tuple[str, bool]] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    try:
        health = json.loads(client.request("GET", "/api/health")[2])
        photos = [photo(i) for i in range(8)]
        say("# tinct serve: load and abuse test")
        say()
        say(
            f"- date: {time.strftime('%Y-%m-%d %H:%M')}; machine: {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}"
        )
        say(f"- model: {model_label}; served as {health['model']!r} ({health['architecture']}, {health['head']})")
        say(
            f"- server: {health['workers']} worker(s), queue limit {health['queue_limit']}, "
            f"timeout {health['timeout_seconds']:g} s, {url}"
        )
        width, height = Image.open(io.BytesIO(photos[0])).size
        say(
            f"- requests: {args.requests} POST /api/colorize at concurrency {args.concurrency}; "
            f"8 different {width}x{height} gray JPEGs ({sum(map(len, photos)) // len(photos) // 1024} KB each), "
            "JPEG out, vividness 0.6"
        )
        say()

        start_mem = memory_kb(pid) if pid else {}
        deadline = time.monotonic() + args.deadline
        t0 = time.perf_counter()
        results = run_load(client, photos, WARMUP, args.concurrency, 0, deadline)
        warm_mem = memory_kb(pid) if pid else {}
        results += run_load(client, photos, args.requests - WARMUP, args.concurrency, WARMUP, deadline)
        wall = time.perf_counter() - t0
        end_mem = memory_kb(pid) if pid else {}

        statuses = collections.Counter(status for status, _ in results)
        ok = [latency for status, latency in results if status == 200]
        say("## Load")
        say()
        say("| measure | value |")
        say("| --- | --- |")
        say(f"| requests sent | {len(results)} in {wall:.1f} s |")
        say(f"| throughput | {len(results) / wall:.2f} requests/s |")
        say(
            f"| latency p50 / p90 / p99 (200s) | {percentile(ok, 50):.2f} / {percentile(ok, 90):.2f} / "
            f"{percentile(ok, 99):.2f} s |"
        )
        say(f"| latency min / max | {min(ok, default=float('nan')):.2f} / {max(ok, default=float('nan')):.2f} s |")
        say(f"| status counts | {', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))} |")
        if pid:
            say(f"| server RSS after start (model loaded) | {mb(start_mem.get('VmRSS'))} |")
            say(f"| server peak RSS while starting (VmHWM) | {mb(start_mem.get('VmHWM'))} |")
            say(f"| server RSS after the first {WARMUP} requests | {mb(warm_mem.get('VmRSS'))} |")
            say(f"| server RSS after all {len(results)} requests | {mb(end_mem.get('VmRSS'))} |")
            say(f"| server peak RSS over start + run (VmHWM) | {mb(end_mem.get('VmHWM'))} |")
        say()

        bad_5xx = sum(v for k, v in statuses.items() if k >= 500 and k != 503)
        checks.append((f"every request answered ({len(results)} of {args.requests})", len(results) == args.requests))
        checks.append(
            (
                f"no 5xx other than deliberate 503s (got {bad_5xx}), no connection errors (got {statuses.get(0, 0)})",
                bad_5xx == 0 and statuses.get(0, 0) == 0,
            )
        )
        if pid and warm_mem.get("VmRSS") and end_mem.get("VmRSS"):
            growth = end_mem["VmRSS"] / warm_mem["VmRSS"] - 1
            checks.append(
                (f"RSS after the run within 20% of after {WARMUP} requests ({growth:+.1%})", abs(growth) <= 0.2)
            )

        say("## Abuse")
        say()
        say("| request | expected | got | time | server's message |")
        say("| --- | --- | --- | --- | --- |")
        abuse = [
            (
                "30 MB upload",
                413,
                lambda: client.colorize(b"\x89PNG\r\n\x1a\n" + os.urandom(30 * 1000 * 1000), "big.png"),
            ),
            ("20000x20000 PNG bomb", 422, lambda: client.colorize(png_bomb(), "bomb.png")),
            ("text file named .jpg", 415, lambda: client.colorize(b"this is not a photo\n" * 50, "holiday.jpg")),
        ]
        for label, expected, send in abuse:
            t = time.perf_counter()
            status, _, body = send()
            took = time.perf_counter() - t
            try:
                message = json.loads(body)["detail"]
            except (ValueError, KeyError, TypeError):
                message = body[:120].decode(errors="replace")
            say(f"| {label} | {expected} | {status} | {took:.2f} s | {message} |")
            checks.append((f"{label} → {expected}", status == expected))
        status, _, body = client.request("GET", "/api/health")
        alive = status == 200 and json.loads(body).get("status") == "ok"
        say(f"| GET /api/health afterwards | 200 | {status} | | {body[:80].decode(errors='replace')}... |")
        checks.append(("the server still answers /api/health", alive))
        if pid:
            after = memory_kb(pid)
            say()
            rss, peak = mb(after.get("VmRSS")), mb(after.get("VmHWM"))
            say(f"Server RSS after the abuse requests: {rss}; peak (VmHWM): {peak}.")
        say()
        say("## Checks")
        say()
        for label, passed in checks:
            say(f"- [{'x' if passed else ' '}] {label}")
        say()
    finally:
        if server is not None:
            stop_server(server)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    passed = bool(checks) and all(good for _, good in checks)
    if passed:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        print(f"some checks failed; the server's log and weights are in {folder}", file=sys.stderr)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
