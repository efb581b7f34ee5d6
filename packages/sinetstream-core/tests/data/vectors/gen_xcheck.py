"""Generate the ``xcheck-*.json`` cross-check vectors with pycryptodomex.

These are NOT captured from SINETStream 1.10: they cover modes and options the
reference captures lack (CFB-8, OFB, OpenPGP, SHA-384/512 PRFs, padding with
a stream mode, CBC without padding) by building the documented wire layout
with pycryptodome, the library the reference uses. Run it in a throwaway venv
that has pycryptodomex (it is never a dependency of sinetstream)::

    python -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install pycryptodomex
    /tmp/refvenv/bin/python gen_xcheck.py
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from Cryptodome.Cipher import AES  # type: ignore[import-not-found]
from Cryptodome.Hash import SHA256, SHA384, SHA512  # type: ignore[import-not-found]
from Cryptodome.Protocol.KDF import PBKDF2  # type: ignore[import-not-found]
from Cryptodome.Util.Padding import pad  # type: ignore[import-not-found]

HERE = Path(__file__).parent
PASSWORD = "xcheck-pässword"  # non-ASCII Latin-1 on purpose
TIMESTAMP_US = 1767225600000123
PRFS = {"HMAC-SHA256": SHA256, "HMAC-SHA384": SHA384, "HMAC-SHA512": SHA512}
MODES = {
    "CBC": AES.MODE_CBC,
    "CFB": AES.MODE_CFB,
    "OFB": AES.MODE_OFB,
    "CTR": AES.MODE_CTR,
    "OPENPGP": AES.MODE_OPENPGP,
    "OPENPGPCFB": AES.MODE_OPENPGP,
    "EAX": AES.MODE_EAX,
    "GCM": AES.MODE_GCM,
}


def varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def avro(ts: int, payload: bytes) -> bytes:
    prefix = bytes.fromhex("c3011f9c0c91eb33664f")
    return prefix + varint(ts << 1) + varint(len(payload) << 1) + payload


def encrypt(crypto: dict[str, Any], salt: bytes, data: bytes) -> bytes:
    kd = crypto["key_derivation"]
    key_len = crypto["key_length"] // 8
    if "key" in crypto:
        key = crypto["key"]
    else:
        prf = PRFS[kd["prf"]]
        key = PBKDF2(
            crypto["password"]["value"].encode("latin-1"),
            salt,
            key_len,
            kd["iteration"],
            hmac_hash_module=prf,
        )
    if crypto.get("padding") == "pkcs7":
        data = pad(data, 16)
    mode = MODES[crypto["mode"]]
    iv = os.urandom(16)
    if mode == AES.MODE_CTR:
        cipher = AES.new(key, mode, nonce=b"", initial_value=iv)
        return salt + iv + cipher.encrypt(data)
    if mode == AES.MODE_OPENPGP:
        cipher = AES.new(key, mode, iv=iv)
        return salt + cipher.encrypt(data)  # 18-byte encrypted IV, then the ciphertext
    if mode in (AES.MODE_EAX, AES.MODE_GCM):
        tag_len = 8 if mode == AES.MODE_EAX else 16
        cipher = AES.new(key, mode, nonce=iv, mac_len=tag_len)
        cipher.update(salt + iv)
        ct, tag = cipher.encrypt_and_digest(data)
        return salt + iv + ct + tag
    cipher = AES.new(key, mode, iv=iv)  # CFB: pycryptodome's default 8-bit segments
    return salt + iv + cipher.encrypt(data)


def case(name: str, mode: str, key_length: int, **extra: Any) -> None:
    crypto: dict[str, Any] = {
        "algorithm": "AES",
        "key_length": key_length,
        "mode": mode,
        "padding": extra.pop("padding", "none"),
        "password": {"value": PASSWORD},
        "key_derivation": {
            "algorithm": "pbkdf2",
            "salt_bytes": extra.pop("salt_bytes", 16),
            "iteration": 1000,
            "prf": extra.pop("prf", "HMAC-SHA256"),
        },
    }
    values: list[bytes] = extra.pop("values", [b"", b"hello", bytes(range(256)) * 3])
    assert not extra
    salt = os.urandom(crypto["key_derivation"]["salt_bytes"])  # one salt per writer
    messages = []
    for i, value in enumerate(values):
        ts = TIMESTAMP_US + i
        wire = b"\xdf\x03\x00\x00\x00\x01" + encrypt(crypto, salt, avro(ts, value))
        messages.append(
            {
                "value": {"b64": base64.b64encode(value).decode()},
                "timestamp_us": ts,
                "wire_b64": base64.b64encode(wire).decode(),
            }
        )
    doc = {
        "name": name,
        "source": "pycryptodomex cross-check (gen_xcheck.py), not a reference capture",
        "service_params": {"value_type": "byte_array", "data_encryption": True, "crypto": crypto},
        "messages": messages,
    }
    (HERE / f"{name}.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


def main() -> None:
    case("xcheck-aes-cfb8-128", "CFB", 128)
    case("xcheck-aes-cfb8-256", "CFB", 256, prf="HMAC-SHA512")
    case("xcheck-aes-ofb-192", "OFB", 192, prf="HMAC-SHA384")
    case("xcheck-aes-openpgp-128", "OPENPGP", 128)
    case("xcheck-aes-openpgpcfb-256", "OPENPGPCFB", 256, salt_bytes=8)
    case("xcheck-aes-eax-256-pkcs7", "EAX", 256, padding="pkcs7")
    case("xcheck-aes-gcm-192-sha512", "GCM", 192, prf="HMAC-SHA512", salt_bytes=0)
    # Avro body of a 13-byte payload is 32 bytes: CBC works without padding.
    case("xcheck-aes-cbc-128-nopad", "CBC", 128, values=[b"0123456789abc"])
    case("xcheck-aes-ctr-256-pkcs7", "CTR", 256, padding="pkcs7")


if __name__ == "__main__":
    main()
