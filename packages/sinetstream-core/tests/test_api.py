"""The public API: exports, lifecycle, errors, metrics, info, async helpers."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time

import pytest
import sinetstream
from sinetstream import (
    AlreadyConnectedError,
    AsyncMessageReader,
    AsyncMessageWriter,
    InvalidArgumentError,
    InvalidMessageError,
    Message,
    MessageReader,
    MessageWriter,
    Metrics,
    NotOpenError,
    SinetError,
)


def q(broker: str, **kw: object) -> dict[str, object]:
    return {"no_config": True, "type": "queue", "brokers": broker, **kw}


def test_all_is_sorted_and_complete() -> None:
    assert sinetstream.__all__ == sorted(sinetstream.__all__, key=lambda n: (not n.isupper(), n))
    for name in sinetstream.__all__:
        assert getattr(sinetstream, name, None) is not None or name == "DEFAULT_CLIENT_ID"
    public = {n for n in dir(sinetstream) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(sinetstream.__all__)


def test_reference_names_and_values() -> None:
    assert [c.value for c in sinetstream.Consistency] == [1, 2, 3]
    assert sinetstream.TEXT == "text"
    assert sinetstream.BYTE_ARRAY == "byte_array"
    assert sinetstream.DEFAULT_CLIENT_ID is None
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", sinetstream.__version__)
    for name in (
        "NoConfigError",
        "NoServiceError",
        "InvalidConfigError",
        "UnsupportedServiceTypeError",
        "InvalidArgumentError",
        "ConnectionError",
        "AlreadyConnectedError",
        "InvalidMessageError",
        "AuthorizationError",
    ):
        assert issubclass(getattr(sinetstream, name), SinetError)
    assert not issubclass(sinetstream.ConnectionError, ConnectionError)


def test_import_is_light() -> None:
    heavy = "('yaml', 'cryptography', 'promise', 'asyncio', 'zstandard', 'opentelemetry')"
    code = f"import sys, sinetstream; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_publishing_str_as_byte_array(broker_name: str) -> None:
    with MessageWriter(None, "t", **q(broker_name)) as w, pytest.raises(InvalidMessageError):
        w.publish("not bytes")
    assert w.metrics.error_count_total == 1


def test_unknown_value_type(broker_name: str) -> None:
    with pytest.raises(InvalidArgumentError, match="no-such-type"):
        MessageWriter(None, "t", **q(broker_name, value_type="no-such-type"))


def test_topic_rules(broker_name: str) -> None:
    with pytest.raises(InvalidArgumentError):
        MessageWriter(None, ["a", "b"], **q(broker_name))
    with pytest.raises(InvalidArgumentError):
        MessageWriter(None, [], **q(broker_name))
    assert MessageWriter(None, ["only"], **q(broker_name)).topic == "only"
    with pytest.raises(InvalidArgumentError):
        MessageReader(None, [], **q(broker_name))
    r = MessageReader(None, ["a", "b"], **q(broker_name))
    assert r.topics == ["a", "b"]
    assert r.params["topics"] == ["a", "b"]
    assert MessageReader(**q(broker_name, topic="x")).params["topics"] == ["x"]


def test_receive_timeout_validation(broker_name: str) -> None:
    with pytest.raises(InvalidArgumentError, match="receive_timeout_ms"):
        MessageReader(None, "t", **q(broker_name, receive_timeout_ms=-1))
    assert MessageReader(None, "t", **q(broker_name)).receive_timeout_ms == float("inf")


def test_open_twice_and_use_after_close(broker_name: str) -> None:
    r = MessageReader(None, "t", **q(broker_name, receive_timeout_ms=10))
    with pytest.raises(NotOpenError):
        next(iter(r))
    with r:
        with pytest.raises(AlreadyConnectedError):
            r.open()
        assert list(r) == []
    with pytest.raises(NotOpenError):
        list(r)
    r.close()


def test_metrics_fields_and_str() -> None:
    m = Metrics()
    assert m.msg_size_min is None
    assert m.msg_count_rate == 0
    assert m.msg_compression_ratio == 1.0
    text = str(m)
    assert text.startswith("time=0.0,start_time=")
    assert "error_count_rate=" in text


def test_timeout_is_not_an_error(broker_name: str) -> None:
    with MessageReader(None, "t", **q(broker_name, receive_timeout_ms=10)) as r:
        assert list(r) == []
        assert r.metrics.error_count_total == 0


def test_info_and_usage(broker_name: str) -> None:
    with MessageWriter(None, "t", **q(broker_name, client_id="me")) as w:
        info = w.info()
        assert info["client_id"] == "me"
        assert isinstance(info["metrics"], Metrics)
        assert info["queue"] == {"topic": "t"}
        assert w.info("queue.topic") == "t"
        assert w.info("client_id") == "me"
        assert w.info("unknown") is None
    assert "topics" in MessageReader.usage()
    assert "receive_timeout_ms" in AsyncMessageReader.usage()
    assert "topic " in MessageWriter.usage()


def test_seek_on_a_backend_without_it_is_a_sinet_error() -> None:
    from sinetstream._readers import _ReaderBase

    class Fake:
        pass

    r = MessageReader(None, "t", **q("seekless"))
    with r:
        object.__setattr__(r, "_plugin", Fake())
        with pytest.raises(SinetError, match="cannot seek_to_end"):
            r.seek_to_end()
        object.__setattr__(r, "_plugin", None)
    assert isinstance(r, _ReaderBase)


def test_async_writer_rejects_unencodable_values(broker_name: str) -> None:
    with AsyncMessageWriter(None, "t", **q(broker_name)) as w:
        p = w.publish("str with byte_array")
        assert p.is_rejected
        with pytest.raises(InvalidMessageError):
            p.get()
        assert w.metrics.error_count_total == 1


def test_async_reader_keeps_messages_until_on_message_is_set(broker_name: str) -> None:
    got: list[Message] = []
    reader = AsyncMessageReader(None, "t", **q(broker_name))
    with reader, MessageWriter(None, "t", **q(broker_name)) as w:
        w.publish(b"early")
        end = time.monotonic() + 5
        while reader.metrics.msg_count_total == 0 and time.monotonic() < end:
            time.sleep(0.01)
        reader.on_message = got.append
    assert [m.value for m in got] == [b"early"]


def test_callback_errors_go_to_on_failure(broker_name: str) -> None:
    failures: list[BaseException] = []

    done = threading.Event()

    def on_message(m: Message) -> None:
        raise ValueError("boom")

    def on_failure(exc: BaseException, tb: object) -> None:
        failures.append(exc)
        done.set()

    reader = AsyncMessageReader(None, "t", **q(broker_name))
    reader.on_message = on_message
    reader.on_failure = on_failure
    with reader, MessageWriter(None, "t", **q(broker_name)) as w:
        w.publish(b"x")
        assert done.wait(5)
    assert isinstance(failures[0], ValueError)
    assert reader.metrics.error_count_total == 0
    assert reader.metrics.callback_error_count_total == 1
