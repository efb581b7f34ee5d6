"""Test support: Mosquitto processes, generated certificates, plugin params.

One session broker serves five listeners (plain, password + ACL, TLS
server-only, TLS with client certificates, websockets); tests that restart
their broker start their own. Mosquitto started as root drops to the user
``mosquitto``, so every generated file is world-readable (644 / 755).
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"

USERS = {"alice": "alice-secret", "bob": "bob-secret"}
# alice may do anything under test/; bob may only read test/ and write bob/.
ACL = """\
user alice
topic readwrite test/#
topic readwrite sinetstream/#

user bob
topic read test/#
topic readwrite bob/#
"""


def free_port() -> int:
    """A TCP port nobody listens on right now (on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _world_readable(path: Path) -> None:
    path.chmod(0o755)
    for p in path.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)


# -- certificates -------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    cn: str,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    usage: x509.ObjectIdentifier,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca[0].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
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


@dataclass
class Certs:
    """Paths of the generated PEM files."""

    ca: Path
    other_ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certs(folder: Path) -> Certs:
    """A CA, a server leaf for 127.0.0.1, a client leaf (CN certuser), and an unrelated CA."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = _ca("sinetstream test CA")
    other = _ca("some other CA")
    server = _leaf("127.0.0.1", ca, ExtendedKeyUsageOID.SERVER_AUTH)
    client = _leaf("certuser", ca, ExtendedKeyUsageOID.CLIENT_AUTH)
    certs = Certs(
        ca=folder / "ca.pem",
        other_ca=folder / "other-ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
    )
    pem = serialization.Encoding.PEM
    certs.ca.write_bytes(ca[0].public_bytes(pem))
    certs.other_ca.write_bytes(other[0].public_bytes(pem))
    certs.server_cert.write_bytes(server[0].public_bytes(pem))
    _write_key(server[1], certs.server_key)
    certs.client_cert.write_bytes(client[0].public_bytes(pem))
    _write_key(client[1], certs.client_key)
    return certs


# -- Mosquitto ------------------------------------------------------------------


@dataclass
class Mosquitto:
    """One Mosquitto process started from a generated config; stopped by PID."""

    folder: Path
    config: str
    ports: dict[str, int]
    certs: Certs | None = None
    #: Folders the broker writes to (persistence), made writable for its user.
    writable: tuple[Path, ...] = ()
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def conf_path(self) -> Path:
        return self.folder / "mosquitto.conf"

    def broker(self, listener: str = "plain") -> str:
        """``127.0.0.1:<port>`` of a listener."""
        return f"127.0.0.1:{self.ports[listener]}"

    def start(self) -> None:
        self.conf_path.write_text(self.config)
        _world_readable(self.folder)
        for path in self.writable:
            path.chmod(0o777)
        log = (self.folder / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf_path)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        port = next(iter(self.ports.values()))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"mosquitto did not start: {self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM (Mosquitto saves its persistence file) and wait."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def password_file(folder: Path) -> Path:
    path = folder / "passwd"
    for i, (user, pw) in enumerate(USERS.items()):
        flags = ["-c"] if i == 0 else []
        subprocess.run(
            [MOSQUITTO_PASSWD, *flags, "-b", str(path), user, pw],
            check=True,
            capture_output=True,
        )
    return path


def spi_params(broker: str, **extra: Any) -> dict[str, Any]:
    """The params dict the core hands to a plugin (config version 3 shape)."""
    params: dict[str, Any] = {
        "type": "mqtt",
        "brokers": broker,
        "consistency": "AT_LEAST_ONCE",
        "receive_timeout_ms": 5000.0,
        "type_spec": {},
    }
    params.update(extra)
    # No client_id: paho then lets the broker assign one, so a reader and a
    # writer built from the same dict do not kick each other off.
    return params
