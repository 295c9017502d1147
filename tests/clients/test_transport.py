"""The one transport: timing phases (TLS included, against a local TLS server with a throwaway
certificate), a total deadline that a dripping server cannot stretch, and the body cap."""

from __future__ import annotations

import contextlib
import datetime as dt
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from synthetics.clients.transport import Recorder, Transport, dropped, phases


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                try:
                    self.wfile.write(b".")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.05)  # the server under test drips on purpose
            return
        size = 5_000_000 if self.path == "/big" else 2
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client may stop reading at its cap
            self.wfile.write(b"x" * size)

    def log_message(self, format: str, *args: object) -> None:
        pass


def throwaway_certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """A plain HTTP server and a TLS one (throwaway certificate for localhost)."""
    cert, key = throwaway_certificate(tmp_path_factory.mktemp("tls"))
    plain = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    secure = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    secure.socket = context.wrap_socket(secure.socket, server_side=True)
    for server in (plain, secure):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield (
            f"http://127.0.0.1:{plain.server_address[1]}",
            f"https://localhost:{secure.server_address[1]}",
            cert,
        )
    finally:
        for server in (plain, secure):
            server.shutdown()
            server.server_close()


def test_tls_phases_are_measured_and_a_reused_connection_has_none(
    servers: tuple[str, str, Path],
) -> None:
    _, secure, cert = servers
    recorder = Recorder()
    context = ssl.create_default_context(cafile=str(cert))
    client = httpx.Client(
        transport=Transport(total_timeout=5, recorders=[recorder], verify=context)
    )
    with client:
        first = phases(client.get(f"{secure}/small"))
        second = phases(client.get(f"{secure}/small"))
    assert first is not None and second is not None
    assert not first.reused and first.tls > 0 and first.connect > 0 and first.dns >= 0
    assert first.wait > 0 and first.total >= first.tls + first.connect
    assert second.reused and second.tls == 0 and second.connect == 0
    assert [a.status for a in recorder.attempts] == [200, 200]
    assert set(first.as_dict()) == {
        "phase_dns_ms", "phase_connect_ms", "phase_tls_ms", "phase_wait_ms",
        "phase_transfer_ms", "phase_total_ms",
    }  # fmt: skip


def test_one_transport_serves_http_and_https_and_verifies_certificates_by_default(
    servers: tuple[str, str, Path],
) -> None:
    plain, secure, cert = servers
    with httpx.Client(transport=Transport(total_timeout=5)) as client:
        assert client.get(f"{plain}/small").status_code == 200
        with pytest.raises(httpx.ConnectError):
            client.get(f"{secure}/small")  # a throwaway certificate that no known CA signed
        assert client.get(f"{plain}/small").status_code == 200
    context = ssl.create_default_context(cafile=str(cert))
    with httpx.Client(transport=Transport(total_timeout=5, verify=context)) as client:
        assert client.get(f"{secure}/small").status_code == 200
        assert client.get(f"{plain}/small").status_code == 200


def test_the_shared_tls_context_follows_ssl_cert_file(
    servers: tuple[str, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, secure, cert = servers
    with (
        httpx.Client(transport=Transport(total_timeout=5)) as client,
        pytest.raises(httpx.ConnectError),
    ):
        client.get(f"{secure}/small")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the certificate is now a trusted CA's
    with httpx.Client(transport=Transport(total_timeout=5)) as client:
        assert client.get(f"{secure}/small").status_code == 200


def test_a_dripping_server_cannot_stretch_the_total_deadline(
    servers: tuple[str, str, Path],
) -> None:
    plain, _, _ = servers
    recorder = Recorder()
    client = httpx.Client(transport=Transport(total_timeout=0.5, recorders=[recorder]))
    started = time.monotonic()
    with client, pytest.raises(httpx.ReadTimeout):
        client.get(f"{plain}/drip")  # a byte every 50 ms: each read is quick, the whole is not
    assert time.monotonic() - started < 1.5
    assert recorder.attempts[0].error == "ReadTimeout"


def test_a_body_over_the_cap_is_cut_and_says_so(servers: tuple[str, str, Path]) -> None:
    plain, _, _ = servers
    client = httpx.Client(transport=Transport(total_timeout=5, body_limit=100_000))
    with client:
        response = client.get(f"{plain}/big")
    assert len(response.content) == 100_000
    assert dropped(response)


def test_a_stop_cuts_every_deadline_short(servers: tuple[str, str, Path]) -> None:
    plain, _, _ = servers
    cutoff = time.monotonic() + 0.3
    client = httpx.Client(transport=Transport(total_timeout=30, cutoff=lambda: cutoff))
    started = time.monotonic()
    with client, pytest.raises(httpx.ReadTimeout):
        client.get(f"{plain}/drip")
    assert time.monotonic() - started < 1.0
