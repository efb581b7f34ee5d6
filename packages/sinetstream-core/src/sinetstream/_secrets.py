"""Secrets encrypted for the user's RSA key: ``!sinetstream/encrypted <base64>`` in
config files, and the secrets of the configuration server.

Blob layout (big-endian, SINETStream 1.10): ``u16 version = 1`` ‖
``u8 public-key type = 1 (RSA)`` ‖ ``u8 symmetric type = 1 (AES-GCM)`` ‖
RSA-OAEP(SHA-256) encrypted AES key ‖ 12-byte nonce ‖ ciphertext ‖ 16-byte tag;
the GCM associated data is everything before the ciphertext.

The private key is ``~/.config/sinetstream/private_key.pem``; its passphrase,
if any, comes from ``SINETSTREAM_PRIVATE_KEY_PASSPHRASE``, else it is asked
for on the terminal (three tries).
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .error import InvalidConfigError, UnsupportedSecretError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

__all__ = [
    "PASSPHRASE_VARIABLE",
    "PRIVATE_KEY_PATH",
    "decrypt_secret",
    "decrypt_with_key",
    "encrypt_secret",
    "load_private_key",
    "public_key_fingerprint",
]

PRIVATE_KEY_PATH = Path("~/.config/sinetstream/private_key.pem")
PASSPHRASE_VARIABLE = "SINETSTREAM_PRIVATE_KEY_PASSPHRASE"
_HEADER = b"\x00\x01\x01\x01"
_NONCE = 12
_TAG = 16
_PROMPT_TRIES = 3


def _parse_key(pem: bytes, passphrase: str | None) -> object:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(
        pem, password=passphrase.encode() if passphrase else None
    )


def _prompted_key(pem: bytes, path: Path) -> object:
    import getpass

    for _ in range(_PROMPT_TRIES):
        passphrase = getpass.getpass(f"passphrase of {path}: ")
        try:
            return _parse_key(pem, passphrase)
        except (TypeError, ValueError):
            continue
    raise InvalidConfigError(f"cannot load the private key {path}: wrong passphrase")


def load_private_key(path: Path = PRIVATE_KEY_PATH) -> RSAPrivateKey:
    """The RSA private key at ``path``, decrypted with the passphrase if it has one.

    Raises :class:`InvalidConfigError` naming the file (never the passphrase).
    """
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        pem = path.expanduser().read_bytes()
    except OSError as exc:
        raise InvalidConfigError(
            f"an encrypted secret needs the private key {path}: {exc.strerror}"
        ) from exc
    passphrase = os.environ.get(PASSPHRASE_VARIABLE)
    try:
        key = _parse_key(pem, passphrase)
    except TypeError as exc:
        # An encrypted key without a passphrase: ask, as SINETStream 1.10 does.
        if passphrase or not sys.stdin.isatty():
            raise InvalidConfigError(
                f"cannot load the private key {path}: it is encrypted; set {PASSPHRASE_VARIABLE}"
            ) from exc
        key = _prompted_key(pem, path)
    except ValueError as exc:
        raise InvalidConfigError(
            f"cannot load the private key {path} (is {PASSPHRASE_VARIABLE} set correctly?)"
        ) from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidConfigError(f"{path}: the private key must be an RSA key")
    return key


def public_key_fingerprint(public_key: RSAPublicKey) -> str:
    """SHA-256 of the OpenSSH public key blob, base64 without padding (``ssh-keygen -l``)."""
    from cryptography.hazmat.primitives import serialization

    line = public_key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    blob = base64.b64decode(line.split()[1])
    return base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def _check_header(blob: bytes, source: str) -> None:
    if blob[:4] != _HEADER:
        raise UnsupportedSecretError(
            f"{source}: an encrypted secret has an unsupported header {blob[:4].hex()}"
        )


def decrypt_with_key(
    blob: bytes, key: RSAPrivateKey, *, source: str, key_path: Path = PRIVATE_KEY_PATH
) -> bytes:
    """Decrypt one secret blob with an already loaded key; ``source`` names it in errors."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    _check_header(blob, source)
    size = key.key_size // 8
    if len(blob) < 4 + size + _NONCE + _TAG:
        raise InvalidConfigError(f"{source}: an encrypted secret is truncated")
    wrapped = blob[4 : 4 + size]
    nonce = blob[4 + size : 4 + size + _NONCE]
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    try:
        aes_key = key.decrypt(wrapped, oaep)
        return AESGCM(aes_key).decrypt(nonce, blob[4 + size + _NONCE :], blob[: 4 + size + _NONCE])
    except (ValueError, InvalidTag) as exc:
        raise InvalidConfigError(
            f"{source}: an encrypted secret cannot be decrypted with {key_path} "
            "(was it encrypted for another key?)"
        ) from exc


def decrypt_secret(blob: bytes, *, source: str, key_path: Path = PRIVATE_KEY_PATH) -> bytes:
    """Decrypt one secret blob with the key at ``key_path``; ``source`` names it in errors."""
    _check_header(blob, source)  # before the key is loaded: a bad blob needs no passphrase
    return decrypt_with_key(blob, load_private_key(key_path), source=source, key_path=key_path)


def encrypt_secret(plaintext: bytes, public_key: object) -> bytes:
    """Encrypt ``plaintext`` for the RSA ``public_key`` in the layout above."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not isinstance(public_key, rsa.RSAPublicKey):
        raise TypeError("public_key must be an RSA public key")
    aes_key = AESGCM.generate_key(bit_length=256)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    head = _HEADER + public_key.encrypt(aes_key, oaep) + os.urandom(_NONCE)
    return head + AESGCM(aes_key).encrypt(head[-_NONCE:], plaintext, head)
