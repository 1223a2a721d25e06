"""Plain ``http://`` for httpx over the standard library's ``http.client``, one kept-alive connection.

Used by the trading-service client, whose pages of fills are large: see :class:`PlainHTTP`.
"""

from __future__ import annotations

import http.client
import urllib.request

import httpx


def proxied() -> bool:
    """A proxy set in the environment (httpx honours it only with its own transport)."""
    return any(scheme != "no" for scheme in urllib.request.getproxies())


def transport_for(base_url: str) -> httpx.BaseTransport | None:
    """:class:`PlainHTTP` for a plain ``http://`` service reached without a proxy; else None (httpx's own)."""
    if base_url.startswith("http://") and not proxied():
        return PlainHTTP()
    return None


class PlainHTTP(httpx.BaseTransport):
    """Plain ``http://`` for httpx over the standard library's ``http.client``, one kept-alive connection.

    httpx's own transport (httpcore and h11) spends about as long reading a page of 5,000 fills (1.5 MB) as
    orjson takes to decode it; ``http.client`` reads the body into one buffer, several times faster. The
    httpx client on top is unchanged: the same timeouts (connect, then read), redirects, decoding of the content
    and errors (httpx's ``ConnectError``, ``ConnectTimeout``, ``ReadTimeout``, ``ReadError``,
    ``RemoteProtocolError``), which :func:`~reports.sources.http.get_json` retries as before. A kept-alive
    connection the server has closed meanwhile is opened again once.
    """

    def __init__(self) -> None:
        self._connection: http.client.HTTPConnection | None = None
        self._target: tuple[str, int] | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` on the kept-alive connection (opened on first use) and read the whole answer."""
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"plain HTTP only, not {url.scheme!r}", request=request)
        timeouts = request.extensions.get("timeout", {})
        target = (url.host, url.port or 80)
        path = url.raw_path.decode("ascii")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.raw}
        body = request.read() or None
        for attempt in range(2):
            reused = self._connection is not None and self._target == target
            connection = self._connection if reused else self._connect(target, timeouts, request)
            assert connection is not None
            try:
                connection.request(request.method, path, body=body, headers=headers)
                response = connection.getresponse()
                content = response.read()
            except TimeoutError as exc:
                self.close()
                raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from exc
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if reused and attempt == 0:
                    continue  # the server closed the kept-alive connection while it was idle: a new one
                raise httpx.RemoteProtocolError(str(exc), request=request) from exc
            except http.client.HTTPException as exc:  # not HTTP: a bad status line, a line too long, cut short
                self.close()
                raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from exc
            except OSError as exc:
                self.close()
                raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc
            if response.will_close:
                self.close()
            return httpx.Response(
                response.status,
                headers=response.getheaders(),
                stream=httpx.ByteStream(content),
                extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason.encode("latin-1")},
                request=request,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _connect(
        self, target: tuple[str, int], timeouts: dict[str, float | None], request: httpx.Request
    ) -> http.client.HTTPConnection:
        self.close()
        connection = http.client.HTTPConnection(*target, timeout=timeouts.get("connect"))
        try:
            connection.connect()
        except TimeoutError as exc:
            connection.close()
            raise httpx.ConnectTimeout(str(exc) or "timed out", request=request) from exc
        except OSError as exc:
            connection.close()
            raise httpx.ConnectError(str(exc), request=request) from exc
        if connection.sock is not None:
            connection.sock.settimeout(timeouts.get("read"))
        self._connection, self._target = connection, target
        return connection

    def close(self) -> None:
        """Close the connection; the next request opens a new one."""
        if self._connection is not None:
            self._connection.close()
        self._connection = self._target = None
