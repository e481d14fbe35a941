"""A real uvicorn server on a free loopback port, in a thread, for tests that need sockets
(timeouts, headers a test client would fix up)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from tinct.serve.server import server_config


class ServerThread:
    """``tinct serve``'s own uvicorn configuration (``server_config``) serving ``app``."""

    def __init__(self, app, settings) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = server_config(app, settings, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        return sock
