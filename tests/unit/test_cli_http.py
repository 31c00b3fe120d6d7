"""The CLI's socket-level HTTP client against a scripted loopback server: framing, keep-alive, failures."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from slipway_cli.http import HttpClient, TransportError

Handler = Callable[[socket.socket, bytes], bool]  # answers one request; False closes the connection


def _read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return None
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


@contextmanager
def server(handler: Handler) -> Iterator[tuple[str, list[bytes], list[int]]]:
    """A loopback server; yields its URL, the requests it got and one entry per accepted connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    requests: list[bytes] = []
    connections: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(1)
            with conn:
                while (request := _read_request(conn)) is not None:
                    requests.append(request)
                    if not handler(conn, request):
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", requests, connections
    finally:
        listener.close()


def reply(body: bytes, *extra: str) -> bytes:
    headers = "".join(f"{h}\r\n" for h in extra)
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body


def test_requests_share_one_kept_alive_connection_and_carry_json_params_and_headers() -> None:
    def answer(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(reply(b'{"ok": true}'))
        return True

    with server(answer) as (url, requests, connections):
        client = HttpClient(timeout=5, headers={"x-api-key": "k"})
        first = client.request("POST", f"{url}/api/runs", json={"a": 1}, params={"top": 2})
        second = client.request("GET", f"{url}/api/runs/ca1")
        client.close()
    assert (first.status, first.json(), second.json()) == (200, {"ok": True}, {"ok": True})
    assert len(connections) == 1
    assert requests[0].startswith(b"POST /api/runs?top=2 HTTP/1.1\r\n")
    assert b"x-api-key: k\r\n" in requests[0] and b"Content-Type: application/json\r\n" in requests[0]
    assert requests[0].endswith(b'\r\n\r\n{"a": 1}')


def test_chunked_and_close_delimited_bodies_are_read_whole() -> None:
    answers = iter(
        [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
            b"HTTP/1.0 201 Created\r\n\r\nuntil the end",
        ]
    )

    def answer(conn: socket.socket, request: bytes) -> bool:
        text = next(answers)
        conn.sendall(text)
        return not text.startswith(b"HTTP/1.0")

    with server(answer) as (url, _, connections):
        client = HttpClient(timeout=5)
        chunked = client.request("GET", f"{url}/a")
        closed = client.request("GET", f"{url}/b")
        client.close()
    assert chunked.body == b"hello world"
    assert len(connections) == 1  # the chunked reply kept the connection for the next request
    assert (closed.status, closed.reason, closed.body) == (201, "Created", b"until the end")


def test_a_kept_alive_connection_the_server_dropped_is_replaced_once() -> None:
    def answer_then_hang_up(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(reply(b"fine"))
        return False  # closes without saying so, as an idle-timeout would

    with server(answer_then_hang_up) as (url, requests, connections):
        client = HttpClient(timeout=5)
        assert client.request("GET", f"{url}/one").body == b"fine"
        assert client.request("PUT", f"{url}/two", content=b"payload").body == b"fine"
        client.close()
    assert len(connections) == 2 and requests[1].endswith(b"payload")


def test_a_streamed_body_is_sent_in_pieces_and_needs_its_length() -> None:
    def answer(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(reply(b""))
        return True

    with server(answer) as (url, requests, _):
        client = HttpClient(timeout=5)
        client.request("PUT", f"{url}/block", content=iter([b"ab", b"cd"]), headers={"Content-Length": "4"})
        with pytest.raises(TransportError, match="needs a Content-Length"):
            client.request("PUT", f"{url}/block", content=iter([b"ab"]))
        client.close()
    assert requests[0].endswith(b"\r\n\r\nabcd")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"SSH-2.0-OpenSSH\r\n", "not an HTTP response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "closed after 5 of 10 body bytes"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "cut short"),
    ],
)
def test_replies_that_are_not_whole_http_responses_are_transport_errors(answer: bytes, message: str) -> None:
    def respond(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(answer)
        return False

    with server(respond) as (url, _, _):
        client = HttpClient(timeout=5)
        with pytest.raises(TransportError, match=message):
            client.request("GET", f"{url}/x")
        client.close()


def test_an_unreachable_server_is_a_transport_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound but not listening: the connection is refused
        with pytest.raises(TransportError):
            HttpClient(timeout=5).request("GET", f"http://127.0.0.1:{port}/")
    with pytest.raises(TransportError, match="not an http"):
        HttpClient(timeout=5).request("GET", "ftp://127.0.0.1/")
