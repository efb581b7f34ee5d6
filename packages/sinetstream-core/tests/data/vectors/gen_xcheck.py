"""Cross-check our encryption against pycryptodome, the library the reference uses.

These vectors are NOT captured from SINETStream 1.10: they cover modes and
options the reference captures lack (CFB-8, OFB, OpenPGP, SHA-384/512 PRFs,
padding with a stream mode, CBC without padding) by building the documented
wire layout with pycryptodomex. It runs in a throwaway venv (pycryptodomex is
never a dependency of sinetstream)::

    python -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install pycryptodomex
    /tmp/refvenv/bin/python gen_xcheck.py            # writes xcheck-*.json here

The other direction (pycryptodome decrypts what our Encoder wrote)::

    PYTHONPATH=packages/sinetstream-core/src .venv/bin/python gen_xcheck.py write-ours /tmp/o.json
    /tmp/refvenv/bin/python gen_xcheck.py check-ours /tmp/o.json
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
PASSWORD = "xcheck-pässword"  # non-ASCII Latin-1 on purpose
TIMESTAMP_US = 1767225600000123
AVRO_PREFIX = bytes.fromhex("c3011f9c0c91eb33664f")


def _pycryptodome() -> Any:
    from Cryptodome.Cipher import AES  # type: ignore[import-not-found]
    from Cryptodome.Hash import SHA256, SHA384, SHA512  # type: ignore[import-not-found]
    from Cryptodome.Protocol.KDF import PBKDF2  # type: ignore[import-not-found]
    from Cryptodome.Util import Padding  # type: ignore[import-not-found]

    prfs = {"HMAC-SHA256": SHA256, "HMAC-SHA384": SHA384, "HMAC-SHA512": SHA512}
    modes = {
        "CBC": AES.MODE_CBC,
        "CFB": AES.MODE_CFB,
        "OFB": AES.MODE_OFB,
        "CTR": AES.MODE_CTR,
        "OPENPGP": AES.MODE_OPENPGP,
        "OPENPGPCFB": AES.MODE_OPENPGP,
        "EAX": AES.MODE_EAX,
        "GCM": AES.MODE_GCM,
    }
    return AES, prfs, modes, PBKDF2, Padding


def varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def avro(ts: int, payload: bytes) -> bytes:
    return AVRO_PREFIX + varint(ts << 1) + varint(len(payload) << 1) + payload


def derive(crypto: dict[str, Any], salt: bytes) -> bytes:
    _, prfs, _, pbkdf2, _ = _pycryptodome()
    kd = crypto["key_derivation"]
    password = crypto["password"]
    if isinstance(password, dict):
        password = password["value"]
    key: bytes = pbkdf2(
        password.encode("latin-1"),
        salt,
        crypto["key_length"] // 8,
        kd["iteration"],
        hmac_hash_module=prfs[kd["prf"]],
    )
    return key


def encrypt(crypto: dict[str, Any], salt: bytes, data: bytes) -> bytes:
    AES, _, modes, _, padding = _pycryptodome()
    key = derive(crypto, salt)
    if crypto.get("padding") == "pkcs7":
        data = padding.pad(data, 16)
    mode = modes[crypto["mode"]]
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


def write_ours(out: str) -> None:
    """With sinetstream importable: encrypt a few messages per mode and key length."""
    from sinetstream._params import with_defaults
    from sinetstream._pipeline import Encoder

    docs = []
    for mode in ("CBC", "CFB", "OFB", "CTR", "OPENPGP", "EAX", "GCM"):
        for key_length in (128, 192, 256):
            crypto = {
                "algorithm": "AES",
                "mode": mode,
                "key_length": key_length,
                "padding": "pkcs7" if mode == "CBC" else None,
                "password": PASSWORD,
                "key_derivation": {"iteration": 50, "prf": "HMAC-SHA384", "salt_bytes": 5},
            }
            enc = Encoder(with_defaults({"data_encryption": True, "crypto": crypto}))
            wires = [enc.encode(bytes(range(i * 7 % 256)), 123)[0] for i in range(5)]
            docs.append({"crypto": crypto, "wire": [base64.b64encode(w).decode() for w in wires]})
    Path(out).write_text(json.dumps(docs))


def check_ours(path: str) -> None:
    """With pycryptodomex: decrypt (and verify) what write_ours produced."""
    AES, _, modes, _, padding = _pycryptodome()
    count = 0
    for doc in json.loads(Path(path).read_text()):
        crypto = doc["crypto"]
        for i, b64 in enumerate(doc["wire"]):
            wire = base64.b64decode(b64)
            assert wire[:6] == bytes.fromhex("df0300000001")
            salt, rest = wire[6:11], wire[11:]
            key = derive(crypto, salt)
            mode = modes[crypto["mode"]]
            if mode == AES.MODE_OPENPGP:
                plain = AES.new(key, mode, iv=rest[:18]).decrypt(rest[18:])
            elif mode == AES.MODE_CTR:
                plain = AES.new(key, mode, nonce=b"", initial_value=rest[:16]).decrypt(rest[16:])
            elif mode in (AES.MODE_EAX, AES.MODE_GCM):
                tag_len = 8 if mode == AES.MODE_EAX else 16
                cipher = AES.new(key, mode, nonce=rest[:16], mac_len=tag_len)
                cipher.update(salt + rest[:16])
                plain = cipher.decrypt_and_verify(rest[16:-tag_len], rest[-tag_len:])
            else:
                plain = AES.new(key, mode, iv=rest[:16]).decrypt(rest[16:])
            if crypto["padding"] == "pkcs7":
                plain = padding.unpad(plain, 16)
            assert plain[:10] == AVRO_PREFIX, (crypto, i)
            assert plain.endswith(bytes(range(i * 7 % 256))), (crypto, i)
            count += 1
    print(f"pycryptodome decrypted and verified {count} messages written by sinetstream")


def main() -> None:
    if sys.argv[1:2] == ["write-ours"]:
        write_ours(sys.argv[2])
        return
    if sys.argv[1:2] == ["check-ours"]:
        check_ours(sys.argv[2])
        return
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
