"""Guards against other web sites and slow clients, in front of the app (pure ASGI, no FastAPI).

* :class:`HostOriginMiddleware`: a local server is reachable by every web page its user opens.
  A page can make the browser post a form to ``http://127.0.0.1:8000`` (the ``Origin`` header
  names the page's site), or rebind its own domain name to 127.0.0.1 and read the answers (the
  ``Host`` header then names that domain). So, as Jupyter does, the ``Host`` must be a loopback
  name or one the user allowed, and a request that changes something must come from the
  server's own page: its ``Origin`` (when sent) is the server itself, and it is not marked
  ``Sec-Fetch-Site: cross-site``. Scripts and curl send no ``Origin`` and pass.
* :class:`BodyTimeoutMiddleware`: a request body must arrive within ``body_timeout`` seconds,
  with no pause longer than ``idle_timeout``; else 408 and the connection is closed. (Headers
  are timed by the server's protocol, see ``tinct.serve.server``.)

Refusals are the app's JSON ``{"detail": "<one line>"}``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["BodyTimeoutMiddleware", "HostOriginMiddleware", "is_loopback", "json_error"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Methods that only read: a cross-site page can trigger them, but cannot read the answer
#: (the server sends no CORS headers) and they change nothing.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_loopback(host: str) -> bool:
    """True for names and addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    host = host.strip().strip("[]").lower().rstrip(".")
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_host(value: str) -> tuple[str, str | None]:
    """``"Example.com:8000"`` → ``("example.com", "8000")``; ``"[::1]:80"`` → ``("::1", "80")``."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else None
    if value.count(":") == 1:
        host, port = value.split(":")
        return host, port
    return value, None


async def json_error(send: Send, status: int, message: str, close: bool = False) -> None:
    """Answer ``{"detail": message}`` with ``status`` (and close the connection if asked)."""
    body = json.dumps({"detail": " ".join(message.split())}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class HostOriginMiddleware:
    """403 for a ``Host`` that is neither loopback nor in ``allowed_hosts`` (``"*"``: any), and for
    a non-reading request from another origin (``Origin`` not this server, ``"null"``, or
    ``Sec-Fetch-Site: cross-site``)."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = frozenset(h.strip().lower().strip("[]") for h in allowed_hosts)

    def host_allowed(self, host: str) -> bool:
        return "*" in self.allowed or host in self.allowed or is_loopback(host)

    def refusal(self, scope: Scope) -> str | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        host_header = headers.get("host", "")
        host, port = _split_host(host_header)
        if not host:
            return "missing Host header"
        if not self.host_allowed(host):
            return (
                f"Host {host!r} is not allowed: this server answers to loopback names only "
                f"(start it with --allow-host {host} to accept this name)"
            )
        if scope.get("method", "GET") in _SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None:
            parts = urlsplit(origin)
            default = {"http": "80", "https": "443"}.get(parts.scheme)
            try:
                theirs = ((parts.hostname or "").lower(), str(parts.port) if parts.port else default)
            except ValueError:  # a port that is not a number
                theirs = ("", None)
            ours = (host, port or {"http": "80", "https": "443"}.get(scope.get("scheme", "http")))
            if origin == "null" or theirs != ours:
                return f"Origin {origin!r} is not this server: requests from other web pages are refused"
        elif headers.get("sec-fetch-site", "").lower() == "cross-site":
            return "a request from another web site (Sec-Fetch-Site: cross-site) is refused"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (reason := self.refusal(scope)) is not None:
            await json_error(send, 403, reason, close=True)
            return
        await self.app(scope, receive, send)


class _TimedOut(Exception):
    """Raised from ``receive`` inside the app once the body is too slow."""


class BodyTimeoutMiddleware:
    """408 (and a closed connection) for a request body that takes longer than ``body_timeout``
    seconds in all, or pauses longer than ``idle_timeout`` seconds."""

    def __init__(self, app: ASGIApp, body_timeout: float, idle_timeout: float) -> None:
        self.app = app
        self.body_timeout = body_timeout
        self.idle_timeout = idle_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = time.monotonic() + self.body_timeout
        timed_out = False
        started = False
        body_done = False

        async def timed_receive() -> Message:
            nonlocal timed_out, body_done
            if timed_out:
                raise _TimedOut
            if body_done:  # after the body only a disconnect can come: no limit on waiting for it
                return await receive()
            wait = min(self.idle_timeout, deadline - time.monotonic())
            try:
                message = await asyncio.wait_for(receive(), timeout=max(wait, 0.0))
            except TimeoutError:
                timed_out = True
                raise _TimedOut from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if timed_out:
                return  # the app's own answer to the failed read (e.g. a 400): 408 is sent instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except Exception:
            if not timed_out:
                raise
        if timed_out and not started:
            reason = f"request body too slow: more than {self.body_timeout:g} s in all or {self.idle_timeout:g} s idle"
            await json_error(send, 408, reason, close=True)
