"""A local certificate authority and the broker's certificate, for ``ehcp kafka start --secure``.

The CA and the broker's key pair are made once per broker home (``<home>/tls``) and kept: the
CA certificate (``ca.pem``) is what every client names in ``EHCP_KAFKA_SSL_CAFILE``. Private
keys are written with mode 0600 and never leave the folder. The broker's certificate names
``127.0.0.1`` and ``localhost``, so clients keep hostname verification on. The broker reads its
key and chain from one PEM file (``broker.pem``, Kafka's ``ssl.keystore.type=PEM``).

The same certificate is the broker's client certificate on its own controller listener (mutual
TLS there), so its subject is the principal the controller sees: :data:`BROKER_SUBJECT`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: The broker certificate's subject; as a Kafka SSL principal: ``User:CN=ehcp-local-broker``.
BROKER_CN: Final = "ehcp-local-broker"
BROKER_SUBJECT: Final = f"CN={BROKER_CN}"
#: Certificates of a development broker: long enough not to expire under a developer's feet.
VALID_DAYS: Final = 825


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Where one broker home keeps its TLS material."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        """The CA certificate clients trust (public)."""
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        """The CA's private key (0600)."""
        return self.folder / "ca.key"

    @property
    def broker_pem(self) -> Path:
        """The broker's private key and certificate chain in one PEM file (0600)."""
        return self.folder / "broker.pem"


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a file only its owner may read, created so from the start."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, 0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # Unencrypted PKCS#8: the file's mode protects it, and Kafka's PEM keystore reads PKCS#8.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def new_ca(common_name: str, *, now: dt.datetime | None = None
           ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA key and certificate (P-256, ECDSA-SHA256)."""
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _broker_cert(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate,
                 now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, BROKER_CN)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
            ]),
            critical=False,
        )
        # Server for clients; client for its own connection to the controller listener.
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                   ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def ensure_tls(folder: Path, *, now: dt.datetime | None = None) -> TlsFiles:
    """Make the CA and the broker's key and certificate in ``folder`` unless they are there.

    Returns:
        The paths of the files (kept across restarts, so clients' CA file stays valid).
    """
    files = TlsFiles(folder)
    if files.ca_cert.exists() and files.broker_pem.exists():
        return files
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    now = now or dt.datetime.now(dt.UTC)
    ca_key, ca_cert = new_ca("EHCP Exchange local development CA", now=now)
    key, cert = _broker_cert(ca_key, ca_cert, now)
    _write_private(files.ca_key, _key_pem(ca_key))
    _write_private(
        files.broker_pem,
        _key_pem(key)
        + cert.public_bytes(serialization.Encoding.PEM)
        + ca_cert.public_bytes(serialization.Encoding.PEM),
    )
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return files


def write_ca_certificate(path: Path, common_name: str) -> Path:
    """Write a new, unrelated CA certificate to ``path`` (its key is discarded).

    For checking that clients refuse a broker their CA file does not vouch for.
    """
    _, cert = new_ca(common_name)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path
