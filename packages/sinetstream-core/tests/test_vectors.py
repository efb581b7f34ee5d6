"""Interoperability with SINETStream 1.10: captured wire vectors, decoded and re-encoded.

``tests/data/vectors/*.json`` hold messages written by the reference library
(and ``xcheck-*.json`` ones built with pycryptodome for modes the captures
lack, see ``gen_xcheck.py``); the hex cases below are those of the facts
file, §3.7.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from sinetstream._codec import SINETStreamMessageDecoder, SINETStreamMessageEncoder
from sinetstream._params import with_defaults
from sinetstream._pipeline import Decoder, Encoder

VECTOR_DIR = Path(__file__).parent / "data" / "vectors"
VECTOR_FILES = sorted(VECTOR_DIR.glob("*.json"))
REFERENCE_FILES = [f for f in VECTOR_FILES if not f.name.startswith("xcheck-")]


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def expected_value(m: dict[str, Any]) -> Any:
    v = m["value"]
    return v["text"] if "text" in v else base64.b64decode(v["b64"])


def expected_ts(doc: dict[str, Any], m: dict[str, Any]) -> int:
    # user_data_only carries no timestamp: a reader cannot recover it
    return 0 if doc["service_params"].get("user_data_only") else int(m["timestamp_us"])


def test_vector_files_present() -> None:
    assert len(REFERENCE_FILES) >= 13
    assert len(VECTOR_FILES) > len(REFERENCE_FILES)


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: p.stem)
def test_vector_decodes_with_decoder(path: Path) -> None:
    doc = load(path)
    dec = Decoder(with_defaults(doc["service_params"]))
    assert doc["messages"]
    for m in doc["messages"]:
        wire = base64.b64decode(m["wire_b64"])
        value, ts, _, _ = dec.decode(wire)
        assert value == expected_value(m)
        assert ts == expected_ts(doc, m)


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: p.stem)
def test_vector_decodes_with_public_decoder(path: Path) -> None:
    doc = load(path)
    with SINETStreamMessageDecoder(**doc["service_params"]) as dec:
        for m in doc["messages"]:
            wire = base64.b64decode(m["wire_b64"])
            msg = dec.decode(wire)
            assert msg.value == expected_value(m)
            assert msg.timestamp_us == expected_ts(doc, m)
            assert msg.topic is None
            assert msg.raw == wire


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: p.stem)
def test_vector_layout_matches_our_encoder(path: Path) -> None:
    """Same value, timestamp and parameters: our bytes have the reference's shape.

    Unencrypted cases must be byte-identical; encrypted ones (random salt and IV)
    must agree in length and header, and decode with our reader.
    """
    doc = load(path)
    p = with_defaults(doc["service_params"])
    enc, dec = Encoder(p), Decoder(p)
    encrypted = bool(doc["service_params"].get("data_encryption"))
    for m in doc["messages"]:
        ref = base64.b64decode(m["wire_b64"])
        ours, _, _ = enc.encode(expected_value(m), int(m["timestamp_us"]))
        if not encrypted:
            assert ours == ref
            continue
        assert len(ours) == len(ref)
        assert ours[:6] == ref[:6]  # marker and key version
        assert dec.decode(ours)[:2] == (expected_value(m), expected_ts(doc, m))


def test_encrypted_vector_fields() -> None:
    """Split one reference message per mode into salt, IV, ciphertext and tag by hand."""
    sizes = {"GCM": (16, 16), "EAX": (16, 8), "CBC": (16, 0), "CTR": (16, 0)}
    seen = set()
    for path in REFERENCE_FILES:
        doc = load(path)
        c = doc["service_params"].get("crypto")
        if not doc["service_params"].get("data_encryption"):
            continue
        salt_len = c.get("key_derivation", {}).get("salt_bytes", 8)
        iv_len, tag_len = sizes[c["mode"]]
        p = with_defaults(doc["service_params"])
        blocks = [base64.b64decode(m["wire_b64"]) for m in doc["messages"]]
        assert all(b[:6].hex() == "df0300000001" for b in blocks)
        # one salt per writer, a fresh IV per message
        assert len({b[6 : 6 + salt_len] for b in blocks}) == 1
        assert len({b[6 + salt_len : 6 + salt_len + iv_len] for b in blocks}) == len(blocks)
        value = b"" if p["value_type"] == "byte_array" else ""
        ours = Encoder(p).encode(value, 0)[0]
        overhead = 6 + salt_len + iv_len + tag_len
        avro_len = len(Encoder({**p, "data_encryption": False}).encode(value, 0)[0]) - 6
        pad = 16 - avro_len % 16 if c.get("padding") == "pkcs7" else 0
        assert len(ours) == overhead + avro_len + pad
        seen.add(c["mode"])
    assert seen == {"GCM", "EAX", "CBC", "CTR"}


# facts §3.7 (captured from SINETStream 1.10)
HEX_PLAIN = [
    ("df0300000000c3011f9c0c91eb33664f80897a046869", {}),
    ("c3011f9c0c91eb33664f80897a046869", {"message_format": 2}),
    (
        "df0300000000c3011f9c0c91eb33664f80897a14789ccbc80400013b00d2",
        {"data_compression": True},
    ),
]
HEX_ENCRYPTED = [
    (
        "df0300000001fabca73b1e0eff1900920cba23db15fbc59ef4a1a837f4a95a29399f97991caad3ebc6"
        "89c3603200212df6d5fc89bacd452f398318473c15",
        {"algorithm": "AES", "mode": "GCM", "password": "secret-000"},
    ),
    (
        "df03000000015ef0517ae2cba54323fc07520a8ffe96ea07743d49ed82c6e2a834f6507c8b39a4188b04"
        "5b335e7688d7c0546c8e47e30d2ed6000a0e0c57",
        {
            "algorithm": "AES",
            "mode": "CBC",
            "key_length": 256,
            "padding": "pkcs7",
            "password": "secret-000",
        },
    ),
    (
        "df0300000001a45eff11362af4f1e8d560cd2b673bcecb00e4f175e720fea96776db1d73282e27edb6e8"
        "13bfed554a30b4d0e9256141",
        {"algorithm": "AES", "mode": "EAX", "key": bytes(range(16))},
    ),
]


@pytest.mark.parametrize(("wire_hex", "kw"), HEX_PLAIN)
def test_hex_vectors_plain_roundtrip_byte_exact(wire_hex: str, kw: dict[str, Any]) -> None:
    wire = bytes.fromhex(wire_hex)
    assert SINETStreamMessageDecoder(**kw).decode(wire).value == b"hi"
    assert SINETStreamMessageDecoder(**kw).decode(wire).timestamp_us == 1_000_000
    assert SINETStreamMessageEncoder(**kw).encode(b"hi", timestamp=1.0) == wire


def test_hex_vector_avro_only() -> None:
    from sinetstream._wire import avro_pack, avro_unpack

    wire = bytes.fromhex("c3011f9c0c91eb33664f80898182838985060a68656c6c6f")
    assert avro_pack(1700000000123456, b"hello") == wire
    assert avro_unpack(wire) == (1700000000123456, b"hello")


@pytest.mark.parametrize(("wire_hex", "crypto"), HEX_ENCRYPTED, ids=["gcm", "cbc", "eax"])
def test_hex_vectors_encrypted(wire_hex: str, crypto: dict[str, Any]) -> None:
    wire = bytes.fromhex(wire_hex)
    kw = {"data_encryption": True, "crypto": crypto}
    msg = SINETStreamMessageDecoder(**kw).decode(wire)
    assert (msg.value, msg.timestamp_us) == (b"hi", 1_000_000)
    ours = SINETStreamMessageEncoder(**kw).encode(b"hi", timestamp=1.0)
    assert len(ours) == len(wire)
    assert ours[:6] == wire[:6]
    assert SINETStreamMessageDecoder(**kw).decode(ours).value == b"hi"
