"""Write the TLS files of the docker-compose Kafka's SASL_SSL listener (localhost:9094).

    python docker/kafka_secrets.py            # before `docker compose up`

Writes ``docker/kafka-secrets/`` (git-ignored; mounted at /etc/kafka/secrets):
a throw-away test CA (``ca.pem``: what clients trust), the broker's key and a
certificate for localhost/127.0.0.1 valid 30 days in a PKCS#12 keystore
(``kafka.keystore.p12``), and the two password files the apache/kafka image
reads (``keystore_creds``, ``key_creds``). The files are world-readable because
the image runs Kafka as an unprivileged user: never use them outside tests.
The SASL tests in packages/sinetstream-kafka/tests/test_sasl_docker.py run this
themselves.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from sinetstream.testing.tls import make_certificates

SECRETS = Path(__file__).resolve().parent / "kafka-secrets"
KEYSTORE = "kafka.keystore.p12"


def write_secrets(folder: Path = SECRETS) -> Path:
    """Create (or replace) the files in ``folder``; returns the CA file clients trust."""
    folder.mkdir(parents=True, exist_ok=True)
    certs = make_certificates(folder)
    key = serialization.load_pem_private_key(certs.server_key.read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate(certs.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(certs.ca.read_bytes())
    password = secrets.token_urlsafe(16)
    # PBES2 with AES-256 and an HMAC-SHA256 MAC: what Java 17's PKCS12 keystore reads.
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(10000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode())
    )
    keystore = pkcs12.serialize_key_and_certificates(
        b"kafka",
        key,  # type: ignore[arg-type]
        cert,
        [ca],
        encryption,
    )
    (folder / KEYSTORE).write_bytes(keystore)
    # Java keeps one password for the store and its key.
    for name in ("keystore_creds", "key_creds"):
        (folder / name).write_text(password)
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)
    return certs.ca


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SECRETS
    print(f"wrote {target}; clients trust {write_secrets(target)}")
