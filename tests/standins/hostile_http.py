"""A hostile OpenAI-compatible server on 127.0.0.1 for client tests; every behaviour is bounded.

Modes: `ok` (a completions answer), `drip_after_headers` (headers, then one body byte every
0.2 s), `drip_before_headers` (the status line one byte every 0.2 s), `huge_body` (a 1 GB chunked
body produced lazily, 64 KiB at a time), `huge_declared` (a 1 GB Content-Length), `reset_mid_body`
(half a body, then a TCP reset), `invalid_json`, `status:CODE[:RETRY_AFTER]` (an error reply).
`script` holds one mode per request (then `default`). For each connection the server records when
the request arrived, how many body bytes it sent and when it saw the client close.
"""

from __future__ import annotations

import json
import select
import socket
import socketserver
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

LIMIT_SECONDS = 30.0  # no connection is served longer than this, whatever the client does
HUGE = 10**9


@dataclass
class Connection:
    mode: str
    arrived: float
    body: dict[str, Any] = field(default_factory=dict)
    sent: int = 0  # body bytes written
    closed_by_client: float | None = None  # when the client was seen to close the connection
    done: threading.Event = field(default_factory=threading.Event)


def completions(request: dict[str, Any]) -> bytes:
    choices = [
        {
            "index": i,
            "text": f"simp [h{i}]",
            "logprobs": {"tokens": ["simp", f" [h{i}]"], "token_logprobs": [-0.5, -0.25]},
            "finish_reason": "stop",
        }
        for i in range(int(request.get("n", 1)))
    ]
    return json.dumps({"object": "text_completion", "choices": choices}).encode()


class HostileServer:
    """Serves one scripted behaviour per request (see module docstring)."""

    def __init__(self, default: str = "ok") -> None:
        self.default = default
        self.script: list[str] = []
        self.connections: list[Connection] = []
        self._stop = threading.Event()
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                server._serve(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.tcp.daemon_threads = True
        self.thread = threading.Thread(
            target=self.tcp.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.tcp.server_address[1]}/v1"

    def close(self) -> None:
        self._stop.set()
        self.tcp.shutdown()
        self.tcp.server_close()

    # -- one connection ---------------------------------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(5.0)
        request = _read_request(sock)
        if request is None:
            return
        mode = self.script.pop(0) if self.script else self.default
        conn = Connection(mode, time.monotonic(), request)
        self.connections.append(conn)
        try:
            self._answer(sock, conn)
        except OSError:  # the client went away: that is what most tests wait for
            conn.closed_by_client = conn.closed_by_client or time.monotonic()
        finally:
            conn.done.set()

    def _answer(self, sock: socket.socket, conn: Connection) -> None:
        end = conn.arrived + LIMIT_SECONDS
        mode = conn.mode
        if mode == "ok":
            _reply(sock, 200, completions(conn.body))
        elif mode == "invalid_json":
            _reply(sock, 200, b'{"choices": [{"index": 0, "text": "simp", ')
        elif mode.startswith("status:"):
            _, code, *retry = mode.split(":")
            extra = {"Retry-After": retry[0]} if retry else {}
            body = json.dumps({"error": {"message": f"hostile {code}"}}).encode()
            _reply(sock, int(code), body, extra)
        elif mode == "drip_after_headers":
            sock.sendall(_head(200, {"Content-Length": str(10**6)}))
            self._drip(sock, conn, b"{" + b" " * (10**6), end)
        elif mode == "drip_before_headers":
            self._drip(sock, conn, _head(200, {"Content-Length": "2"}) + b"{}", end, body=False)
        elif mode == "huge_declared":
            sock.sendall(_head(200, {"Content-Length": str(HUGE)}))
            self._wait_close(sock, conn, end)
        elif mode == "huge_body":
            sock.sendall(_head(200, {"Transfer-Encoding": "chunked"}))
            chunk = b"[" + b"0," * (2**15 - 1) + b"0"  # 64 KiB of JSON-ish filler
            frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
            while conn.sent < HUGE and time.monotonic() < end and not self._stop.is_set():
                sock.sendall(frame)  # raises once the client has closed
                conn.sent += len(chunk)
        elif mode == "reset_mid_body":
            body = completions(conn.body)
            sock.sendall(_head(200, {"Content-Length": str(len(body))}) + body[: len(body) // 2])
            conn.sent = len(body) // 2
            # SO_LINGER 0: close() sends a TCP reset instead of an orderly FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        else:
            raise ValueError(f"unknown mode {mode}")

    def _drip(
        self, sock: socket.socket, conn: Connection, data: bytes, end: float, body: bool = True
    ) -> None:
        for i in range(len(data)):
            if time.monotonic() > end or self._stop.is_set():
                return
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable and not sock.recv(1):  # EOF: the client closed its side
                conn.closed_by_client = time.monotonic()
                return
            sock.sendall(data[i : i + 1])
            conn.sent += int(body)

    def _wait_close(self, sock: socket.socket, conn: Connection, end: float) -> None:
        while time.monotonic() < end and not self._stop.is_set():
            readable, _, _ = select.select([sock], [], [], 0.1)
            if readable and not sock.recv(1):
                conn.closed_by_client = time.monotonic()
                return


def _read_request(sock: socket.socket) -> dict[str, Any] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        rest += chunk
    try:
        return dict(json.loads(rest[:length] or b"{}"))
    except ValueError:
        return {}


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} X", "Content-Type: application/json", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _reply(
    sock: socket.socket, status: int, body: bytes, extra: dict[str, str] | None = None
) -> None:
    sock.sendall(_head(status, {"Content-Length": str(len(body)), **(extra or {})}) + body)
