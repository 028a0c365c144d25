"""An owner's webhook never reaches this host or a private network (SSRF): refused when set,
refused again before connecting when sent, and sent to the address that was checked."""

from __future__ import annotations

import datetime as dt
import http.server
import ssl
import threading
from collections.abc import Iterator
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
from ledger.model_webhooks import OwnerWebhook
from ledger.owner_webhooks import is_public
from tests.conftest import bearer

NOT_PUBLIC = [
    "127.0.0.1", "10.0.0.8", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1",
    "::ffff:10.0.0.1", "2002:a00:1::", "64:ff9b::a00:1", "ff02::1",
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
    "http://localhost:8080/hook",
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
