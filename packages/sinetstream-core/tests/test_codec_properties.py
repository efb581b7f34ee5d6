"""Property tests of the pipeline over every option combination.

Modes x key lengths x padding x key source x compression x value types x
message formats x user_data_only. PBKDF2 runs with a few iterations so each
example stays cheap. ``nox -s fuzz`` runs each with 20 times the examples.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sinetstream._crypto_config import MODES
from sinetstream._params import with_defaults
from sinetstream._pipeline import Decoder, Encoder
from sinetstream.error import InvalidMessageError

from .conftest import examples

pytestmark = pytest.mark.usefixtures("quiet_sinetstream_log")

PASSWORD = "prop-Pässw0rd"
COMPRESSIONS: list[dict[str, Any] | None] = [
    None,
    {"algorithm": "gzip"},
    {"algorithm": "gzip", "level": 1},
    {"algorithm": "gzip", "level": 9},
    {"algorithm": "zstd"},
    {"algorithm": "zstd", "level": -3},
    {"algorithm": "zstd", "level": 19},
]
INT64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
SETTINGS = settings(
    max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def configs(
    draw: st.DrawFn,
    modes: tuple[str | None, ...] = (None, *MODES),
    user_data_only: bool | None = None,
    password: bool | None = None,
) -> dict[str, Any]:
    p: dict[str, Any] = {
        "value_type": draw(st.sampled_from(["byte_array", "text"])),
        "message_format": draw(st.sampled_from([2, 3])),
        "user_data_only": draw(st.booleans()) if user_data_only is None else user_data_only,
    }
    compression = draw(st.sampled_from(COMPRESSIONS))
    if compression is not None:
        p["data_compression"] = True
        p["compression"] = compression
    mode = draw(st.sampled_from(modes))
    if mode is not None:
        key_length = draw(st.sampled_from([128, 192, 256]))
        crypto: dict[str, Any] = {
            "algorithm": "AES",
            "mode": mode,
            "key_length": key_length,
            "padding": "pkcs7" if mode == "CBC" else draw(st.sampled_from([None, "none", "pkcs7"])),
            "key_derivation": {
                "iteration": 3,
                "salt_bytes": draw(st.sampled_from([0, 8, 16])),
                "prf": draw(st.sampled_from(["HMAC-SHA256", "HMAC-SHA384", "HMAC-SHA512"])),
            },
        }
        use_password = draw(st.booleans()) if password is None else password
        if use_password:
            crypto["password"] = PASSWORD
        else:
            version = draw(st.sampled_from([1, 2, 65535]))
            crypto["_keys"] = {version: bytes([version % 251]) * (key_length // 8)}
        p["data_encryption"] = True
        p["crypto"] = crypto
    return with_defaults(p)


def values(p: dict[str, Any]) -> st.SearchStrategy[Any]:
    if p["value_type"] == "text":
        return st.text(max_size=300)
    return st.binary(max_size=300)


@SETTINGS
@given(p=configs(), data=st.data(), ts=INT64)
def test_every_combination_roundtrips(p: dict[str, Any], data: st.DataObject, ts: int) -> None:
    value = data.draw(values(p))
    enc, dec = Encoder(p), Decoder(p)
    wire, u, c = enc.encode(value, ts)
    serialized = value.encode() if isinstance(value, str) else value
    assert u == len(serialized)
    if not p["data_compression"]:
        assert c == u
    got, got_ts, du, dc = dec.decode(wire, 0)
    assert got == value
    assert got_ts == (0 if p["user_data_only"] else ts)
    assert (du, dc) == (u, c)
    # a second message from the same writer (same salt, new IV) decodes too
    assert dec.decode(enc.encode(value, ts)[0])[0] == value


@SETTINGS
@given(p=configs(user_data_only=False), data=st.data())
def test_v3_reader_reads_v2_messages(p: dict[str, Any], data: st.DataObject) -> None:
    value = data.draw(values(p))
    wire = Encoder({**p, "message_format": 2}).encode(value, 42)[0]
    assert Decoder({**p, "message_format": 3}).decode(wire)[:2] == (value, 42)


@settings(max_examples=examples(200), deadline=None)
@given(
    p=configs(modes=("GCM", "EAX")),
    data=st.data(),
    delta=st.integers(min_value=1, max_value=255),
)
def test_authenticated_messages_reject_any_byte_change(
    p: dict[str, Any], data: st.DataObject, delta: int
) -> None:
    wire = Encoder(p).encode(data.draw(values(p)), 7)[0]
    pos = data.draw(st.integers(min_value=0, max_value=len(wire) - 1))
    bad = bytearray(wire)
    bad[pos] ^= delta
    with pytest.raises(InvalidMessageError) as info:
        Decoder(p).decode(bytes(bad))
    assert PASSWORD not in str(info.value)


@settings(max_examples=examples(60), deadline=None)
@given(p=configs(), data=st.data())
def test_truncations_raise_invalid_message_only(p: dict[str, Any], data: st.DataObject) -> None:
    wire = Encoder(p).encode(data.draw(values(p)), 7)[0]
    dec = Decoder(p)
    authenticated = p["data_encryption"] and p["crypto"]["mode"] in ("GCM", "EAX")
    must_fail = authenticated or not p["user_data_only"]
    errors: list[str] = []
    for n in range(len(wire)):
        try:
            dec.decode(wire[:n])
        except InvalidMessageError as exc:
            errors.append(str(exc))
            continue
        # Only an unframed, unauthenticated message can lose bytes unnoticed.
        assert not must_fail, f"truncation to {n} of {len(wire)} bytes was accepted"
    assert all(PASSWORD not in e for e in errors)


@SETTINGS
@given(p=configs(modes=tuple(MODES), user_data_only=False, password=True), data=st.data())
def test_wrong_password_is_rejected(p: dict[str, Any], data: st.DataObject) -> None:
    wire = Encoder(p).encode(data.draw(values(p)), 7)[0]
    other = {**p, "crypto": {**p["crypto"], "password": "not-the-password"}}
    with pytest.raises(InvalidMessageError) as info:
        Decoder(other).decode(wire)
    assert PASSWORD not in str(info.value)
    assert "not-the-password" not in str(info.value)


@SETTINGS
@given(p=configs(), garbage=st.binary(max_size=200))
def test_garbage_raises_invalid_message_only(p: dict[str, Any], garbage: bytes) -> None:
    error = ""
    try:
        Decoder(p).decode(garbage)
    except InvalidMessageError as exc:
        error = str(exc)
    assert PASSWORD not in error
