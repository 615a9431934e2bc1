"""A loopback TCP proxy in front of PostgreSQL that can lose the reply to a COMMIT.

Why: the hardest fault for a client is the ambiguous commit. The server committed,
the connection broke before the client heard so, and the client cannot tell that
from a commit that never happened. A proxy that reads the server's messages
(PostgreSQL's wire protocol: a type byte, a 4-byte length, the body) can drop the
connection exactly when the ``CommandComplete`` of a ``COMMIT`` comes back: a real
socket closed at a real moment, no mock in the library.

Use: ``with CommitReplyDropper(server) as proxy:`` point the application at
``proxy.port`` and call ``proxy.drop_next_commit_reply()`` before the command.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


class CommitReplyDropper:
    """Listens on 127.0.0.1 (an ephemeral ``port``) and relays to ``host:port``."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._armed = threading.Event()
        self._refuse_after = False
        self._refusing = threading.Event()
        self.dropped = 0
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_next_commit_reply(self, *, then_refuse: bool = False) -> None:
        """Break the connection that next receives the server's ``COMMIT`` reply
        (after the server has committed), instead of passing the reply on;
        ``then_refuse``: and refuse every new connection until :meth:`allow` (the
        server stays away after committing)."""
        self._refuse_after = then_refuse
        self._armed.set()

    def _cut_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _close(sock)

    def allow(self) -> None:
        """Accept connections again (the end of ``then_refuse``)."""
        self._refusing.clear()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                _close(sock)

    def __enter__(self) -> CommitReplyDropper:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- relaying ----------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._refusing.is_set():
                _close(client)
                continue
            try:
                server = socket.create_connection(self._target)
            except OSError:
                _close(client)
                continue
            for sock in (client, server):
                # The server's replies are relayed message by message: without this,
                # Nagle's algorithm meets the client's delayed ACK and every round
                # trip waits 40 ms.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._to_server, args=(client, server), daemon=True).start()
            threading.Thread(target=self._to_client, args=(server, client), daemon=True).start()

    def _to_server(self, client: socket.socket, server: socket.socket) -> None:
        """Client to server, answering an SSL or GSS encryption request with "no" so
        that the server's side stays readable."""
        try:
            while True:
                head = _read(client, 8)
                length, code = struct.unpack("!ii", head)
                if code in (SSL_REQUEST, GSSENC_REQUEST) and length == 8:
                    client.sendall(b"N")
                    continue
                server.sendall(head + _read(client, length - 8))
                break
            while chunk := client.recv(65536):
                server.sendall(chunk)
        except OSError:
            return
        finally:
            _close(server)
            _close(client)

    def _to_client(self, server: socket.socket, client: socket.socket) -> None:
        """Server to client, message by message; drops the connection on the armed
        ``COMMIT`` reply."""
        try:
            while True:
                head = _read(server, 5)
                kind, length = head[:1], struct.unpack("!i", head[1:])[0]
                body = _read(server, length - 4)
                if kind == b"C" and body.startswith(b"COMMIT\x00") and self._armed.is_set():
                    if self._refuse_after:  # the server goes away: every connection
                        self._refusing.set()
                        self._cut_all()
                    self._armed.clear()
                    self.dropped += 1
                    return  # the server has committed; the client never hears of it
                client.sendall(head + body)
        except OSError:
            return
        finally:
            _close(server)
            _close(client)


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


__all__ = ["CommitReplyDropper"]
