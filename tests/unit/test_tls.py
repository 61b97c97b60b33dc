"""The certificate (tls.py): names in the self-signed one, the same CA across new names, and
reloading the operator's own files into live contexts."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from telex.tls import CertificateReloader, TlsFiles, certificate_names, ensure_certificate, server_tls
from tests.conftest import make_settings


def _names(cert_path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)) | {
        str(a) for a in san.get_values_for_type(x509.IPAddress)
    }


def test_the_self_signed_certificate_covers_the_servers_names(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        host="0.0.0.0",
        public_url="https://Telex.Example:9443",
        tls={"hostnames": ["telex.lan", "192.0.2.7"]},
    )
    files = server_tls(settings)
    assert files.ca == settings.data_dir / "tls" / "ca.pem"
    assert _names(files.cert) == {"localhost", "127.0.0.1", "::1", "telex.example", "telex.lan", "192.0.2.7"}
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600


def test_a_new_name_reissues_the_leaf_from_the_same_ca(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path)
    assert first.ca is not None
    ca_before = first.ca.read_bytes()
    leaf_before = first.cert.read_bytes()
    assert ensure_certificate(tmp_path, ["localhost"]).cert.read_bytes() == leaf_before  # nothing new
    again = ensure_certificate(tmp_path, ["telex.example"])
    assert again.cert.read_bytes() != leaf_before
    assert first.ca.read_bytes() == ca_before  # clients that trust ca.pem still trust the server
    context = ssl.create_default_context(cafile=str(first.ca))
    ca = x509.load_pem_x509_certificate(ca_before)
    leaf = x509.load_pem_x509_certificate(again.cert.read_bytes())
    leaf.verify_directly_issued_by(ca)
    assert "telex.example" in _names(again.cert)
    assert context.cert_store_stats()["x509_ca"] == 1


def test_names_are_deduplicated_and_wildcards_dropped() -> None:
    assert certificate_names(["0.0.0.0", "::", "LOCALHOST", "[2001:db8::1]", "a.example", "a.example"]) == (
        "localhost", "127.0.0.1", "::1", "2001:db8::1", "a.example",
    )  # fmt: skip


def _pair(directory: Path, name: str) -> TlsFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(cert=directory / "cert.pem", key=directory / "key.pem")
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


def _served_name(context: ssl.SSLContext) -> str:
    """The subject a client sees from ``context`` (an in-memory handshake)."""
    client_ctx = ssl.create_default_context()
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out)
    server = context.wrap_bio(s_in, s_out, server_side=True)
    done = {client: False, server: False}
    for _ in range(10):
        for side in (client, server):
            if not done[side]:
                with contextlib.suppress(ssl.SSLWantReadError):
                    side.do_handshake()
                    done[side] = True
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            break
    der = client.getpeercert(binary_form=True)
    assert der is not None
    cert = x509.load_der_x509_certificate(der)
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_a_changed_pair_is_loaded_into_every_live_context(tmp_path: Path) -> None:
    files = _pair(tmp_path / "live", "old.example")
    contexts = [ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) for _ in range(2)]
    for c in contexts:
        c.load_cert_chain(files.cert, files.key)
    reloader = CertificateReloader(files, contexts)
    assert reloader.check() is False  # nothing changed
    renewed = _pair(tmp_path / "renewed", "new.example")
    # A renewal writes new files (certbot replaces symlinks; others rename into place).
    os.replace(renewed.key, files.key)
    os.replace(renewed.cert, files.cert)
    assert reloader.check() is True
    assert [_served_name(c) for c in contexts] == ["new.example", "new.example"]
    assert reloader.check() is False


def test_a_pair_that_does_not_match_is_refused_and_the_running_one_kept(tmp_path: Path) -> None:
    files = _pair(tmp_path / "live", "old.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key)
    reloader = CertificateReloader(files, [context])
    other = _pair(tmp_path / "other", "new.example")
    shutil.copy(other.cert, files.cert)  # the certificate of one renewal, the key of another
    assert reloader.reload() is False
    assert _served_name(context) == "old.example"
    files.cert.write_text("half-written")
    assert reloader.check() is False
    assert _served_name(context) == "old.example"


@pytest.mark.parametrize("missing", ["cert", "key"])
def test_missing_files_are_not_a_reload(tmp_path: Path, missing: str) -> None:
    files = _pair(tmp_path, "a.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key)
    reloader = CertificateReloader(files, [context])
    getattr(files, missing).unlink()
    assert reloader.check() is False
    assert _served_name(context) == "a.example"
