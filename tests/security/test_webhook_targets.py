"""An owner's webhook never reaches this host or a private network (SSRF): refused when set,
refused again before connecting when sent, and sent to the address that was checked."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlmodel import Session

from app import outbound
from ledger.addresses import is_public
from ledger.model_webhooks import OwnerWebhook
from tests.conftest import bearer

NOT_PUBLIC = [
    "127.0.0.1", "10.0.0.8", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1",
    "::ffff:10.0.0.1", "2002:a00:1::", "64:ff9b::a00:1", "ff02::1", "64:ff9b:1::a00:1",
    "::7f00:1", "::a9fe:a9fe", "::ffff:0:7f00:1", "fec0::1", "::2", "5f00::1", "192.0.0.8",
    "2001:db8::1", "240.0.0.1", "198.18.0.1",
]  # fmt: skip
PUBLIC = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_loopback_private_link_local_and_embedded_addresses_are_not_public(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_internet_addresses_are_public(address: str) -> None:
    assert is_public(address)


PRIVATE_URLS = [
    "https://127.0.0.1/hook", "https://localhost:8443/hook", "https://api.localhost/hook",
    "https://10.0.0.8/hook", "https://169.254.169.254/latest/meta-data", "https://[::1]/hook",
    "https://[::ffff:192.168.0.1]/hook", "https://0.0.0.0/hook",
    "http://localhost:8080/hook", "https://localhost./hook", "https://LOCALHOST/hook",
    "https://2130706433/hook", "https://0x7f.1/hook", "https://127.1/hook",
    "https://0177.0.0.1/hook", "https://１２７.０.０.１/hook",
]  # fmt: skip


def _put(client: Any, demo: dict[str, Any], url: str) -> Any:
    return client.put(
        f"/api/v1/enterprises/{demo['enterprises']['a']}/webhook",
        json={"url": url},
        headers=bearer(demo["tokens"]["enterprise_a"]),
    )


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_a_url_naming_this_host_or_a_private_address_is_refused(
    app: Any, client: Any, demo: dict[str, Any], url: str
) -> None:
    resp = _put(client, demo, url)
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    detail = resp.get_json()["detail"]
    assert "内网" in detail or "https://" in detail
    assert " / " in detail  # Chinese, then English
    with Session(app.extensions["ledger"].engine) as s:
        assert s.get(OwnerWebhook, demo["enterprises"]["a"]) is None


def test_a_closed_installation_may_allow_private_receivers(
    app: Any, client: Any, demo: dict[str, Any]
) -> None:
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    for url in PRIVATE_URLS:
        assert _put(client, demo, url).status_code == 200, url


class _Receiver(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append((self.headers["Host"], self.path, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def _serving(tls: ssl.SSLContext | None = None) -> Iterator[tuple[int, list[Any]]]:
    """A receiver on this host (over TLS when given): its port and what it was sent."""
    seen: ClassVar[list[tuple[str, str, bytes]]] = []
    handler = type("Handler", (_Receiver,), {"seen": seen})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port, seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[tuple[int, list[Any]]]:
    with _serving() as served:
        yield served


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_sending_to_a_host_that_is_not_public_connects_to_nothing(receiver: Any, host: str) -> None:
    port, seen = receiver
    url = f"http://{host}:{port}/hook"
    with pytest.raises(outbound.RefusedTarget, match="not a public address"):
        outbound.post(url, b"{}", {}, private_ok=False)
    assert seen == []
    assert outbound.post(url, b"{}", {}, private_ok=True) == 204  # the same receiver, allowed
    assert [path for _, path, _ in seen] == ["/hook"]


def test_the_request_goes_to_the_checked_address_under_the_urls_host_name(
    receiver: Any,
) -> None:
    port, seen = receiver
    parts = urlsplit(f"http://receiver.test:{port}/hook?v=2")
    target, host, extensions = outbound.pinned(parts, "127.0.0.1")
    assert target == f"http://127.0.0.1:{port}/hook?v=2" and extensions == {}
    assert outbound.send(target, b'{"id":1}', {"Host": host}, extensions) == 204
    assert seen == [(f"receiver.test:{port}", "/hook?v=2", b'{"id":1}')]
    v6 = outbound.pinned(urlsplit("https://oa.example/h"), "2001:db8::1")
    assert v6 == ("https://[2001:db8::1]/h", "oa.example", {"sni_hostname": "oa.example"})


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_tls_to_the_checked_address_verifies_the_certificate_against_the_host_name(
    tmp_path: Path,
) -> None:
    cert_file, key_file = _certificate(tmp_path, "receiver.test")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_file, key_file)
    trusted = ssl.create_default_context(cafile=str(cert_file))
    with _serving(tls) as (port, seen):
        target, host, extensions = outbound.pinned(
            urlsplit(f"https://receiver.test:{port}/hook"), "127.0.0.1"
        )
        assert outbound.send(target, b"{}", {"Host": host}, extensions, trusted) == 204
        assert seen == [(f"receiver.test:{port}", "/hook", b"{}")]

        # The same address under another name: the certificate does not match, nothing is sent.
        target, host, extensions = outbound.pinned(
            urlsplit(f"https://elsewhere.test:{port}/hook"), "127.0.0.1"
        )
        with pytest.raises(httpx.ConnectError):
            outbound.send(target, b"{}", {"Host": host}, extensions, trusted)
        assert len(seen) == 1


def test_a_chinese_domain_is_accepted_and_sent_under_its_idna_name(
    client: Any, demo: dict[str, Any]
) -> None:
    assert _put(client, demo, "https://通知.例子.中国/hook").status_code == 200
    target, host, extensions = outbound.pinned(
        urlsplit("https://通知.例子.中国:8443/hook"), "93.184.216.34"
    )
    name = "通知.例子.中国".encode("idna").decode()
    assert name.startswith("xn--") and host == f"{name}:8443"
    assert target == "https://93.184.216.34:8443/hook" and extensions == {"sni_hostname": name}


@contextmanager
def _raw(answer: Callable[[socket.socket], None]) -> Iterator[int]:
    """A receiver on this host that reads one request and then runs ``answer``; its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            try:
                answer(conn)
            except OSError:  # the client hung up (what a deadline does)
                return
            done.wait(10)  # the connection stays open until the test is over

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        listener.close()


def test_a_receiver_answering_a_byte_at_a_time_is_abandoned_at_the_deadline(
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr(outbound, "DEADLINE", 1.0)

    def drip(conn: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\n":
            conn.sendall(bytes([byte]))
            time.sleep(0.2)  # each read comes well within the step timeout

    with _raw(drip) as port, pytest.raises(TimeoutError, match="no answer within 1 seconds"):
        outbound.post(f"http://127.0.0.1:{port}/hook", b"{}", {}, private_ok=True)


def test_only_the_status_is_read_never_the_body(monkeypatch: Any) -> None:
    monkeypatch.setattr(outbound, "TIMEOUT", 1.0)
    monkeypatch.setattr(outbound, "DEADLINE", 3.0)

    def head_only(conn: socket.socket) -> None:  # a body announced and never sent
        conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 1000000\r\n\r\n")

    with _raw(head_only) as port:
        assert outbound.post(f"http://127.0.0.1:{port}/hook", b"{}", {}, private_ok=True) == 202


def test_a_pinned_post_goes_direct_whatever_proxy_the_environment_names(
    receiver: Any, monkeypatch: Any
) -> None:
    port, seen = receiver
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    target, host, extensions = outbound.pinned(urlsplit(f"http://oa.test:{port}/h"), "127.0.0.1")
    with pytest.raises(httpx.ConnectError):  # the dead proxy: what the environment would do
        outbound.send(target, b"{}", {"Host": host}, extensions)
    assert outbound.send(target, b"{}", {"Host": host}, extensions, direct=True) == 204
    assert seen == [(f"oa.test:{port}", "/h", b"{}")]
