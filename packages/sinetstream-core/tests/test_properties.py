"""Property tests through the public API: the stand-alone codec and the config loader.

* Any value, value type, compression and crypto setting round-trips through
  ``SINETStreamMessageEncoder`` / ``SINETStreamMessageDecoder``.
* Any mutation of an encoded message (bytes changed, inserted, deleted, cut,
  appended) decodes to a value or raises a :class:`~sinetstream.SinetError`,
  never another exception; with GCM or EAX it is always rejected.
* Any YAML document given as a config file gives a working service (a writer and
  a reader on the queue backend that carry a message) or a ``SinetError``.

``test_codec_properties.py`` covers the codec's internals (sizes, formats, key
versions); ``nox -s fuzz`` runs all of them with 20 times the examples.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sinetstream import (
    MessageReader,
    MessageWriter,
    SinetError,
    SINETStreamMessageDecoder,
    SINETStreamMessageEncoder,
)

from .conftest import examples

pytestmark = pytest.mark.usefixtures("quiet_sinetstream_log")

MODES = ("CBC", "CFB", "CTR", "EAX", "GCM", "OFB", "OPENPGP")  # docs/security.md
AUTHENTICATED = {"EAX", "GCM"}
PASSWORD = "prop-Pässw0rd"
FAST: dict[str, Any] = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}


@st.composite
def codec_params(draw: st.DrawFn) -> dict[str, Any]:
    """Writer/reader keyword arguments: value type, format, compression, crypto."""
    p: dict[str, Any] = {
        "value_type": draw(st.sampled_from(["byte_array", "text"])),
        "message_format": draw(st.sampled_from([2, 3])),
        "user_data_only": draw(st.booleans()),
    }
    algorithm = draw(st.sampled_from([None, "gzip", "zstd"]))
    if algorithm is not None:
        p["data_compression"] = True
        p["compression"] = {"algorithm": algorithm}
        if draw(st.booleans()):
            low, high = (1, 9) if algorithm == "gzip" else (-5, 19)
            p["compression"]["level"] = draw(st.integers(low, high))
    mode = draw(st.sampled_from([None, *MODES]))
    if mode is not None:
        key_length = draw(st.sampled_from([128, 192, 256]))
        crypto: dict[str, Any] = {"algorithm": "AES", "mode": mode, "key_length": key_length}
        if mode == "CBC" or draw(st.booleans()):
            crypto["padding"] = "pkcs7"
        if draw(st.booleans()):
            crypto["password"] = PASSWORD
            crypto["key_derivation"] = {"iteration": draw(st.integers(1, 5))}
        else:
            crypto["key"] = draw(st.binary(min_size=key_length // 8, max_size=key_length // 8))
        p["data_encryption"] = True
        p["crypto"] = crypto
    return p


def value_for(p: dict[str, Any]) -> st.SearchStrategy[Any]:
    return st.text(max_size=400) if p["value_type"] == "text" else st.binary(max_size=400)


@settings(max_examples=examples(150), **FAST)
@given(p=codec_params(), data=st.data(), ts=st.floats(0, 4e9, allow_nan=False))
def test_any_setting_roundtrips(p: dict[str, Any], data: st.DataObject, ts: float) -> None:
    value = data.draw(value_for(p))
    wire = SINETStreamMessageEncoder(**p).encode(value, ts)
    message = SINETStreamMessageDecoder(**p).decode(wire)
    assert message.value == value
    if not p["user_data_only"]:
        assert message.timestamp == pytest.approx(ts, abs=1e-6)


@st.composite
def mutations(draw: st.DrawFn, wire: bytes) -> bytes:
    """``wire`` changed in one of the ways a network, a disk or an attacker changes bytes."""
    n = len(wire)
    kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "cut", "append", "splice"]))
    at = draw(st.integers(0, max(n - 1, 0)))
    if kind == "flip" and n:
        return wire[:at] + bytes([wire[at] ^ draw(st.integers(1, 255))]) + wire[at + 1 :]
    if kind == "set" and n:
        return wire[:at] + draw(st.binary(min_size=1, max_size=8)) + wire[at + 1 :]
    if kind == "insert":
        return wire[:at] + draw(st.binary(min_size=1, max_size=32)) + wire[at:]
    if kind == "delete" and n:
        return wire[:at] + wire[at + draw(st.integers(1, max(1, n - at))) :]
    if kind == "cut":
        return wire[:at]
    if kind == "splice" and n:
        return wire[at:] + wire[:at]
    return wire + draw(st.binary(min_size=1, max_size=32))


@settings(max_examples=examples(300), **FAST)
@given(p=codec_params(), data=st.data())
def test_any_mutation_gives_a_value_or_a_sinet_error(
    p: dict[str, Any], data: st.DataObject
) -> None:
    value = data.draw(value_for(p))
    wire = SINETStreamMessageEncoder(**p).encode(value, 1.5)
    bad = data.draw(mutations(wire))
    try:
        message = SINETStreamMessageDecoder(**p).decode(bad)
    except SinetError as exc:
        error = str(exc)
        assert PASSWORD not in error
        return
    mode = p.get("crypto", {}).get("mode")
    if bad != wire:
        assert mode not in AUTHENTICATED, f"an altered {mode} message was accepted"
    assert isinstance(message.value, str if p["value_type"] == "text" else bytes)


# -- the config loader -----------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["queue", "kafka", "mqtt", "text", "byte_array", "AT_LEAST_ONCE", "GCM"]),
)
ANY_YAML = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.one_of(st.text(max_size=10), st.integers(-3, 3)), inner, max_size=4)
    ),
    max_leaves=12,
)


GOOD: dict[str, st.SearchStrategy[Any]] = {
    "value_type": st.sampled_from(["text", "byte_array"]),
    "consistency": st.sampled_from(["AT_MOST_ONCE", "AT_LEAST_ONCE", "EXACTLY_ONCE"]),
    "data_compression": st.booleans(),
    "compression": st.sampled_from([{"algorithm": "gzip"}, {"algorithm": "zstd", "level": 3}]),
    "data_encryption": st.booleans(),
    "crypto": st.fixed_dictionaries(
        {
            "algorithm": st.just("AES"),
            "mode": st.sampled_from(MODES),
            "key_length": st.sampled_from([128, 192, 256]),
            "password": st.just(PASSWORD),
            "padding": st.just("pkcs7"),
            "key_derivation": st.just({"iteration": 2}),
        }
    ),
    "receive_timeout_ms": st.sampled_from([10, 100, 1.5]),
    "user_data_only": st.booleans(),
    "message_format": st.sampled_from([2, 3]),
    "type_spec": st.just({"maxsize": 50}),
}
BAD: dict[str, st.SearchStrategy[Any]] = {
    "type": st.sampled_from(["nope", 3, None, ""]),
    "topic": st.sampled_from(["", 5, ["t", "u"], None, {"a": 1}]),
    "value_type": st.sampled_from(["image", "float", 1, None]),
    "consistency": st.sampled_from([1, "X", None]),
    "data_compression": st.sampled_from(["yes", None, 2]),
    "compression": st.sampled_from([{"algorithm": "lz77"}, "gzip", {"level": 99}]),
    "data_encryption": st.sampled_from([None, "on"]),
    "crypto": ANY_YAML,
    "receive_timeout_ms": st.sampled_from([0, -1, "x", None]),
    "message_format": st.sampled_from([4, "3", 0]),
    "type_spec": ANY_YAML,
}


@st.composite
def near_configs(draw: st.DrawFn) -> Any:
    """Config documents that are valid, or one or two fields away from valid."""
    service: dict[str, Any] = {"type": "queue", "brokers": f"prop-{uuid.uuid4().hex}", "topic": "t"}
    for key in draw(st.lists(st.sampled_from(sorted(GOOD)), unique=True, max_size=6)):
        service[key] = draw(GOOD[key])
    for key in draw(st.lists(st.sampled_from(sorted(BAD)), unique=True, max_size=2)):
        service[key] = draw(BAD[key])
    if draw(st.integers(0, 4)) == 0:
        extra = draw(st.dictionaries(st.text(min_size=1, max_size=8), ANY_YAML, max_size=2))
        service.update({k: v for k, v in extra.items() if k not in ("type", "brokers")})
    header = draw(st.sampled_from([{"version": 3}, {"version": 3}, {"version": 2}, {"version": 1},
                                   {"version": 9}, {}, None, "v3"]))  # fmt: skip
    if draw(st.integers(0, 4)) == 0:  # v1 files put services at the top level
        return {"svc": service}
    doc: dict[str, Any] = {"config": {"svc": service}}
    if header is not None:
        doc["header"] = header
    return doc


YAML_TEXT = st.one_of(
    near_configs().map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    ANY_YAML.map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    st.text(max_size=200),
    st.sampled_from(
        [
            "svc: !!python/object:os.system {}\n",
            "config: {svc: {type: queue, crypto: {password: !sinetstream/encrypted AAEB}}}\n",
            "a: &x [*x]\n",
            "config: {svc: {type: queue, brokers: b, topic: t}}\n...\n---\nother: 1\n",
            "\ufeffheader: {version: 3}\nconfig:\n  svc: {type: queue, topic: t}\n",
            "header: {version: 3}\nconfig:\n  svc:\n    type: queue\n    topic: [\n",
        ]
    ),
)


def _exercise(config_file: Path) -> None:
    """Open the service ``svc`` for writing and reading, and carry one message."""
    with MessageReader("svc", config_file=config_file, receive_timeout_ms=30) as reader:
        with MessageWriter("svc", config_file=config_file) as writer:
            value = "42" if writer.params.get("value_type") == "text" else b"42"
            writer.publish(value)
        got = [m.value for m in reader]
    assert len(got) <= 1  # one topic each for reader and writer, possibly different ones


@settings(max_examples=examples(150), **FAST)
@given(text=YAML_TEXT)
def test_any_yaml_config_gives_a_service_or_a_sinet_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yml"
        path.write_text(text, encoding="utf-8")
        try:
            _exercise(path)
        except SinetError:
            event("SinetError")
        else:
            event("a working service")
