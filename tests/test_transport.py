"""The kept-alive ``http.client`` transport under httpx, against a real HTTP/1.1 server on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from reports.sources.transport import PlainHTTP, transport_for


@dataclass
class Server:
    """What the server saw and how it misbehaves: ``drop`` closes the connection after that many answers,
    unannounced; ``hang_up`` closes the next connections without answering; ``slow`` waits before answering."""

    url: str = ""
    peers: list[int] = field(default_factory=list)  # the client's port of each request: one port, one connection
    encodings: list[str] = field(default_factory=list)
    drop: int = 0
    hang_up: int = 0
    slow: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless said otherwise
    state: Server

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        state = self.state
        if state.hang_up:
            state.hang_up -= 1
            self.close_connection = True
            return
        state.peers.append(self.client_address[1])
        state.encodings.append(self.headers.get("Accept-Encoding", ""))
        if state.slow:
            time.sleep(state.slow)
        body = json.dumps({"path": self.path, "n": len(state.peers)}).encode()
        encoding = self.path.rsplit("/", 1)[-1]
        if encoding == "gzip":
            body = gzip.compress(body)
        elif encoding == "deflate":
            body = zlib.compress(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if encoding in ("gzip", "deflate"):
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a read timeout)
            self.close_connection = True
            return
        if state.drop and len(state.peers) == state.drop:
            self.close_connection = True  # no "Connection: close": the client learns it on its next request


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Handler,), {"state": state}))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def client(timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(transport=PlainHTTP(), timeout=httpx.Timeout(timeout, connect=2.0))


def test_one_connection_is_kept_alive_across_requests(server: Server):
    with client() as http:
        answers = [http.get(f"{server.url}/page/{k}").json() for k in range(5)]
    assert [a["path"] for a in answers] == [f"/page/{k}" for k in range(5)]
    assert len(server.peers) == 5 and len(set(server.peers)) == 1


def test_a_connection_the_server_dropped_while_idle_is_opened_again_once(server: Server):
    server.drop = 2
    with client() as http:
        first, second = http.get(f"{server.url}/a"), http.get(f"{server.url}/b")
        time.sleep(0.1)  # the server has closed it by now
        third = http.get(f"{server.url}/c")
        fourth = http.get(f"{server.url}/d")
    assert [r.json()["path"] for r in (first, second, third, fourth)] == ["/a", "/b", "/c", "/d"]
    assert server.peers[0] == server.peers[1] != server.peers[2] == server.peers[3]


def test_a_new_connection_closed_without_an_answer_is_an_error_for_the_caller_to_retry(server: Server):
    server.hang_up = 1
    with client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(f"{server.url}/x")
        assert http.get(f"{server.url}/y").json()["path"] == "/y"  # the next request opens a new connection


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "identity"])
def test_content_is_decoded_as_httpx_does(server: Server, encoding: str):
    with client() as http:
        response = http.get(f"{server.url}/enc/{encoding}")
    assert response.json() == {"path": f"/enc/{encoding}", "n": 1}
    assert "gzip" in server.encodings[0]  # httpx's own Accept-Encoding goes out as it is


def test_a_slow_answer_is_a_read_timeout_and_a_closed_port_a_connect_error(server: Server):
    server.slow = 1.0
    with client(timeout=0.2) as http, pytest.raises(httpx.ReadTimeout):
        http.get(f"{server.url}/slow")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with client() as http, pytest.raises(httpx.ConnectError):
        http.get(dead)


def test_plain_http_only_and_not_through_a_proxy(monkeypatch: pytest.MonkeyPatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(transport_for("http://trading:8080"), PlainHTTP)
    assert transport_for("https://trading.example") is None
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    assert transport_for("http://trading:8080") is None
    with httpx.Client(transport=PlainHTTP()) as http, pytest.raises(httpx.UnsupportedProtocol):
        http.get("https://127.0.0.1:1/")
