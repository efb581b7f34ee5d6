"""Error paths of a program written for SINETStream 1.10, on the queue backend.

Each test is written the way a 1.10 program (or its test suite) is: it
catches the class 1.10 raised in that situation (``except ValueError:``,
``except NoConfigError:``) and registers plugins with
``MessageReader.registry.register(...)``. Each also checks that the error is
still the precise sinetstream class that says what to fix. A failing
``on_message`` is covered by ``test_api.py::test_callback_errors_go_to_on_failure``.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from sinetstream import (
    AsyncMessageReader,
    AsyncMessageWriter,
    InvalidArgumentError,
    InvalidConfigError,
    InvalidMessageError,
    MessageReader,
    MessageWriter,
    NoConfigError,
    UnsupportedServiceTypeError,
)
from sinetstream.compression import compression_registry
from sinetstream.error import (
    CompressionLevelError,
    ConfigSyntaxError,
    EmptyConfigError,
    MissingParameterError,
    UnknownKeyVersionError,
    UnsupportedSecretError,
)
from sinetstream.spi import PluginCompression, PluginValueType
from sinetstream.value_type import value_type_registry
from sinetstream_queue import QueueAsyncReader, QueueAsyncWriter, QueueReader, QueueWriter


def q(broker: str, **kw: Any) -> dict[str, Any]:
    return {"no_config": True, "type": "queue", "brokers": broker, **kw}


# --- 1. exception classes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "level", "valid"),
    [("gzip", 99, "-1..9"), ("gzip", -2, "-1..9"), ("zstd", 23, "at most 22")],
)
def test_compression_level_out_of_range_is_a_value_error(
    broker_name: str, algorithm: str, level: int, valid: str
) -> None:
    caught: BaseException | None = None
    try:
        with MessageWriter(
            None,
            "t",
            data_compression=True,
            compression={"algorithm": algorithm, "level": level},
            **q(broker_name),
        ) as writer:
            writer.publish(b"x")
    except ValueError as exc:  # what 1.10 raised (at the first publish)
        caught = exc
    assert isinstance(caught, CompressionLevelError)
    assert isinstance(caught, InvalidArgumentError)
    assert "compression.level" in str(caught)
    assert valid in str(caught)


def test_compression_level_in_range_still_works(broker_name: str) -> None:
    with (
        MessageReader(
            None,
            "t",
            receive_timeout_ms=200,
            data_compression=True,
            compression={"algorithm": "zstd"},
            **q(broker_name),
        ) as reader,
        MessageWriter(
            None,
            "t",
            data_compression=True,
            compression={"algorithm": "zstd", "level": 22},
            **q(broker_name),
        ) as writer,
    ):
        writer.publish(b"x" * 100)
        assert [m.value for m in reader] == [b"x" * 100]


KEY1 = bytes(range(16))
KEY2 = bytes(range(16, 32))


def _crypto(keys: dict[int, bytes]) -> dict[str, Any]:
    return {
        "data_encryption": True,
        "crypto": {"algorithm": "AES", "mode": "GCM", "_keys": keys},
    }


def test_missing_key_version_is_an_invalid_argument_error(broker_name: str) -> None:
    with (
        MessageReader(
            None, "t", receive_timeout_ms=200, **_crypto({1: KEY1}), **q(broker_name)
        ) as reader,
        MessageWriter(None, "t", **_crypto({1: KEY1, 2: KEY2}), **q(broker_name)) as writer,
    ):
        writer.publish(b"secret")  # written with key version 2
        caught: BaseException | None = None
        try:
            next(iter(reader))
        except InvalidArgumentError as exc:  # what 1.10 raised: "key_version=2 not found"
            caught = exc
    assert isinstance(caught, UnknownKeyVersionError)
    assert isinstance(caught, InvalidMessageError)
    assert "key_version=2 not found" in str(caught)


def test_missing_key_version_is_still_skipped(broker_name: str) -> None:
    with (
        MessageReader(
            None,
            "t",
            receive_timeout_ms=200,
            on_invalid_message="skip",
            **_crypto({1: KEY1}),
            **q(broker_name),
        ) as reader,
        MessageWriter(None, "t", **_crypto({1: KEY1, 2: KEY2}), **q(broker_name)) as writer,
    ):
        writer.publish(b"unreadable")
        assert list(reader) == []
        assert reader.metrics.invalid_message_count_total == 1


@pytest.mark.parametrize("content", ["", "# only a comment\n", "{}\n"])
def test_empty_config_file_is_no_config(workdir: Path, content: str) -> None:
    path = workdir / "empty.yml"
    path.write_text(content)
    caught: BaseException | None = None
    try:
        MessageReader(None, "t", config_file=str(path))
    except NoConfigError as exc:  # what 1.10 raised
        caught = exc
    assert isinstance(caught, EmptyConfigError)
    assert isinstance(caught, InvalidConfigError)
    assert str(path) in str(caught)


def test_config_file_that_is_not_yaml_is_no_config(workdir: Path) -> None:
    path = workdir / "broken.yml"
    path.write_text("svc:\n  type: queue\n\tbrokers: x\n")
    caught: BaseException | None = None
    try:
        MessageWriter(None, "t", config_file=str(path))
    except NoConfigError as exc:  # 1.10 treated a file it could not scan as absent
        caught = exc
    assert isinstance(caught, ConfigSyntaxError)
    assert isinstance(caught, InvalidConfigError)
    assert "line 3" in str(caught)


def test_secret_of_unknown_format_is_a_runtime_error(workdir: Path) -> None:
    blob = base64.b64encode(b"\x00\x02\x01\x01" + bytes(300)).decode()
    path = workdir / "secret.yml"
    path.write_text(
        "svc:\n  type: queue\n  brokers: b\n"
        f"  crypto:\n    password: !sinetstream/encrypted {blob}\n"
    )
    caught: BaseException | None = None
    try:
        MessageWriter("svc", "t", config_file=str(path))
    except RuntimeError as exc:  # what 1.10 raised ("Unsupported version")
        caught = exc
    assert isinstance(caught, UnsupportedSecretError)
    assert isinstance(caught, InvalidConfigError)
    assert "unsupported header 00020101" in str(caught)


def test_encryption_without_algorithm_is_a_key_error(broker_name: str) -> None:
    caught: BaseException | None = None
    try:
        MessageWriter(
            None,
            "t",
            data_encryption=True,
            crypto={"mode": "GCM", "password": "secret-000"},
            **q(broker_name),
        )
    except KeyError as exc:  # what 1.10 let escape: KeyError('algorithm')
        caught = exc
    assert isinstance(caught, MissingParameterError)
    assert isinstance(caught, InvalidArgumentError)
    assert str(caught).startswith("crypto.algorithm: required")  # not quoted like a KeyError


# --- 2. value_serializer / value_deserializer ----------------------------------------------


def test_value_serializer_is_the_effective_callable(broker_name: str) -> None:
    writer = MessageWriter(None, "t", value_type="text", **q(broker_name))
    reader = MessageReader(None, "t", value_type="text", **q(broker_name))
    assert writer.value_serializer is not None
    assert reader.value_deserializer is not None
    assert writer.value_serializer("héllo") == "héllo".encode()
    assert reader.value_deserializer("héllo".encode()) == "héllo"


def test_given_serializer_is_returned_as_given(broker_name: str) -> None:
    def ser(v: int) -> bytes:
        return str(v).encode()

    def des(b: bytes) -> int:
        return int(b)

    writer = MessageWriter(None, "t", value_serializer=ser, **q(broker_name))
    reader = AsyncMessageReader(None, "t", value_deserializer=des, **q(broker_name))
    assert writer.value_serializer is ser
    assert reader.value_deserializer is des
    plain = MessageWriter(None, "t", **q(broker_name))
    assert plain.value_serializer is None  # byte_array: no serializer, as in 1.10


# --- 3. programmatic registration ----------------------------------------------------------

_BACKENDS = [
    (MessageReader, QueueReader),
    (MessageWriter, QueueWriter),
    (AsyncMessageReader, QueueAsyncReader),
    (AsyncMessageWriter, QueueAsyncWriter),
]


def _entry_point_class(target: type) -> type:
    """1.10's test pattern: a class whose ``load()`` classmethod returns the plugin."""

    class EntryPoint:
        @classmethod
        def load(cls) -> type:
            return target

    return EntryPoint


@pytest.mark.parametrize(("api", "plugin"), _BACKENDS)
def test_registry_register_with_a_load_classmethod(api: Any, plugin: type) -> None:
    api.registry.register("compat-queue", _entry_point_class(plugin))
    try:
        assert "compat-queue" in api.registry
        obj = api(None, "t", no_config=True, type="compat-queue", brokers="compat")
        assert isinstance(obj._debug_get_plugin(), plugin)
    finally:
        api.registry.unregister("compat-queue")


def test_registered_backend_exchanges_messages(broker_name: str) -> None:
    MessageReader.registry.register("compat-queue", _entry_point_class(QueueReader))
    MessageWriter.registry.register("compat-queue", QueueWriter)  # the class itself works too
    try:
        params = {"no_config": True, "type": "compat-queue", "brokers": broker_name}
        with (
            MessageReader(None, "t", receive_timeout_ms=200, **params) as reader,
            MessageWriter(None, "t", **params) as writer,
        ):
            writer.publish(b"registered")
            assert [m.value for m in reader] == [b"registered"]
    finally:
        MessageReader.registry.unregister("compat-queue")
        MessageWriter.registry.unregister("compat-queue")


class Upper(PluginValueType):
    """A value type: str, sent upper-case."""

    @property
    def serializer(self) -> Any:
        return lambda s: s.upper().encode()

    @property
    def deserializer(self) -> Any:
        return bytes.decode


class Reverse(PluginCompression):
    """A "compression" that reverses the bytes."""

    def __init__(self, level: Any = None, params: Any = None) -> None:
        pass

    @property
    def compressor(self) -> Any:
        return lambda b: b[::-1]

    @property
    def decompressor(self) -> Any:
        return lambda b: b[::-1]


def test_value_type_and_compression_registries(broker_name: str) -> None:
    value_type_registry.register("upper", _entry_point_class(Upper))
    compression_registry.register("reverse", _entry_point_class(Reverse))
    try:
        params = q(
            broker_name,
            value_type="upper",
            data_compression=True,
            compression={"algorithm": "reverse"},
        )
        with (
            MessageReader(None, "t", receive_timeout_ms=200, **params) as reader,
            MessageWriter(None, "t", **params) as writer,
        ):
            writer.publish("shout")
            assert [m.value for m in reader] == ["SHOUT"]
    finally:
        value_type_registry.unregister("upper")
        compression_registry.unregister("reverse")


def test_registered_object_with_load_method_and_bad_load() -> None:
    class Loader:
        def load(self) -> type:
            return QueueReader

    MessageReader.registry.register("compat-obj", Loader())
    MessageReader.registry.register("compat-bad", _entry_point_class(int))
    try:
        reader = MessageReader(None, "t", no_config=True, type="compat-obj", brokers="compat")
        assert isinstance(reader._debug_get_plugin(), QueueReader)
        with pytest.raises(UnsupportedServiceTypeError, match="does not implement"):
            MessageReader(None, "t", no_config=True, type="compat-bad", brokers="compat")
    finally:
        MessageReader.registry.unregister("compat-obj")
        MessageReader.registry.unregister("compat-bad")
