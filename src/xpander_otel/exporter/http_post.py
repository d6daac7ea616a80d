"""Report POSTs over the standard library's ``http.client``: one kept-alive connection per sender and origin.

On a loopback connection httpx (through httpcore and h11) spent 210-250 µs of CPU per report POST,
``http.client`` 70-90 µs; a sender makes one POST per report, in the application's process. The delivery
takes this path only for a direct connection (no proxy, no transport of its own), and httpx still decides
it: the SSL context is the httpx client's, the headers are those the client builds for
``Backend.report_external_task``, and an error body is decoded by ``httpx.Response``.
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading
from typing import Any, NamedTuple

import httpcore
import httpx

# Errors of a kept-alive connection that the server closed between two reports (its idle timeout).
_DROPPED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int


class DirectTarget(NamedTuple):
    """Where one agent's reports go on this path: the origin, the request target and the header lines."""

    origin: Origin
    path: str
    headers: list[tuple[bytes, bytes]]  # as httpx would send them, without Content-Length


def direct_target(client: httpx.Client, request: httpx.Request) -> DirectTarget | None:
    """This path for ``request`` when ``client`` would send it straight to the server, else None (httpx sends).

    Straight means: the client's own transport (no proxy mounted for the URL, no transport given) over a
    plain connection pool whose SSL context can be read.
    """
    url = request.url
    transport = getattr(client, "_transport", None)
    pick = getattr(client, "_transport_for_url", None)
    pool = getattr(transport, "_pool", None)
    if (type(transport) is not httpx.HTTPTransport or not callable(pick) or pick(url) is not transport
            or type(pool) is not httpcore.ConnectionPool or url.scheme not in ("http", "https")):
        return None
    if url.scheme == "https" and not isinstance(getattr(pool, "_ssl_context", None), ssl.SSLContext):
        return None
    port = url.port or (443 if url.scheme == "https" else 80)
    headers = [(name, value) for name, value in request.headers.raw if name.lower() != b"content-length"]
    return DirectTarget(Origin(url.scheme, url.host, port), url.raw_path.decode("ascii"), headers)


class KeptConnections:
    """Per sender thread, one kept-alive connection per origin. ``post`` raises what the connection raises
    (``OSError``, ``http.client.HTTPException``) after closing it."""

    def __init__(self, client: httpx.Client, connect_timeout_s: float, read_timeout_s: float) -> None:
        pool = getattr(getattr(client, "_transport", None), "_pool", None)
        self._ssl_context: ssl.SSLContext | None = getattr(pool, "_ssl_context", None)
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._mine = threading.local()

    def post(self, target: DirectTarget, body: bytes) -> tuple[int, str | None, str]:
        """``(status, Retry-After, error text)``; the error text is empty for a 2xx."""
        connection, reused = self._connection(target.origin)
        try:
            try:
                return _exchange(connection, target, body)
            except _DROPPED:
                if not reused:
                    raise
                # Closed by the server while idle: once more on a new connection (a report sent twice is
                # taken as an update of the same task).
                connection.close()
                return _exchange(connection, target, body)
        except BaseException:
            connection.close()
            raise

    def close_mine(self) -> None:
        """Close this thread's connections (a sender that stops)."""
        for connection in getattr(self._mine, "connections", {}).values():
            connection.close()
        self._mine.connections = {}

    def _connection(self, origin: Origin) -> tuple[http.client.HTTPConnection, bool]:
        connections: dict[Origin, http.client.HTTPConnection] | None = getattr(self._mine, "connections", None)
        if connections is None:
            connections = self._mine.connections = {}
        connection = connections.get(origin)
        if connection is None:
            if origin.scheme == "https":
                connection = _TLSConnection(origin.host, origin.port, context=self._ssl_context)
            else:
                connection = _Connection(origin.host, origin.port)
            connection.timeouts = (self._connect_timeout_s, self._read_timeout_s)
            connections[origin] = connection
        if connection.sock is None:
            return connection, False
        if _closed_by_peer(connection.sock):
            connection.close()  # the next request opens a new one
            return connection, False
        return connection, True


def _exchange(connection: http.client.HTTPConnection, target: DirectTarget, body: bytes) -> tuple[int, str | None, str]:
    connection.putrequest("POST", target.path, skip_host=True, skip_accept_encoding=True)
    for name, value in target.headers:
        connection.putheader(name, value)
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)  # headers and body in one send
    response = connection.getresponse()
    payload = response.read()  # read whole: the connection is then free for the next report
    if 200 <= response.status < 300:
        return response.status, None, ""
    # Rare: decoded the way httpx decodes it (the request offered httpx's encodings).
    text = httpx.Response(response.status, headers=response.getheaders(), content=payload).text
    return response.status, response.getheader("Retry-After"), text[:300]


def _closed_by_peer(sock: Any) -> bool:
    """An idle kept-alive socket that is readable was closed by the server (or sent what we never asked)."""
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


class _Timeouts:
    """Connect within the connect timeout, then read and write within the request timeout."""

    timeouts: tuple[float, float]
    timeout: float | None
    sock: Any

    def connect(self) -> None:
        self.timeout = self.timeouts[0]
        super().connect()  # type: ignore[misc]
        self.sock.settimeout(self.timeouts[1])


class _Connection(_Timeouts, http.client.HTTPConnection):
    pass


class _TLSConnection(_Timeouts, http.client.HTTPSConnection):
    pass
