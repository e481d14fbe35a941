"""Guards in front of the model: upload size (while the body streams in) and file type by content."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from PIL import Image

__all__ = ["ACCEPTED_TYPES", "UploadLimitMiddleware", "sniff_image_type"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Image types accepted, identified by their first bytes (never by the file name). Anything else
#: is refused before PIL opens it, which also keeps PIL's rarer decoders (and EPS → Ghostscript)
#: out of reach of uploads.
ACCEPTED_TYPES = ("PNG", "JPEG", "WebP", "GIF", "BMP", "TIFF")


def sniff_image_type(head: bytes) -> str | None:
    """The accepted image type a file's first (≥ 16) bytes announce, or ``None``.

    The test is Pillow's own: the ``accept`` check of each accepted format's plugin on the first
    16 bytes, which is how ``PIL.Image.open(fp, formats=...)`` picks a decoder. ``Image.open``
    itself is not called here because it needs the whole header (a JPEG's can run to kilobytes):
    the server checks an upload's first bytes before copying the rest of it to disk.
    """
    Image.init()  # registers every plugin (Image.open does the same on first use)
    for name in ACCEPTED_TYPES:
        accept = Image.OPEN[name.upper()][1]
        # A plugin without an accept check takes anything: not a test of the content.
        if accept is not None and accept(head[:16]) is True:  # a str: "recognised, but unsupported here"
            return name
    return None


class _TooLarge(Exception):
    """Raised from ``receive`` inside the app once the body passes the limit."""


class UploadLimitMiddleware:
    """Refuse request bodies larger than ``max_body_bytes`` with 413, without buffering them.

    * A declared ``Content-Length`` above the limit is refused before the body is read (at once
      when the client waits for ``100 Continue``, so it never sends the body).
    * Otherwise bytes are counted as they stream in and the request fails as soon as the count
      passes the limit, whatever the app was doing with the body.
    * Before answering, up to ``drain_bytes`` of the unread body are read and discarded: closing a
      socket with unread data makes the kernel send a reset, and many clients (browsers among
      them) then lose the 413 and report a broken connection instead. Bodies larger than that are
      answered without draining and the connection is closed.
    """

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, drain_bytes: int | None = None, message: str | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.drain_bytes = drain_bytes if drain_bytes is not None else max(4 * max_body_bytes, 64 << 20)
        self.message = message or f"upload too large: the limit is {max_body_bytes / (1 << 20):.1f} MB"

    async def _drain(self, receive: Receive, already: int, declared: int | None) -> None:
        if declared is not None and declared > self.drain_bytes:
            return
        seen = already
        while seen <= self.drain_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return
            seen += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _reject(self, send: Send) -> None:
        body = json.dumps({"detail": self.message}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared: int | None
        try:
            declared = int(headers[b"content-length"])
        except (KeyError, ValueError):
            declared = None
        if declared is not None and declared > self.max_body_bytes:
            if headers.get(b"expect", b"").lower() != b"100-continue":
                await self._drain(receive, 0, declared)
            await self._reject(send)
            return

        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise _TooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    exceeded = True
                    if message.get("more_body", False):
                        await self._drain(receive, received, None)
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                # The app turned the failed read into some error response of its own (FastAPI
                # reports any exception while parsing a form as 400): answer 413 instead.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._reject(send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            # _TooLarge itself, or whatever the app made of it (e.g. a parser error).
            if not exceeded:
                raise
            if not started:
                await self._reject(send)
