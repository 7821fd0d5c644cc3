"""A small threaded HTTP server on 127.0.0.1 for download tests.

It serves bytes from a dict, honours ``Range: bytes=a-`` / ``bytes=a-b`` requests with 206
answers, counts requests and records the Range headers it saw, and can misbehave on purpose:
fail the first requests with a status, cut the connection after some bytes, or stall.
"""

from __future__ import annotations

import http.server
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Behaviour:
    """How the server misbehaves; the ``*_first`` faults apply to the first requests only."""

    fail_first: int = 0  # this many requests answer ``fail_status`` before any succeeds
    fail_status: int = 500
    cut_after: int | None = None  # first request: send this many body bytes, then hang up
    stall_first: float = 0.0  # first request: wait this long before answering
    ranges: bool = True  # False: ignore Range headers and always send the whole file


@dataclass
class Log:
    """What the server was asked, shared with the handler threads."""

    requests: int = 0
    range_headers: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, range_header: str | None) -> int:
        """Count one request and return its index (0 for the first)."""
        with self.lock:
            self.range_headers.append(range_header)
            self.requests += 1
            return self.requests - 1


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format, *args):  # noqa: A002 - silence the default stderr log
        pass

    def do_GET(self):  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        srv = self.server
        index = srv.log.record(self.headers.get("Range"))
        behaviour = srv.behaviour
        if index == 0 and behaviour.stall_first:
            time.sleep(behaviour.stall_first)
        if index < behaviour.fail_first:
            self.send_error(behaviour.fail_status)
            return
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = self._range_start() if behaviour.ranges else None
        if start is not None and start >= len(body):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._send_body(body, start, cut=behaviour.cut_after if index == 0 else None)

    def _range_start(self) -> int | None:
        """The start of a ``bytes=a-`` or ``bytes=a-b`` range (the end is ignored), or None."""
        header = self.headers.get("Range", "")
        if not header.startswith("bytes="):
            return None
        start = header.removeprefix("bytes=").partition("-")[0]
        return int(start) if start.isdigit() else None

    def _send_body(self, body: bytes, start: int | None, cut: int | None) -> None:
        """Send the body (from ``start`` with a 206 when given), hanging up after ``cut`` bytes."""
        payload = body if start is None else body[start:]
        self.send_response(200 if start is None else 206)
        if start is not None:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload if cut is None else payload[:cut])
        self.close_connection = True


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, files: dict[str, bytes], behaviour: Behaviour):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = files
        self.behaviour = behaviour
        self.log = Log()


class FileServer:
    """Context manager running the server in a thread; ``url(path)`` addresses a file."""

    def __init__(self, files: dict[str, bytes], behaviour: Behaviour | None = None):
        self._server = _Server(dict(files), behaviour or Behaviour())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def log(self) -> Log:
        return self._server.log

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
