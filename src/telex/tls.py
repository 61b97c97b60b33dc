"""The HTTPS (and ``turns:``) certificate: the operator's own files, or a self-signed one.

    tls.cert_file + tls.key_file set ─► those files (checked at start; reloaded on SIGHUP or change)
    else ─► data_dir/tls: a small local CA (made once) and a leaf for the server's names
            names = localhost, 127.0.0.1, ::1 + host + public_url's host + tls.hostnames
            a leaf that lacks one of the names is issued again by the same CA, so clients that
            trust ca.pem keep trusting the server

The official SDKs' ``from_connection_string`` always use HTTPS (acs-wire.md §1.1), so a fresh
server needs a certificate at once. A separate CA (rather than one self-signed leaf) keeps strict
X.509 verifiers happy (CA:TRUE only on the CA).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import model_validator

from telex.core.settings import StrictSettings

if TYPE_CHECKING:
    from telex.config import Settings

__all__ = [
    "DEFAULT_NAMES",
    "CertificateReloader",
    "TlsFiles",
    "TlsSettings",
    "certificate_names",
    "check_key_pair",
    "ensure_certificate",
    "server_names",
    "server_tls",
]

DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")

log = logging.getLogger(__name__)


class TlsSettings(StrictSettings):
    """The ``[tls]`` section."""

    # Your certificate chain and its key (PEM), e.g. from Let's Encrypt; both or neither.
    cert_file: Path | None = None
    key_file: Path | None = None
    # Names and addresses the self-signed certificate covers besides localhost, 127.0.0.1, ::1,
    # the listening host and public_url's host.
    hostnames: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _pair(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert: Path
    key: Path
    # The CA clients trust for a self-signed certificate; None for the operator's own files.
    ca: Path | None = None


def certificate_names(names: Iterable[str]) -> tuple[str, ...]:
    """The default names plus ``names``, lower-cased, without duplicates or wildcard addresses."""
    out: dict[str, None] = dict.fromkeys(DEFAULT_NAMES)
    for name in names:
        name = name.strip().strip("[]").lower()
        if name and name not in ("0.0.0.0", "::"):
            out[name] = None
    return tuple(out)


def check_key_pair(cert: Path, key: Path) -> None:
    """Raise ``OSError`` or ``ssl.SSLError`` unless ``cert`` and ``key`` load as a matching pair."""
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(str(cert), str(key))


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _covered(cert_path: Path, names: tuple[str, ...]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    have = {str(n).lower() for n in san.get_values_for_type(x509.DNSName)}
    have |= {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    return all(str(_san(n).value).lower() in have for n in names)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _new_ca(tls: Path, now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Telex local CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(tls / "ca-key.pem", _key_pem(ca_key))
    (tls / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return ca_key, ca_cert


def _load_ca(tls: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None:
    try:
        key = serialization.load_pem_private_key((tls / "ca-key.pem").read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate((tls / "ca.pem").read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    return key, cert


def ensure_certificate(data_dir: Path, names: Iterable[str] = (), now: dt.datetime | None = None) -> TlsFiles:
    """The self-signed TLS files in ``data_dir/tls`` for ``certificate_names(names)``: kept when
    the leaf covers every name, else a new leaf from the same CA (a new CA only the first time)."""
    tls = data_dir / "tls"
    files = TlsFiles(cert=tls / "cert.pem", key=tls / "key.pem", ca=tls / "ca.pem")
    wanted = certificate_names(names)
    have = files.cert.exists() and files.key.exists() and (tls / "ca.pem").exists()
    if have and _covered(files.cert, wanted):
        return files
    tls.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = now or dt.datetime.now(dt.UTC)
    ca_key, ca_cert = _load_ca(tls) or _new_ca(tls, now)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    common = wanted[-1] if len(wanted) > len(DEFAULT_NAMES) else "localhost"
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common[:64])]))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([_san(n) for n in wanted]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    # Key first, then the certificate: a reader that sees the new certificate sees its key.
    _write_private(files.key, _key_pem(leaf_key))
    files.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    return files


def server_names(settings: Settings) -> tuple[str, ...]:
    """The names clients may reach this server by: the listening host, public_url's host and
    tls.hostnames (plus the defaults, see ``certificate_names``)."""
    names = [settings.host]
    if settings.public_url:
        names.append(urlsplit(settings.public_url).hostname or "")
    return certificate_names([*names, *settings.tls.hostnames])


def server_tls(settings: Settings) -> TlsFiles:
    """The operator's files when ``tls.cert_file`` is set, else the self-signed ones."""
    tls = settings.tls
    if tls.cert_file is not None and tls.key_file is not None:
        return TlsFiles(cert=tls.cert_file, key=tls.key_file)
    return ensure_certificate(settings.data_dir, server_names(settings))


class CertificateReloader:
    """Loads the operator's certificate again into live server contexts (HTTPS, ``turns:``) when
    its files change or on request (SIGHUP). New handshakes get the new chain; connections that
    are up keep theirs. A pair that does not load (half-written, key and certificate from two
    renewals) is refused and the running one kept: the pair is tried on a scratch context first,
    since a failed load can leave a live context with the new certificate and no key."""

    def __init__(self, files: TlsFiles, contexts: list[ssl.SSLContext]) -> None:
        self.files = files
        self._contexts = contexts
        self._seen = self._signature()

    def _signature(self) -> tuple[tuple[int, int, int], ...] | None:
        try:
            stats = [os.stat(p) for p in (self.files.cert, self.files.key)]
        except OSError:
            return None
        return tuple((s.st_ino, s.st_size, s.st_mtime_ns) for s in stats)

    def check(self) -> bool:
        """Reload if either file changed since the last look; True when a new pair is live."""
        now = self._signature()
        if now is None or now == self._seen:
            return False
        self._seen = now
        return self.reload()

    def reload(self) -> bool:
        cert, key = str(self.files.cert), str(self.files.key)
        try:
            check_key_pair(self.files.cert, self.files.key)
        except (OSError, ssl.SSLError) as exc:
            log.warning("tls.cert_file %s: not reloaded, keeping the running certificate: %s", cert, exc)
            return False
        for context in self._contexts:
            context.load_cert_chain(cert, key)
        log.info("tls.cert_file %s: reloaded", cert)
        return True
