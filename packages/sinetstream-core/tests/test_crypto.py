"""Encryption: parameter validation, every mode, tamper detection, key cache and rate limit."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest
import sinetstream._crypto as crypto_mod
from sinetstream._crypto import MessageDecryptor, MessageEncryptor
from sinetstream._crypto_config import MODES, parse_crypto, warn_if_unauthenticated
from sinetstream._crypto_modes import _next_iv_locked
from sinetstream.error import InvalidArgumentError, InvalidMessageError

PASSWORD = "s3cr3t-Pässword"
KEY16 = bytes(range(16))


def conf(mode: str = "GCM", key_length: int = 128, **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "algorithm": "AES",
        "mode": mode,
        "key_length": key_length,
        "key_derivation": {"iteration": 10},
    }
    if "key" not in extra and "_keys" not in extra:
        c["password"] = PASSWORD
    c.update(extra)
    return c


@pytest.fixture
def derivations(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Record the salt of every PBKDF2 derivation."""
    calls: list[bytes] = []
    real = crypto_mod._derive

    def counting(config: Any, salt: bytes) -> bytes:
        calls.append(salt)
        return real(config, salt)

    monkeypatch.setattr(crypto_mod, "_derive", counting)
    return calls


# --- parameters --------------------------------------------------------------------------------


def test_defaults() -> None:
    c = parse_crypto({"algorithm": "AES", "mode": "GCM", "password": "x"})
    assert (c.key_length, c.salt_bytes, c.iteration, c.prf, c.pkcs7) == (
        128,
        8,
        10000,
        "sha256",
        False,
    )
    assert c.versions == (1,)
    assert c.describe() == "AES-128-GCM"


@pytest.mark.parametrize(
    ("crypto", "match"),
    [
        (None, "crypto: data_encryption is true but crypto is missing"),
        ("AES", "crypto: data_encryption is true but crypto is str"),
        ({"mode": "GCM", "password": "x"}, "crypto.algorithm: required"),
        ({"algorithm": "DES", "mode": "GCM", "password": "x"}, "crypto.algorithm: 'DES'"),
        ({"algorithm": "AES", "password": "x"}, "crypto.mode: required"),
        (
            {"algorithm": "AES", "mode": "XYZ", "password": "x"},
            "crypto.mode: 'XYZ' is not one of CBC, CFB, CTR, EAX, GCM, OFB, OPENPGP",
        ),
        ({"algorithm": "AES", "mode": "GCM", "key_length": 64, "password": "x"}, "key_length"),
        ({"algorithm": "AES", "mode": "GCM", "key_length": True, "password": "x"}, "key_length"),
        ({"algorithm": "AES", "mode": "CBC", "padding": "zero", "password": "x"}, "crypto.padding"),
        ({"algorithm": "AES", "mode": "GCM"}, "neither crypto.password nor crypto.key"),
        (
            {"algorithm": "AES", "mode": "GCM", "password": "x", "key": KEY16},
            "either crypto.password or crypto.key",
        ),
        ({"algorithm": "AES", "mode": "GCM", "key": "0123456789abcdef"}, "crypto.key: must be"),
        ({"algorithm": "AES", "mode": "GCM", "key": b"short"}, "16 bytes needed"),
        (
            {"algorithm": "AES", "mode": "GCM", "key_length": 256, "key": KEY16},
            "32 bytes needed for key_length 256, got 16",
        ),
        ({"algorithm": "AES", "mode": "GCM", "_keys": {0: KEY16}}, r"crypto._keys: key version"),
        ({"algorithm": "AES", "mode": "GCM", "_keys": {70000: KEY16}}, "outside 1..65535"),
        ({"algorithm": "AES", "mode": "GCM", "_keys": {"a": KEY16}}, "not an integer"),
        ({"algorithm": "AES", "mode": "GCM", "_keys": {1: b"x"}}, r"crypto._keys\[1\]"),
        (
            {"algorithm": "AES", "mode": "GCM", "password": "x", "key_derivation": {"prf": "MD5"}},
            "crypto.key_derivation.prf: 'MD5' is not one of HMAC-SHA256",
        ),
        (
            {
                "algorithm": "AES",
                "mode": "GCM",
                "password": "x",
                "key_derivation": {"algorithm": "scrypt"},
            },
            "crypto.key_derivation.algorithm",
        ),
        (
            {
                "algorithm": "AES",
                "mode": "GCM",
                "password": "x",
                "key_derivation": {"salt_bytes": -1},
            },
            "salt_bytes",
        ),
        (
            {
                "algorithm": "AES",
                "mode": "GCM",
                "password": "x",
                "key_derivation": {"salt_bytes": 4096},
            },
            r"salt_bytes: must be an integer in 0\.\.1024",
        ),
        (
            {
                "algorithm": "AES",
                "mode": "GCM",
                "password": "x",
                "key_derivation": {"iteration": 0},
            },
            "iteration",
        ),
        ({"algorithm": "AES", "mode": "GCM", "password": 12345}, "crypto.password: must be"),
        ({"algorithm": "AES", "mode": "GCM", "password": {"x": 1}}, "needs 'value' or 'path'"),
        ({"algorithm": "AES", "mode": "GCM", "password": "ああ"}, "outside Latin-1"),
    ],
)
def test_invalid_parameters_name_the_key(crypto: Any, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        parse_crypto(crypto)


def test_error_messages_never_contain_the_password(tmp_path: Path) -> None:
    secret = "ultra-secret-ああ"  # also not Latin-1 encodable
    messages = []
    for crypto in (
        {"algorithm": "AES", "mode": "GCM", "password": secret},
        {"algorithm": "AES", "mode": "XYZ", "password": secret},
        {"algorithm": "AES", "mode": "GCM", "password": secret, "key": KEY16},
        {"algorithm": "AES", "mode": "GCM", "password": {"path": str(tmp_path / "missing")}},
    ):
        with pytest.raises(InvalidArgumentError) as info:
            parse_crypto(crypto)
        messages.append(str(info.value))
        assert info.value.__cause__ is None  # a chained UnicodeEncodeError would carry it
    assert all(secret not in m for m in messages)


def test_mode_names_are_case_insensitive_and_openpgpcfb_is_an_alias() -> None:
    assert parse_crypto(conf("gcm")).mode == "GCM"
    assert parse_crypto(conf("OPENPGPCFB")).mode == "OPENPGP"
    assert parse_crypto(conf("CBC", padding="NoPadding")).pkcs7 is False
    assert parse_crypto(conf("CBC", padding="none")).pkcs7 is False
    assert parse_crypto(conf("CBC", padding="PKCS7")).pkcs7 is True


def test_repr_hides_secrets() -> None:
    c = parse_crypto(conf(password="hunter2-secret"))
    k = parse_crypto(conf(key=b"K" * 16))
    for text in (repr(c), repr(k), repr(MessageEncryptor(c)), repr(MessageDecryptor(k))):
        assert "hunter2" not in text
        assert "KKKK" not in text
        assert KEY16.hex() not in text


def test_password_forms(tmp_path: Path) -> None:
    f = tmp_path / "pw.txt"
    f.write_text("from-file\n", encoding="utf-8")
    assert parse_crypto(conf(password={"path": str(f)})).password == b"from-file\n"
    assert parse_crypto(conf(password={"value": "v"})).password == b"v"
    assert parse_crypto(conf(password=b"raw")).password == b"raw"
    # Latin-1, not UTF-8, as the reference (pycryptodome) encodes it
    assert parse_crypto(conf(password="é")).password == b"\xe9"


def test_pbkdf2_uses_latin1_password_and_the_prf() -> None:
    for prf, name in (
        ("HMAC-SHA256", "sha256"),
        ("HMAC-SHA384", "sha384"),
        ("HMAC-SHA512", "sha512"),
    ):
        c = parse_crypto(
            conf(key_length=192, key_derivation={"iteration": 7, "prf": prf, "salt_bytes": 4})
        )
        salt = b"salt"
        expected = hashlib.pbkdf2_hmac(name, PASSWORD.encode("latin-1"), salt, 7, 24)
        assert crypto_mod._derive(c, salt) == expected


# --- round trips and layout --------------------------------------------------------------------

IV_LEN = {"OPENPGP": 18}
TAG_LEN = {"GCM": 16, "EAX": 8}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("key_length", [128, 192, 256])
def test_roundtrip_and_layout(mode: str, key_length: int) -> None:
    c = parse_crypto(conf(mode, key_length, padding="pkcs7" if mode == "CBC" else None))
    enc, dec = MessageEncryptor(c), MessageDecryptor(c)
    blocks = [enc.encrypt(b"x" * n) for n in (0, 1, 15, 16, 17, 1000)]
    for n, block in zip((0, 1, 15, 16, 17, 1000), blocks, strict=True):
        assert dec.decrypt(1, block) == b"x" * n
        overhead = 8 + IV_LEN.get(mode, 16) + TAG_LEN.get(mode, 0)
        body = n + (16 - n % 16) if mode == "CBC" else n
        assert len(block) == overhead + body
    # one salt per writer, a fresh IV per message
    assert len({b[:8] for b in blocks}) == 1
    assert len({b[8:24] for b in blocks}) == len(blocks)


def test_pkcs7_applies_to_any_mode() -> None:
    c = parse_crypto(conf("GCM", padding="pkcs7"))
    block = MessageEncryptor(c).encrypt(b"abc")
    assert len(block) == 8 + 16 + 16 + 16
    assert MessageDecryptor(c).decrypt(1, block) == b"abc"


def test_cbc_without_padding_needs_whole_blocks() -> None:
    c = parse_crypto(conf("CBC"))
    enc = MessageEncryptor(c)
    assert MessageDecryptor(c).decrypt(1, enc.encrypt(b"y" * 32)) == b"y" * 32
    with pytest.raises(InvalidMessageError, match="padding: pkcs7"):
        enc.encrypt(b"y" * 5)


def test_raw_key_still_sends_a_random_salt(derivations: list[bytes]) -> None:
    c = parse_crypto(conf("GCM", key=KEY16))
    a, b = MessageEncryptor(c), MessageEncryptor(c)
    ba, bb = a.encrypt(b"m"), b.encrypt(b"m")
    assert len(ba) == 8 + 16 + 1 + 16
    assert ba[:8] != bb[:8]
    dec = MessageDecryptor(c)
    assert dec.decrypt(1, ba) == dec.decrypt(1, bb) == b"m"
    assert derivations == []


def _iv(block: bytes) -> bytes:
    return block[8:24]  # after the 8-byte salt


@pytest.mark.parametrize("mode", ["GCM", "CBC"])
def test_ivs_are_never_repeated_across_threads(mode: str) -> None:
    c = parse_crypto(conf(mode, key=KEY16, padding="pkcs7" if mode == "CBC" else None))
    enc = MessageEncryptor(c)
    seen: list[bytes] = []

    def write() -> None:
        seen.extend(_iv(enc.encrypt(b"m" * 16)) for _ in range(2000))

    threads = [threading.Thread(target=write) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(seen) == 8000 == len(set(seen))


def test_the_locked_iv_source_hands_out_distinct_ivs() -> None:
    # the source used when the GIL is disabled (free-threaded builds)
    ivs = {_next_iv_locked() for _ in range(1000)}
    assert len(ivs) == 1000
    assert all(len(iv) == 16 for iv in ivs)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")  # pytest has threads
def test_a_forked_child_does_not_reuse_the_parents_ivs() -> None:
    enc = MessageEncryptor(parse_crypto(conf("GCM", key=KEY16)))
    enc.encrypt(b"m")  # the IV pool now holds unused IVs, which a child inherits
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.write(w, _iv(enc.encrypt(b"m")))
        os._exit(0)
    os.close(w)
    child = os.read(r, 16)
    os.close(r)
    os.waitpid(pid, 0)
    assert len(child) == 16
    assert child != _iv(enc.encrypt(b"m"))


def test_eax_reference_vector() -> None:
    # facts §3.7: AES-128-EAX, key 00..0f, "hi" at 1.0 s (block after the 6-byte header)
    block = bytes.fromhex(
        "a45eff11362af4f1e8d560cd2b673bcecb00e4f175e720fea96776db1d73282e27edb6e813bfed554a30b4d0e9256141"
    )
    c = parse_crypto({"algorithm": "AES", "mode": "EAX", "key": KEY16})
    assert MessageDecryptor(c).decrypt(1, block).hex() == "c3011f9c0c91eb33664f80897a046869"


def test_writer_uses_highest_key_version_and_reader_picks_by_version() -> None:
    keys = {1: b"1" * 16, 3: b"3" * 16, 2: b"2" * 16}
    c = parse_crypto(conf(_keys=keys))
    enc = MessageEncryptor(c)
    assert enc.key_version == 3
    dec = MessageDecryptor(c)
    assert dec.max_version == 3
    assert dec.decrypt(3, enc.encrypt(b"v3")) == b"v3"
    old = MessageEncryptor(parse_crypto(conf(_keys={1: keys[1]})))
    assert dec.decrypt(1, old.encrypt(b"v1")) == b"v1"
    with pytest.raises(InvalidMessageError, match="key_version=4 not found"):
        dec.decrypt(4, enc.encrypt(b"x"))


# --- rejection -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["GCM", "EAX"])
def test_authenticated_modes_reject_every_byte_change(mode: str) -> None:
    c = parse_crypto(conf(mode, key=KEY16))
    block = MessageEncryptor(c).encrypt(b"payload bytes")
    dec = MessageDecryptor(c)
    # salt and nonce are the associated data, so even the (unused) salt is covered
    for i in range(len(block)):
        for delta in (0x01, 0x80, 0xFF):
            bad = bytearray(block)
            bad[i] ^= delta
            with pytest.raises(InvalidMessageError, match="authentication failed"):
                dec.decrypt(1, bytes(bad))


@pytest.mark.parametrize("mode", MODES)
def test_truncations_raise_invalid_message_only(mode: str) -> None:
    c = parse_crypto(conf(mode, padding="pkcs7"))
    block = MessageEncryptor(c).encrypt(b"0123456789" * 5)
    dec = MessageDecryptor(c)
    for n in range(len(block)):
        try:
            dec.decrypt(1, block[:n])
        except InvalidMessageError:
            continue
        # An unauthenticated mode may decrypt a prefix; it must not raise anything else.
        assert mode not in ("GCM", "EAX"), n


@pytest.mark.parametrize("mode", ["GCM", "EAX", "OPENPGP", "CBC"])
def test_wrong_password_is_invalid_message(mode: str) -> None:
    block = MessageEncryptor(parse_crypto(conf(mode, padding="pkcs7"))).encrypt(b"data" * 8)
    wrong = MessageDecryptor(parse_crypto(conf(mode, padding="pkcs7", password="other")))
    with pytest.raises(InvalidMessageError) as info:
        wrong.decrypt(1, block)
    assert PASSWORD not in str(info.value)
    assert "other" not in str(info.value)


def test_wrong_raw_key_is_invalid_message() -> None:
    block = MessageEncryptor(parse_crypto(conf(key=KEY16))).encrypt(b"data")
    with pytest.raises(InvalidMessageError, match="authentication failed"):
        MessageDecryptor(parse_crypto(conf(key=b"\x00" * 16))).decrypt(1, block)


# --- reader key cache and derivation budget -----------------------------------------------------


def test_writer_derives_once_and_reader_caches_per_salt(derivations: list[bytes]) -> None:
    c = parse_crypto(conf())
    enc = MessageEncryptor(c)
    assert len(derivations) == 1
    dec = MessageDecryptor(c)
    for i in range(20):
        assert dec.decrypt(1, enc.encrypt(bytes([i]))) == bytes([i])
    assert len(derivations) == 2


def test_key_cache_is_bounded(monkeypatch: pytest.MonkeyPatch, derivations: list[bytes]) -> None:
    monkeypatch.setattr(MessageDecryptor, "KEY_CACHE_SIZE", 4)
    c = parse_crypto(conf())
    writers = [MessageEncryptor(c) for _ in range(6)]
    dec = MessageDecryptor(c)
    for w in writers:
        dec.decrypt(1, w.encrypt(b"m"))
    assert len(dec._cache) == 4
    before = len(derivations)
    dec.decrypt(1, writers[-1].encrypt(b"m"))  # most recent: cached
    dec.decrypt(1, writers[2].encrypt(b"m"))  # still in the LRU
    assert len(derivations) == before
    dec.decrypt(1, writers[0].encrypt(b"m"))  # evicted: derived again
    assert len(derivations) == before + 1
    assert len(dec._cache) == 4


def test_key_derivations_are_rate_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MessageDecryptor, "DERIVE_BURST", 3)
    monkeypatch.setattr(MessageDecryptor, "DERIVE_RATE", 0.001)
    c = parse_crypto(conf())
    writers = [MessageEncryptor(c) for _ in range(5)]
    dec = MessageDecryptor(c)
    for w in writers[:3]:
        assert dec.decrypt(1, w.encrypt(b"ok")) == b"ok"
    with pytest.raises(InvalidMessageError, match="too many distinct salts"):
        dec.decrypt(1, writers[3].encrypt(b"x"))
    # known salts keep working while new ones are refused
    assert dec.decrypt(1, writers[0].encrypt(b"again")) == b"again"
    # the bucket refills with time
    monkeypatch.setattr(MessageDecryptor, "DERIVE_RATE", 1e9)
    assert dec.decrypt(1, writers[4].encrypt(b"later")) == b"later"


def test_unauthenticated_modes_log_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="sinetstream")
    for mode in MODES:
        warn_if_unauthenticated(parse_crypto(conf(mode)), "writer")
    warned = sorted(r.getMessage().split()[2] for r in caplog.records)
    assert warned == ["CBC", "CFB", "CTR", "OFB", "OPENPGP"]
    assert all(r.name == "sinetstream" for r in caplog.records)
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)


def test_fresh_salt_flood_is_bounded(derivations: list[bytes]) -> None:
    """An attacker sending messages with ever new salts gets bounded memory and CPU."""
    c = parse_crypto(conf())
    block = MessageEncryptor(c).encrypt(b"m")
    dec = MessageDecryptor(c)
    rejected = 0
    for i in range(2000):
        forged = i.to_bytes(8, "big") + block[8:]
        try:
            dec.decrypt(1, forged)
        except InvalidMessageError as exc:
            rejected += "too many distinct salts" in str(exc)
    assert len(dec._cache) <= MessageDecryptor.KEY_CACHE_SIZE
    # the burst plus what the rate allows during the (short) test
    assert len(derivations) < MessageDecryptor.DERIVE_BURST + 200
    assert rejected >= 2000 - len(derivations)


def test_pkcs7_padding_matches_cryptography() -> None:
    from cryptography.hazmat.primitives import padding

    for n in range(0, 50):
        data = bytes(range(n))
        p = padding.PKCS7(128).padder()
        padded = p.update(data) + p.finalize()
        assert crypto_mod._pad(data) == padded
        assert crypto_mod._unpad(padded) == data
    for bad in (b"", b"x" * 15 + b"\x00", b"x" * 15 + b"\x11", b"x" * 14 + b"\x01\x02", b"x" * 17):
        with pytest.raises(InvalidMessageError, match="bad PKCS#7 padding"):
            crypto_mod._unpad(bad)
