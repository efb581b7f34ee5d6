"""The message pipeline: Encoder/Decoder and the public stand-alone codec classes."""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sinetstream._codec import SINETStreamMessageDecoder, SINETStreamMessageEncoder
from sinetstream._message import Message
from sinetstream._params import DEFAULT_PARAMS, with_defaults
from sinetstream._pipeline import Decoder, Encoder
from sinetstream._registry import registry
from sinetstream.error import (
    AlreadyConnectedError,
    InvalidArgumentError,
    InvalidMessageError,
    NotOpenError,
)
from sinetstream.spi import PluginMessage, PluginValueType

PASSWORD = "codec-test-password"
K1, K2, K3 = b"1" * 16, b"2" * 16, b"3" * 16
TS = 1_767_225_600_000_123


def params(**kw: Any) -> dict[str, Any]:
    return with_defaults(kw)


def crypto(mode: str = "GCM", **kw: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"algorithm": "AES", "mode": mode, "key_derivation": {"iteration": 10}}
    if "key" not in kw and "_keys" not in kw:
        c["password"] = PASSWORD
    c.update(kw)
    return c


def enc_params(mode: str = "GCM", **kw: Any) -> dict[str, Any]:
    return params(data_encryption=True, crypto=crypto(mode, **kw))


def roundtrip(p: dict[str, Any], value: Any, ts: int = TS) -> tuple[Any, int, int, int]:
    wire, _, _ = Encoder(p).encode(value, ts)
    return Decoder(p).decode(wire)


# --- sizes and values ----------------------------------------------------------------------------


def test_plain_message_layout_and_sizes() -> None:
    wire, u, c = Encoder(params()).encode(b"hi", 1_000_000)
    assert wire.hex() == "df0300000000c3011f9c0c91eb33664f80897a046869"
    assert (u, c) == (2, 2)
    assert Decoder(params()).decode(wire) == (b"hi", 1_000_000, 2, 2)


def test_compressed_sizes() -> None:
    p = params(value_type="text", data_compression=True)
    text = "abc" * 100
    wire, u, c = Encoder(p).encode(text, TS)
    assert u == 300
    assert c == len(zlib.compress(text.encode()))
    assert Decoder(p).decode(wire) == (text, TS, 300, c)


def test_non_bytes_with_byte_array_is_invalid_message() -> None:
    with pytest.raises(InvalidMessageError, match="non-bytes message"):
        Encoder(params()).encode("a str", TS)


def test_bytes_like_values_are_accepted() -> None:
    e, d = Encoder(params()), Decoder(params())
    assert d.decode(e.encode(bytearray(b"ba"), TS)[0])[0] == b"ba"
    assert d.decode(e.encode(memoryview(b"mv"), TS)[0])[0] == b"mv"


def test_text_value_type() -> None:
    p = params(value_type="text")
    assert roundtrip(p, "héllo ✓")[0] == "héllo ✓"
    with pytest.raises(InvalidMessageError, match="value_type text: cannot serialize a bytes"):
        Encoder(p).encode(b"bytes", TS)
    # invalid UTF-8 on receipt
    bad = Encoder(params()).encode(b"\xff\xfe", TS)[0]
    with pytest.raises(InvalidMessageError, match="UnicodeDecodeError"):
        Decoder(p).decode(bad)


def test_value_serializer_takes_precedence() -> None:
    p = params(
        value_type="text",
        value_serializer=lambda v: repr(v).encode(),
        value_deserializer=lambda b: ("got", b),
    )
    assert roundtrip(p, [1, 2])[0] == ("got", b"[1, 2]")


def test_value_serializer_returning_non_bytes() -> None:
    with pytest.raises(InvalidMessageError, match="value_serializer doesn't return bytes"):
        Encoder(params(value_serializer=str)).encode(1, TS)


def test_value_serializer_must_be_callable() -> None:
    with pytest.raises(InvalidArgumentError, match="value_serializer: must be a callable"):
        Encoder(params(value_serializer="str"))


class Named:
    def __init__(self, name: str, args: Any = None) -> None:
        self.name = name
        self.args = args


@pytest.mark.parametrize("vt", ["text", {"name": "text"}, Named("text"), {"name": "text", "x": 1}])
def test_value_type_forms(vt: Any) -> None:
    p = params(value_type=vt)
    assert Encoder(p).value_type == "text"
    assert roundtrip(p, "x")[0] == "x"


class Affix(PluginValueType):
    """A value-type plugin taking args: wraps a str in a prefix and suffix."""

    def __init__(self, prefix: str = "<", suffix: str = ">") -> None:
        self.prefix, self.suffix = prefix, suffix

    @property
    def serializer(self) -> Callable[[Any], bytes]:
        return lambda v: f"{self.prefix}{v}{self.suffix}".encode()

    @property
    def deserializer(self) -> Callable[[bytes], Any]:
        return lambda b: b.decode()[len(self.prefix) : -len(self.suffix)]


@pytest.fixture
def affix_plugin() -> Iterator[None]:
    registry("value_type").register("affix", Affix)
    yield
    registry("value_type").unregister("affix")


@pytest.mark.usefixtures("affix_plugin")
def test_value_type_plugin_gets_args() -> None:
    p = params(value_type={"name": "affix", "args": {"prefix": "[[", "suffix": "]]"}})
    wire, u, _ = Encoder(p).encode("v", TS)
    assert wire.endswith(b"[[v]]")
    assert u == 5
    assert Decoder(p).decode(wire)[0] == "v"
    assert roundtrip(params(value_type=Named("affix", {"prefix": "("})), "w")[0] == "w"


@pytest.mark.usefixtures("affix_plugin")
def test_value_type_plugin_bad_args() -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"value_type 'affix'.*rejected args \['bogus'\]"
    ):
        Encoder(params(value_type={"name": "affix", "args": {"bogus": 1}}))


@pytest.mark.parametrize(
    ("vt", "match"),
    [
        ("nosuch", "no value type plugin named 'nosuch'"),
        ({"args": {}}, "value_type.name"),
        ({"name": "text", "args": [1]}, "value_type.args"),
        (42, "value_type: expected"),
    ],
)
def test_bad_value_type(vt: Any, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        Encoder(params(value_type=vt))


@pytest.mark.parametrize("ts", [0, 1, -1, TS, (1 << 63) - 1, -(1 << 63)])
def test_timestamps(ts: int) -> None:
    assert roundtrip(params(), b"t", ts)[1] == ts


@pytest.mark.parametrize("ts", [1 << 63, -(1 << 63) - 1, 1 << 70])
def test_timestamp_out_of_range(ts: int) -> None:
    encoder = Encoder(params())
    with pytest.raises(InvalidMessageError, match="64-bit"):
        encoder.encode(b"t", ts)
    # also right after an in-range timestamp (whose high bytes are cached)
    encoder.encode(b"t", (1 << 63) - 1)
    with pytest.raises(InvalidMessageError, match="64-bit"):
        encoder.encode(b"t", ts)


# --- parameter validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (
            {"data_encryption": True, "crypto": {"mode": "GCM", "password": "pw"}},
            "crypto.algorithm",
        ),
        ({"data_encryption": True}, "crypto.algorithm: required"),
        ({"data_encryption": True, "crypto": crypto("XYZ")}, "crypto.mode: 'XYZ' is not one of"),
        ({"data_encryption": "yes"}, "data_encryption: must be true or false"),
        ({"data_compression": True, "compression": {"algorithm": "gzip", "level": 10}}, "level"),
        ({"data_compression": True, "compression": {"algorithm": "zstd", "level": 23}}, "level"),
        ({"data_compression": True, "compression": {"algorithm": "nosuch"}}, "nosuch"),
        ({"message_format": 4}, "message_format: 4 is not one of 2, 3"),
        ({"user_data_only": "no"}, "user_data_only"),
    ],
)
def test_bad_parameters(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        Encoder(params(**kw))
    with pytest.raises(InvalidArgumentError):
        SINETStreamMessageEncoder(**kw)


def test_reader_ignores_compression_level() -> None:
    Decoder(params(data_compression=True, compression={"algorithm": "gzip", "level": 10}))


def test_disabled_features_ignore_their_parameters() -> None:
    p = params(crypto={"mode": "XYZ"}, compression={"algorithm": "nosuch"})
    assert roundtrip(p, b"x")[0] == b"x"


def test_encryption_without_algorithm_never_leaks_key_error() -> None:
    with pytest.raises(InvalidArgumentError):
        Decoder(params(data_encryption=True, crypto={"mode": "GCM", "password": "p"}))


# --- message formats and key versions (facts §3.5) -----------------------------------------------


def test_v2_plain_is_read_by_v3_reader() -> None:
    wire = Encoder(params(message_format=2)).encode(b"hi", 1_000_000)[0]
    assert wire.hex() == "c3011f9c0c91eb33664f80897a046869"
    assert Decoder(params()).decode(wire)[:2] == (b"hi", 1_000_000)
    assert Decoder(params(message_format=2)).decode(wire)[:2] == (b"hi", 1_000_000)


def test_v3_plain_is_not_read_by_v2_reader() -> None:
    wire = Encoder(params()).encode(b"hi", 1_000_000)[0]
    with pytest.raises(InvalidMessageError, match="Avro marker is df03"):
        Decoder(params(message_format=2)).decode(wire)


def keys_params(keys: dict[int, bytes], **kw: Any) -> dict[str, Any]:
    return enc_params("GCM", _keys=keys, **kw)


ALL = {1: K1, 2: K2, 3: K3}


@pytest.mark.parametrize(
    ("writer", "reader", "ok"),
    [
        ({1}, {1}, True),
        ({1}, {1, 2}, True),
        ({1}, {1, 2, 3}, True),
        ({1}, {2, 3}, False),
        ({1, 2}, {1}, False),
        ({1, 2}, {1, 2}, True),
        ({1, 2}, {2, 3}, True),
        ({1, 2, 3}, {3}, True),
    ],
)
def test_key_version_matrix(writer: set[int], reader: set[int], ok: bool) -> None:
    wp = keys_params({v: ALL[v] for v in writer})
    rp = keys_params({v: ALL[v] for v in reader})
    wire = Encoder(wp).encode(b"kv", TS)[0]
    assert wire[4:6] == max(writer).to_bytes(2, "big")
    if ok:
        assert Decoder(rp).decode(wire)[:2] == (b"kv", TS)
    else:
        with pytest.raises(InvalidMessageError, match=f"key_version={max(writer)} not found"):
            Decoder(rp).decode(wire)


def test_password_writer_uses_key_version_1() -> None:
    wire = Encoder(enc_params()).encode(b"x", TS)[0]
    assert wire[:6].hex() == "df0300000001"


def test_v2_encrypted_needs_readers_highest_key_to_match() -> None:
    v2 = params(message_format=2, data_encryption=True, crypto=crypto(key=K1))
    wire = Encoder(v2).encode(b"v2", TS)[0]
    assert wire[:4] != b"\xdf\x03\x00\x00"
    assert Decoder(keys_params({1: K1})).decode(wire)[0] == b"v2"
    assert Decoder(keys_params({1: K2, 2: K1})).decode(wire)[0] == b"v2"
    with pytest.raises(InvalidMessageError, match="authentication failed"):
        Decoder(keys_params({1: K1, 2: K2})).decode(wire)
    assert Decoder(v2).decode(wire)[0] == b"v2"


def test_encryption_state_mismatch() -> None:
    encrypted = Encoder(enc_params()).encode(b"x", TS)[0]
    plain = Encoder(params()).encode(b"x", TS)[0]
    with pytest.raises(InvalidMessageError, match="invalid key_version=1"):
        Decoder(params()).decode(encrypted)
    with pytest.raises(InvalidMessageError, match="invalid key_version=0"):
        Decoder(enc_params()).decode(plain)


@pytest.mark.parametrize("mode", ["GCM", "EAX", "CBC", "CTR", "OFB", "CFB", "OPENPGP"])
def test_wrong_password(mode: str) -> None:
    wire = Encoder(enc_params(mode, padding="pkcs7")).encode(b"secret data", TS)[0]
    other = params(data_encryption=True, crypto=crypto(mode, padding="pkcs7", password="nope"))
    with pytest.raises(InvalidMessageError) as info:
        Decoder(other).decode(wire)
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize("writer_mode", ["GCM", "EAX", "CBC", "CTR", "OFB", "CFB", "OPENPGP"])
@pytest.mark.parametrize("reader_mode", ["GCM", "EAX", "CBC", "CTR", "OFB", "CFB", "OPENPGP"])
def test_wrong_mode_is_invalid_message(writer_mode: str, reader_mode: str) -> None:
    if writer_mode == reader_mode:
        return
    wire = Encoder(enc_params(writer_mode, key=K1, padding="pkcs7")).encode(b"m" * 20, TS)[0]
    with pytest.raises(InvalidMessageError):
        Decoder(enc_params(reader_mode, key=K1, padding="pkcs7")).decode(wire)


def test_raw_key_writer_still_sends_salt() -> None:
    e = Encoder(enc_params("GCM", key=K1))
    w1, w2 = e.encode(b"a", TS)[0], e.encode(b"a", TS)[0]
    # header 6, salt 8 (same for the writer), nonce 16 (fresh), Avro 10+8+1+1, tag 16
    assert len(w1) == 6 + 8 + 16 + 20 + 16
    assert w1[6:14] == w2[6:14]
    assert w1[14:30] != w2[14:30]


# --- user_data_only ------------------------------------------------------------------------------


def test_user_data_only_sends_the_payload_alone() -> None:
    p = params(user_data_only=True)
    wire, u, c = Encoder(p).encode(b"raw bytes", TS)
    assert (wire, u, c) == (b"raw bytes", 9, 9)
    assert Decoder(p).decode(wire) == (b"raw bytes", 0, 9, 9)
    assert Decoder(p).decode(wire, 12345)[1] == 12345


def test_user_data_only_with_compression_and_encryption() -> None:
    p = params(
        user_data_only=True,
        value_type="text",
        data_compression=True,
        data_encryption=True,
        crypto=crypto("GCM", _keys={1: K1, 2: K2}),
    )
    wire, _, c = Encoder(p).encode("t" * 100, TS)
    assert len(wire) == 8 + 16 + c + 16  # no header, no Avro
    assert Decoder(p).decode(wire)[:2] == ("t" * 100, 0)


# --- decoder robustness --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b"\xdf\x03\x00\x00", b"\xdf\x03\x00\x00\x00\x00", b"x" * 40, bytes(range(256))],
)
def test_garbage_is_invalid_message(data: bytes) -> None:
    for p in (params(), enc_params(), params(data_compression=True, value_type="text")):
        with pytest.raises(InvalidMessageError):
            Decoder(p).decode(data)


def test_decoder_accepts_bytes_subclasses_and_bytearray() -> None:
    wire = Encoder(params()).encode(b"b", TS)[0]
    d = Decoder(params())
    assert d.decode(PluginMessage(wire, 5))[0] == b"b"
    assert d.decode(bytearray(wire))[0] == b"b"  # type: ignore[arg-type]


def test_deserializer_errors_become_invalid_message() -> None:
    def boom(b: bytes) -> Any:
        raise KeyError("boom")

    wire = Encoder(params()).encode(b"b", TS)[0]
    with pytest.raises(InvalidMessageError, match="KeyError"):
        Decoder(params(value_deserializer=boom)).decode(wire)


def test_unauthenticated_mode_warns_once_per_encoder(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="sinetstream")
    e = Encoder(enc_params("CTR"))
    for _ in range(3):
        e.encode(b"x", TS)
    Decoder(enc_params("GCM"))
    records = [r for r in caplog.records if r.name == "sinetstream"]
    assert len(records) == 1
    assert "CTR does not authenticate" in records[0].getMessage()
    assert PASSWORD not in records[0].getMessage()


def test_reprs_hide_secrets() -> None:
    p = enc_params("GCM")
    texts = [repr(Encoder(p)), repr(Decoder(p))]
    texts += [repr(SINETStreamMessageEncoder(**p)), repr(SINETStreamMessageDecoder(**p))]
    assert all(PASSWORD not in t for t in texts)
    assert "AES-128-GCM" in texts[0]


def test_defaults() -> None:
    assert DEFAULT_PARAMS["crypto"]["key_derivation"]["iteration"] == 10000
    merged = with_defaults({"crypto": {"key_derivation": {"iteration": 5}}})
    assert merged["crypto"]["key_derivation"] == {
        "algorithm": "pbkdf2",
        "salt_bytes": 8,
        "iteration": 5,
        "prf": "HMAC-SHA256",
    }
    assert merged["crypto"]["key_length"] == 128
    assert merged["value_type"] == "byte_array"
    assert merged["message_format"] == 3


# --- public stand-alone codec --------------------------------------------------------------------


def test_public_codec_roundtrip() -> None:
    kw = {
        "value_type": "text",
        "data_encryption": True,
        "crypto": {"algorithm": "AES", "mode": "GCM", "password": PASSWORD},
        "data_compression": True,
        "compression": {"algorithm": "zstd"},
        "type": "ignored",
        "topic": "ignored",
    }
    with SINETStreamMessageEncoder(**kw) as enc, SINETStreamMessageDecoder(**kw) as dec:
        wire = enc.encode("hello", timestamp=1.5)
        msg = dec.decode(wire)
    assert isinstance(msg, Message)
    assert (msg.value, msg.timestamp_us, msg.timestamp, msg.topic) == (
        "hello",
        1_500_000,
        1.5,
        None,
    )
    assert msg.raw is wire


def test_public_encoder_default_timestamp_is_now() -> None:
    before = time.time_ns() // 1000
    wire = SINETStreamMessageEncoder().encode(b"now")
    after = time.time_ns() // 1000
    msg = SINETStreamMessageDecoder().decode(wire)
    assert before <= msg.timestamp_us <= after
    assert msg.value == b"now"


def test_public_codec_defaults_byte_array_v3() -> None:
    wire = SINETStreamMessageEncoder().encode(b"hi", timestamp=1.0)
    assert wire.hex() == "df0300000000c3011f9c0c91eb33664f80897a046869"


def test_public_codec_lifecycle() -> None:
    enc = SINETStreamMessageEncoder()
    assert enc.open() is enc
    with pytest.raises(AlreadyConnectedError):
        enc.open()
    enc.close()
    enc.close()
    with pytest.raises(NotOpenError):
        enc.encode(b"x")
    enc.open()
    assert enc.encode(b"x")
    dec = SINETStreamMessageDecoder()
    dec.close()
    with pytest.raises(NotOpenError):
        dec.decode(b"x")


def test_public_decoder_user_data_only_uses_plugin_timestamp() -> None:
    dec = SINETStreamMessageDecoder(user_data_only=True)
    assert dec.decode(PluginMessage(b"p", 77)).timestamp_us == 77
    assert dec.decode(b"p").timestamp_us == 0


def test_public_decoder_raises_invalid_message() -> None:
    with pytest.raises(InvalidMessageError):
        SINETStreamMessageDecoder().decode(b"not a message")


class NotBytes(PluginValueType):
    """A broken value-type plugin whose serializer returns a str."""

    @property
    def serializer(self) -> Callable[[Any], bytes]:
        return str  # type: ignore[return-value]

    @property
    def deserializer(self) -> Callable[[bytes], Any]:
        return bytes.decode


def test_value_type_plugin_returning_non_bytes() -> None:
    registry("value_type").register("notbytes", NotBytes)
    try:
        with pytest.raises(InvalidMessageError, match="value_type notbytes returned str"):
            Encoder(params(value_type="notbytes")).encode(1, TS)
    finally:
        registry("value_type").unregister("notbytes")


@pytest.mark.parametrize("mode", ["GCM", "EAX"])
@pytest.mark.parametrize("message_format", [2, 3])
def test_every_single_byte_change_is_rejected(mode: str, message_format: int) -> None:
    p = params(
        message_format=message_format,
        value_type="text",
        data_compression=True,
        data_encryption=True,
        crypto=crypto(mode),
    )
    wire = Encoder(p).encode("the message", TS)[0]
    dec = Decoder(p)
    assert dec.decode(wire)[0] == "the message"
    for i in range(len(wire)):
        for delta in (0x01, 0xFF):
            bad = bytearray(wire)
            bad[i] ^= delta
            with pytest.raises(InvalidMessageError) as info:
                dec.decode(bytes(bad))
            assert PASSWORD not in str(info.value)
