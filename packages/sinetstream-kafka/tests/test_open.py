"""Opening a reader: without a group it opens at once (SINETStream 1.10), with one it joins.

Run against both native brokers, with kafka-python's default session timeout
(45 s), as a new user would: a default reader used to join a group named after
its client id, which took 23 s on Tansu before ``open()`` returned.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from sinetstream import AsyncMessageReader, Message, MessageReader, MessageWriter

from .conftest import BrokerProcess, create_topic

pytestmark = pytest.mark.kafka

#: A generous bound for a loaded 2-core machine (the bench measures the ~0.1 s).
OPEN_LIMIT_S = 2.0


@pytest.fixture(params=["tansu", "noida"])
def brokers(request: pytest.FixtureRequest) -> str:
    """The bootstrap address of each native broker in turn."""
    broker = request.getfixturevalue(request.param)
    return broker.bootstrap if isinstance(broker, BrokerProcess) else str(broker)


def _name() -> str:
    return f"open{uuid.uuid4().hex[:10]}"


def _params(brokers: str, **extra: Any) -> dict[str, Any]:
    return {"type": "kafka", "brokers": brokers, "no_config": True, "value_type": "text", **extra}


def _open_timed(reader: Any) -> float:
    start = time.perf_counter()
    reader.open()
    return time.perf_counter() - start


class _Collected:
    """What an async reader's on_message received; ``wait_for(n)`` waits for n of them."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._cond = threading.Condition()

    def __call__(self, message: Message) -> None:
        with self._cond:
            self.values.append(message.value)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[str]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.values) >= count, timeout)
            return list(self.values)


def _receive(reader: Any, collected: _Collected | None, count: int) -> list[str]:
    if collected is not None:
        return collected.wait_for(count)
    got: list[str] = []
    for message in reader:
        got.append(message.value)
        if len(got) >= count:
            break
    return got


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("as_pattern", [False, True], ids=["topic", "pattern"])
def test_a_reader_without_group_opens_at_once_and_gets_what_follows(
    brokers: str, kind: str, as_pattern: bool
) -> None:
    name = _name()
    create_topic(brokers, name, partitions=3)
    topic = f"^{name}$" if as_pattern else name
    with MessageWriter(None, name, **_params(brokers)) as writer:
        writer.publish("before open")
        for round_ in range(3):
            collected = _Collected() if kind == "async" else None
            reader: Any
            if collected is not None:
                reader = AsyncMessageReader(None, topic, **_params(brokers))
                reader.on_message = collected
            else:
                reader = MessageReader(None, topic, receive_timeout_ms=10_000, **_params(brokers))
            took = _open_timed(reader)
            try:
                # Published the moment open() returned, to whichever partition.
                writer.publish(f"after open {round_}")
                assert reader.info("kafka.group_id") is None
                assert _receive(reader, collected, 1) == [f"after open {round_}"]
            finally:
                reader.close()
            assert took < OPEN_LIMIT_S, f"open() took {took:.2f} s"


def test_without_group_a_reader_never_resumes(brokers: str) -> None:
    """As in 1.10: no group, no committed offsets, even with a fixed client_id."""
    name = _name()
    create_topic(brokers, name)
    params = _params(brokers, client_id=f"fixed-{name}", receive_timeout_ms=10_000)
    with MessageWriter(None, name, **_params(brokers)) as writer:
        with MessageReader(None, name, **params) as first:
            writer.publish("one")
            assert _receive(first, None, 1) == ["one"]
        writer.publish("while away")
        with MessageReader(None, name, **params) as second:
            writer.publish("two")
            assert _receive(second, None, 1) == ["two"]


@pytest.mark.parametrize("as_pattern", [False, True], ids=["topic", "pattern"])
def test_topics_that_appear_later_are_read_from_their_beginning(
    brokers: str, as_pattern: bool
) -> None:
    name = _name()
    topic = f"^{name}-.*" if as_pattern else name
    created = f"{name}-x" if as_pattern else name
    # A pattern learns of new topics at the next metadata refresh.
    spec = {"metadata_max_age_ms": 500} if as_pattern else {}
    with MessageReader(None, topic, receive_timeout_ms=15_000,
                       **_params(brokers, type_spec=spec)) as reader:  # fmt: skip
        # (Tansu creates a plain topic when asked for its metadata: then it exists at open.)
        with MessageWriter(None, created, **_params(brokers)) as writer:
            writer.publish("creates the topic")
            writer.publish("second")
        # Tansu auto-creates 4 partitions: order holds per partition only.
        assert sorted(_receive(reader, None, 2)) == ["creates the topic", "second"]


def test_group_id_true_is_the_client_id_and_resumes(noida: BrokerProcess) -> None:
    """The opt-in for a group named after client_id: a reader resumes where it stopped."""
    name = _name()
    create_topic(noida.bootstrap, name)
    client_id = f"resuming-{name}"
    params = _params(noida.bootstrap, client_id=client_id, receive_timeout_ms=10_000,
                     consistency="AT_LEAST_ONCE", type_spec={"group_id": True})  # fmt: skip
    with MessageWriter(None, name, **_params(noida.bootstrap)) as writer:
        with MessageReader(None, name, **params) as first:
            assert first.info("kafka.group_id") == client_id
            writer.publish("one")
            assert _receive(first, None, 1) == ["one"]
        writer.publish("while away")
        with MessageReader(None, name, **params) as second:
            assert _receive(second, None, 1) == ["while away"]
