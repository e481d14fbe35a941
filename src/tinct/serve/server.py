"""``tinct serve``: load the model once and serve the app with uvicorn."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from tinct.serve.guards import is_loopback
from tinct.serve.settings import ServeSettings, default_torch_threads

__all__ = ["is_loopback", "run", "server_config"]

_EXTRA_HINT = "tinct serve needs the 'serve' extra: pip install 'tinct[serve]'"

#: Addresses that mean "every interface": not a name a client sends as its Host.
_ANY_ADDRESS = frozenset({"", "0.0.0.0", "::", "[::]"})


def _header_timed_protocol(header_timeout: float) -> type:
    """uvicorn's h11 protocol, closing a connection whose request line and headers have not all
    arrived ``header_timeout`` seconds after it opened (or after its previous response).

    uvicorn times only the wait between two requests (``timeout_keep_alive``) and cancels that
    timer on the first byte, so a client sending a byte now and then held a connection forever.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimedH11Protocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._waiting_after: Any = None  # the finished cycle (None: none yet) headers follow
            self._header_timer = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _headers_too_slow(self) -> None:
            if self.cycle is self._waiting_after and not self.transport.is_closing():
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is not self._waiting_after:  # the headers are in: a request started
                self._header_timer.cancel()

        def on_response_complete(self) -> None:
            super().on_response_complete()  # may start a pipelined request at once
            if self.cycle is None or self.cycle.response_complete:
                self._header_timer.cancel()
                self._waiting_after = self.cycle
                self._header_timer = self.loop.call_later(header_timeout, self._headers_too_slow)

        def connection_lost(self, exc: Exception | None) -> None:
            self._header_timer.cancel()
            super().connection_lost(exc)

    return HeaderTimedH11Protocol


def server_config(app: Any, settings: ServeSettings, host: str, port: int, log_level: str = "info") -> Any:
    """The ``uvicorn.Config`` of ``tinct serve``: h11 with a header deadline of
    ``settings.idle_timeout`` seconds, 5 s between keep-alive requests."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_keep_alive=5,
        http=_header_timed_protocol(settings.idle_timeout),
    )


def run(
    settings: ServeSettings | None = None, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info"
) -> None:
    """Serve the page and the API until interrupted.

    Args:
        settings: what the app enforces (default :class:`ServeSettings`); ``torch_threads=None``
            shares the cores out between the workers (:func:`default_torch_threads`).
        host: address to bind; loopback by default. Anything else exposes the server (which has
            no authentication) to the network, so a warning is printed, and the address joins
            ``settings.allowed_hosts`` (the names the ``Host`` header may carry).
        log_level: uvicorn's.
    """
    try:
        import uvicorn

        from tinct.serve.app import create_app
    except ImportError as err:
        raise ImportError(f"{_EXTRA_HINT} ({err})") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"--port must be in 0..65535, got {port}")
    settings = ServeSettings() if settings is None else settings
    allowed = list(settings.allowed_hosts)
    if not is_loopback(host) and host not in _ANY_ADDRESS:
        allowed.append(host.strip("[]").lower())
    settings = dataclasses.replace(
        settings,
        torch_threads=settings.torch_threads or default_torch_threads(settings.workers),
        allowed_hosts=tuple(dict.fromkeys(allowed)),
    )
    if not is_loopback(host):
        print(
            f"warning: binding {host}: anyone who can reach this machine on port {port} can use the "
            "server (it has no authentication). Use the default --host 127.0.0.1 to keep it local. "
            f"Host names it answers to: loopback ones, {', '.join(settings.allowed_hosts) or 'no other'} "
            "(add more with --allow-host).",
            file=sys.stderr,
        )
    app = create_app(settings=settings)  # loads the model now: fail before binding the port
    shown = f"[{host}]" if ":" in host else host
    print(
        f"tinct serve: model {app.state.colorizer!r}; {settings.workers} worker(s) x "
        f"{settings.torch_threads} thread(s); http://{shown}:{port}/ (API docs at /docs)",
        file=sys.stderr,
    )
    uvicorn.Server(server_config(app, settings, host, port, log_level)).run()
