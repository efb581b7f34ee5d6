"""A throw-away PKI for TLS tests against real brokers on 127.0.0.1.

    certs = make_certificates(tmp_path)
    broker_config(certfile=certs.server_cert, keyfile=certs.server_key, cafile=certs.ca)
    MessageWriter(..., tls={"ca_certs": certs.ca, "certfile": certs.client_cert,
                            "keyfile": certs.client_key})

``other_ca`` is an unrelated CA, for "wrong CA" failure tests.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Certificates", "make_certificates"]

_Pair = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


@dataclass(frozen=True)
class Certificates:
    """Paths of the PEM files of a test PKI."""

    ca: Path
    other_ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_context(self, require_client_cert: bool = False) -> ssl.SSLContext:
        """A server-side SSL context with the server leaf (and client checks if asked)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.server_cert, self.server_key)
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(self.ca)
        return ctx


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _builder(
    subject: str, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
    )


def _ca(cn: str) -> _Pair:
    key = ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        _builder(cn, _name(cn), key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(cn: str, ca: _Pair, usage: x509.ObjectIdentifier) -> _Pair:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(cn, ca[0].subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca[1].public_key()), critical=False
        )
    )
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
    return builder.sign(ca[1], hashes.SHA256()), key


def make_certificates(folder: Path, client_cn: str = "client") -> Certificates:
    """Write a CA, a server leaf for 127.0.0.1/localhost, a client leaf and another CA."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = _ca("sinetstream test CA")
    other = _ca("unrelated test CA")
    server = _leaf("127.0.0.1", ca, ExtendedKeyUsageOID.SERVER_AUTH)
    client = _leaf(client_cn, ca, ExtendedKeyUsageOID.CLIENT_AUTH)
    certs = Certificates(
        ca=folder / "ca.pem",
        other_ca=folder / "other-ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
    )
    _write(ca, certs.ca)
    _write(other, certs.other_ca)
    _write(server, certs.server_cert, certs.server_key)
    _write(client, certs.client_cert, certs.client_key)
    return certs


def _write(pair: _Pair, cert_path: Path, key_path: Path | None = None) -> None:
    pem = serialization.Encoding.PEM
    cert_path.write_bytes(pair[0].public_bytes(pem))
    if key_path is not None:
        key_path.write_bytes(
            pair[1].private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
