"""Secrets embedded in config files as ``!sinetstream/encrypted <base64>``.

Blob layout (big-endian, SINETStream 1.10): ``u16 version = 1`` ‖
``u8 public-key type = 1 (RSA)`` ‖ ``u8 symmetric type = 1 (AES-GCM)`` ‖
RSA-OAEP(SHA-256) encrypted AES key ‖ 12-byte nonce ‖ ciphertext ‖ 16-byte tag;
the GCM associated data is everything before the ciphertext.

The private key is ``~/.config/sinetstream/private_key.pem``; its passphrase,
if any, comes from ``SINETSTREAM_PRIVATE_KEY_PASSPHRASE``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .error import InvalidConfigError, UnsupportedSecretError

__all__ = ["PRIVATE_KEY_PATH", "decrypt_secret", "encrypt_secret"]

PRIVATE_KEY_PATH = Path("~/.config/sinetstream/private_key.pem")
_HEADER = b"\x00\x01\x01\x01"
_NONCE = 12


def _private_key(path: Path) -> object:
    from cryptography.hazmat.primitives import serialization

    try:
        pem = path.expanduser().read_bytes()
    except OSError as exc:
        raise InvalidConfigError(
            f"an encrypted secret needs the private key {path}: {exc.strerror}"
        ) from exc
    passphrase = os.environ.get("SINETSTREAM_PRIVATE_KEY_PASSPHRASE")
    try:
        return serialization.load_pem_private_key(
            pem, password=passphrase.encode() if passphrase else None
        )
    except (TypeError, ValueError) as exc:
        raise InvalidConfigError(
            f"cannot load the private key {path} (is SINETSTREAM_PRIVATE_KEY_PASSPHRASE set "
            "correctly?)"
        ) from exc


def decrypt_secret(blob: bytes, *, source: str, key_path: Path = PRIVATE_KEY_PATH) -> bytes:
    """Decrypt one secret blob; ``source`` names the config file in errors."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if blob[:4] != _HEADER:
        raise UnsupportedSecretError(
            f"{source}: an encrypted secret has an unsupported header {blob[:4].hex()}"
        )
    key = _private_key(key_path)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidConfigError(f"{key_path}: the private key must be an RSA key")
    size = key.key_size // 8
    if len(blob) < 4 + size + _NONCE + 16:
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
