"""uvicorn's httptools protocol with a bound on the request head (request line and headers).

httptools (llhttp) reads a header of any size: a client sending one of many megabytes held the
process that must answer every platform within its 3-5 s deadline, and two such requests held
/healthz. uvicorn bounds the head only for h11 (``h11_max_incomplete_event_size``), a slower
parser on this hot path. Here the bytes of an unfinished head are counted as they arrive, and the
headers as they are parsed: past ``MAX_HEAD_BYTES`` or ``MAX_HEADERS`` the client gets a 431
(Request Header Fields Too Large, RFC 6585) and the connection is closed, before the application
is called.
"""

from __future__ import annotations

from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

# Far above any platform's callback (a few hundred bytes of headers) or browser request.
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100


class _HeadTooLarge(Exception):
    pass


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` refusing a request head over ``MAX_HEAD_BYTES`` or ``MAX_HEADERS``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # between requests and inside a head: arriving bytes count
        self._head_bytes = 0  # raw bytes received since the head began (at least)
        self._parsed_bytes = 0  # bytes of the URL and headers the parser has handed over
        self._header_count = 0
        self._refusing = False

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still no end of head in sight: refuse now rather than buffer the rest of it.
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            self._refuse_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed_bytes = self._header_count = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head, self._head_bytes = True, 0
        super().on_message_complete()

    def _count(self, size: int) -> None:
        self._parsed_bytes += size
        if self._parsed_bytes > MAX_HEAD_BYTES or self._header_count > MAX_HEADERS:
            # Raised inside the parser, this stops it; uvicorn then answers through
            # send_400_response, which sends the 431 instead.
            self._refusing = True
            raise _HeadTooLarge

    def send_400_response(self, msg: str) -> None:
        if self._refusing:
            self._refuse_head()
        else:
            super().send_400_response(msg)

    def _refuse_head(self) -> None:
        self._refusing = True
        msg = b"request head too large"
        self.logger.warning("request head over %d bytes or %d headers refused", MAX_HEAD_BYTES, MAX_HEADERS)
        content = [STATUS_LINE[431]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.append(b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n")
        content.extend([b"content-length: ", str(len(msg)).encode(), b"\r\n\r\n", msg])
        self.transport.write(b"".join(content))
        self.transport.close()


def http_config(app: Any, **kwargs: Any) -> uvicorn.Config:
    """The uvicorn configuration every kefu HTTP process (and the tests' server) runs with."""
    # No proxy-headers middleware: nothing here reads the client address it would rewrite, and
    # it wrapped every callback in one more ASGI layer.
    return uvicorn.Config(
        app, http=BoundedHttpToolsProtocol, log_level="warning", access_log=False, proxy_headers=False, **kwargs
    )
