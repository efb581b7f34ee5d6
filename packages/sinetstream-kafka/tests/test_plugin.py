"""The four plugin classes against a real broker (Tansu), through the SPI."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from kafka import KafkaProducer
from sinetstream.error import (
    AuthenticationError,
    ConnectionError,  # noqa: A004
    InvalidMessageError,
    NotOpenError,
)
from sinetstream.spi import ConfigVersion, PluginMessage
from sinetstream_kafka import KafkaAsyncReader, KafkaAsyncWriter, KafkaReader, KafkaWriter

from .conftest import TANSU_SESSION

pytestmark = pytest.mark.kafka

V3 = ConfigVersion(3)


def writer(cls: Any, brokers: str, topic: str, **kw: Any) -> Any:
    spec = kw.pop("type_spec", {})
    params = {"type": "kafka", "brokers": brokers, "topic": topic,
              "client_id": f"w-{uuid.uuid4().hex[:8]}", "consistency": "AT_LEAST_ONCE",
              "type_spec": spec, **kw}  # fmt: skip
    return cls(V3, params)


def reader(cls: Any, brokers: str, topics: Any, **kw: Any) -> Any:
    spec = {**TANSU_SESSION, **kw.pop("type_spec", {})}
    topics = [topics] if isinstance(topics, str) else topics
    params = {"type": "kafka", "brokers": brokers, "topics": topics,
              "client_id": f"r-{uuid.uuid4().hex[:8]}", "consistency": "AT_LEAST_ONCE",
              "receive_timeout_ms": 2000.0, "type_spec": spec, **kw}  # fmt: skip
    if len(topics) == 1:
        params["topic"] = topics[0]
    return cls(V3, params)


def msg(value: bytes) -> PluginMessage:
    return PluginMessage(value, time.time_ns() // 1000)


def take(r: Any, n: int) -> list[tuple[bytes, Any, Any]]:
    out = []
    for item in r:
        out.append(item)
        if len(out) >= n:
            break
    return out


def test_round_trip_with_key_partition_headers(tansu: str, make_topic: Any) -> None:
    topic = make_topic(tansu, partitions=2)
    r = reader(KafkaReader, tansu, topic)
    w = writer(KafkaWriter, tansu, topic)
    with_r = r.open()
    assert with_r is None
    w.open()
    try:
        md = w.publish(msg(b"plain"))
        assert md.topic == topic
        md2 = w.publish(
            msg(b"keyed"), key="k1", partition=1, headers={"trace": "abc", "b": b"\x00"}
        )
        assert md2.partition == 1
        got = {v: (t, raw) for v, t, raw in take(r, 2)}
    finally:
        w.close()
        r.close()
    assert set(got) == {b"plain", b"keyed"}
    _topic, raw = got[b"keyed"]
    assert _topic == topic
    assert raw.key == b"k1"
    assert raw.partition == 1
    assert dict(raw.headers) == {"trace": b"abc", "b": b"\x00"}


def test_partitions_chosen_as_kafka_pythons_default_partitioner(
    tansu: str, make_topic: Any
) -> None:
    # The writers' cached partitioner: keyed records where DefaultPartitioner
    # (murmur2, as every Kafka client) puts them; keyless ones spread over all.
    from kafka.partitioner.default import DefaultPartitioner

    topic = make_topic(tansu, partitions=4)
    w = writer(KafkaAsyncWriter, tansu, topic)
    w.open()
    try:
        keyless = [w.publish(msg(b"%d" % i)).get(10).partition for i in range(200)]
        cluster = w._producer._metadata  # the producer's own, live metadata
        default = DefaultPartitioner()
        for i in range(40):
            key = b"key-%d" % i
            md = w.publish(msg(b"k"), key=key).get(10)
            assert md.partition == default.partition(topic, key, key, None, None, cluster)
        # A metadata update (here: a forced refresh) rebuilds the keyless choice.
        updated = threading.Event()
        cluster.add_listener(lambda _c: updated.set())
        cluster.request_update()
        w.publish(msg(b"refresh")).get(10)
        assert updated.wait(10)
        after = [w.publish(msg(b"%d" % i)).get(10).partition for i in range(100)]
    finally:
        w.close()
    assert set(keyless) == {0, 1, 2, 3}
    assert set(after) == {0, 1, 2, 3}


def test_client_id_reaches_kafka(tansu: str, topic: str) -> None:
    w = writer(KafkaWriter, tansu, topic, client_id="my-client-42")
    w.open()
    try:
        assert w.info(["client_id"], {}) == "my-client-42"
        assert any(m.tags.get("client-id") == "my-client-42" for m in w.metrics())
    finally:
        w.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("api_version", [None, (2, 6)])
def test_unreachable_broker_fails_fast(api_version: tuple[int, int] | None) -> None:
    # Given api_version, kafka-python skips its connection check: open() must still
    # fail within bootstrap_timeout_ms (a reader without a group waited forever).
    from .conftest import free_port

    port = free_port()
    for cls in (KafkaWriter, KafkaReader, KafkaAsyncWriter, KafkaAsyncReader):
        spec: dict[str, Any] = {"bootstrap_timeout_ms": 800}
        if api_version is not None:
            spec["api_version"] = api_version
        if cls in (KafkaReader, KafkaAsyncReader):
            spec["group_id"] = None
        kw: dict[str, Any] = {"type_spec": spec}
        plugin = (writer if "Writer" in cls.__name__ else reader)(
            cls, f"127.0.0.1:{port}", "t", **kw
        )
        start = time.monotonic()
        with pytest.raises(ConnectionError, match="bootstrap_timeout_ms"):
            plugin.open()
        assert time.monotonic() - start < 3
    leftover = [t.name for t in threading.enumerate() if "kafka" in t.name.lower()]
    assert leftover == [], leftover


def test_failures_of_a_client_opening_in_another_thread_do_not_leak() -> None:
    # kafka-python only logs why a bootstrap failed; what another thread's client
    # logs meanwhile (here a refused SASL login) must not become this one's error.
    import logging

    from kafka.errors import SaslAuthenticationFailedError

    from .conftest import free_port

    stop = threading.Event()

    def other_client() -> None:
        log = logging.getLogger("kafka.net.manager")
        while not stop.is_set():
            log.warning(
                "Bootstrap connection to %s failed: %s", "b", SaslAuthenticationFailedError()
            )
            time.sleep(0.01)

    noise = threading.Thread(target=other_client)
    noise.start()
    try:
        spec = {"bootstrap_timeout_ms": 500}
        with pytest.raises(ConnectionError) as info:
            writer(KafkaWriter, f"127.0.0.1:{free_port()}", "t", type_spec=spec).open()
    finally:
        stop.set()
        noise.join()
    assert not isinstance(info.value, AuthenticationError)


def test_not_open_errors(tansu: str) -> None:
    w = writer(KafkaWriter, tansu, "t")
    with pytest.raises(NotOpenError):
        w.publish(msg(b"x"))
    r = reader(KafkaReader, tansu, "t")
    with pytest.raises(NotOpenError):
        iter(r)


def test_timeout_ends_iteration_and_resumes(tansu: str, make_topic: Any) -> None:
    topic = make_topic(tansu)
    r = reader(KafkaReader, tansu, topic, receive_timeout_ms=300.0)
    r.open()
    w = writer(KafkaWriter, tansu, topic)
    w.open()
    try:
        start = time.monotonic()
        assert list(r) == []
        assert 0.29 <= time.monotonic() - start < 2
        w.publish(msg(b"later"))
        assert [v for v, _t, _r in r] == [b"later"]
    finally:
        w.close()
        r.close()


def test_iteration_left_early_resumes_where_it_stopped(tansu: str, make_topic: Any) -> None:
    topic = make_topic(tansu)
    r = reader(KafkaReader, tansu, topic, receive_timeout_ms=500.0, type_spec={"group_id": None})
    r.open()
    w = writer(KafkaAsyncWriter, tansu, topic)
    w.open()
    try:
        for p in [w.publish(msg(b"%d" % i)) for i in range(10)]:
            p.get(5)
        first = [v for v, _t, _r in take(r, 3)]  # one fetched batch, left early
        rest = [v for v, _t, _r in r]
    finally:
        w.close()
        r.close()
    assert first + rest == [b"%d" % i for i in range(10)]


def test_seek_to_beginning_and_end(tansu: str, make_topic: Any) -> None:
    topic = make_topic(tansu)
    w = writer(KafkaWriter, tansu, topic)
    w.open()
    for i in range(3):
        w.publish(msg(b"old%d" % i))
    r = reader(KafkaReader, tansu, topic, receive_timeout_ms=500.0, type_spec={"group_id": None})
    r.open()
    try:
        assert list(r) == []  # starts at the end by default
        r.seek_to_beginning()
        assert [v for v, _t, _r in r] == [b"old0", b"old1", b"old2"]
        r.seek_to_beginning()
        r.seek_to_end()
        w.publish(msg(b"new"))
        assert [v for v, _t, _r in r] == [b"new"]
    finally:
        w.close()
        r.close()


def test_at_least_once_resume_without_loss(tansu: str, make_topic: Any, group: str) -> None:
    """Offsets are committed after delivery: a closed reader's group resumes where it stopped."""
    topic = make_topic(tansu)
    w = writer(KafkaWriter, tansu, topic)
    w.open()
    spec = {"group_id": group, "auto_offset_reset": "earliest"}
    r1 = reader(KafkaReader, tansu, topic, type_spec=spec)
    r1.open()
    for i in range(10):
        w.publish(msg(b"%d" % i))
    first = [v for v, _t, _r in take(r1, 4)]  # the rest of the fetched batch is not handed over
    r1.close()
    r2 = reader(KafkaReader, tansu, topic, type_spec=spec, receive_timeout_ms=1000.0)
    r2.open()
    rest = [v for v, _t, _r in r2]
    r2.close()
    w.close()
    assert first == [b"0", b"1", b"2", b"3"]
    assert rest == [b"%d" % i for i in range(4, 10)]


def test_at_most_once_never_repeats(tansu: str, make_topic: Any, group: str) -> None:
    topic = make_topic(tansu)
    w = writer(KafkaWriter, tansu, topic)
    w.open()
    spec = {"group_id": group, "auto_offset_reset": "earliest"}
    r1 = reader(KafkaReader, tansu, topic, consistency="AT_MOST_ONCE", type_spec=spec)
    r1.open()
    for i in range(10):
        w.publish(msg(b"%d" % i))
    first = [v for v, _t, _r in take(r1, 2)]
    r1.close()
    r2 = reader(KafkaReader, tansu, topic, consistency="AT_MOST_ONCE", type_spec=spec,
                receive_timeout_ms=700.0)  # fmt: skip
    r2.open()
    w.publish(msg(b"after"))
    rest = [v for v, _t, _r in r2]
    r2.close()
    w.close()
    assert first == [b"0", b"1"]
    assert not set(first) & set(rest)
    assert rest[-1] == b"after"


def test_producer_only_key_does_not_break_reader(tansu: str, make_topic: Any) -> None:
    topic = make_topic(tansu)
    shared = {"linger_ms": 2, "batch_size": 32768, "max_poll_records": 100, "group_id": None}
    r = reader(KafkaReader, tansu, topic, type_spec=shared)
    r.open()
    w = writer(KafkaWriter, tansu, topic, type_spec=shared)
    w.open()
    try:
        w.publish(msg(b"ok"))
        assert [v for v, _t, _r in take(r, 1)] == [b"ok"]
    finally:
        w.close()
        r.close()


def test_pattern_subscription(noida: Any, group: str) -> None:
    """On noida-db: against Tansu 0.6, kafka-python's pattern subscriptions rejoin the
    group again and again (about 1 s each) before they settle."""
    from .conftest import NOIDA_SESSION, create_topic

    brokers = noida.bootstrap
    prefix = f"pat{uuid.uuid4().hex[:6]}"
    for name in (f"{prefix}-a", f"{prefix}-b", f"other{prefix}"):
        create_topic(brokers, name)
    r = reader(KafkaReader, brokers, [f"^{prefix}-.*"], receive_timeout_ms=1000.0,
               type_spec={**NOIDA_SESSION, "group_id": group})  # fmt: skip
    r.open()
    assert r.info(["assignment"], {}) == [(f"{prefix}-a", 0), (f"{prefix}-b", 0)]
    ws = [writer(KafkaWriter, brokers, t) for t in (f"{prefix}-a", f"{prefix}-b", f"other{prefix}")]
    try:
        for w in ws:
            w.open()
            w.publish(msg(w.info(["topic"], {}).encode()))
        got = sorted((t, v) for v, t, _r in r)
    finally:
        for w in ws:
            w.close()
        r.close()
    assert got == [(f"{prefix}-a", f"{prefix}-a".encode()), (f"{prefix}-b", f"{prefix}-b".encode())]


def test_group_members_share_partitions(tansu: str, make_topic: Any, group: str) -> None:
    """Each message reaches exactly one member; members leaving or joining lose nothing."""
    topic = make_topic(tansu, partitions=4)
    spec = {"group_id": group}
    members = {name: reader(KafkaAsyncReader, tansu, topic, type_spec=spec) for name in "abc"}
    seen: dict[str, list[bytes]] = {name: [] for name in members}
    lock = threading.Lock()

    def collect(name: str) -> Any:
        def on_message(value: bytes, _topic: Any, _raw: Any) -> None:
            with lock:
                seen[name].append(value)

        return on_message

    def total() -> int:
        with lock:
            return sum(len(v) for v in seen.values())

    def balanced(*names: str) -> bool:
        held = [len(members[n].info(["assignment"], {})) for n in names]
        return sum(held) == 4 and all(held)

    for name, member in members.items():
        member.on_message = collect(name)
    a, b, c = members["a"], members["b"], members["c"]
    a.open()
    b.open()
    w = writer(KafkaWriter, tansu, topic)
    w.open()
    try:
        _wait_for(lambda: balanced("a", "b"), 15)
        for i in range(40):
            w.publish(msg(b"%d" % i), key=str(i))
        _wait_for(lambda: total() >= 40)
        assert seen["a"]
        assert seen["b"]
        b.close()  # its partitions move to a
        for i in range(40, 80):
            w.publish(msg(b"%d" % i), key=str(i))
        _wait_for(lambda: total() >= 80, 20)
        c.open()  # takes partitions from a
        _wait_for(lambda: balanced("a", "c"), 15)
        for i in range(80, 120):
            w.publish(msg(b"%d" % i), key=str(i))
        _wait_for(lambda: total() >= 120, 20)
        assert seen["c"]
    finally:
        w.close()
        for member in members.values():
            member.close()
    counts = Counter(seen["a"] + seen["b"] + seen["c"])
    assert set(counts) == {b"%d" % i for i in range(120)}
    assert all(n == 1 for n in counts.values()), counts.most_common(3)


def _wait_for(cond: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_async_writer_promises(tansu: str, make_topic: Any) -> None:
    topic = make_topic(tansu)
    w = writer(KafkaAsyncWriter, tansu, topic, type_spec={"max_request_size": 2000})
    w.open()
    try:
        promises = [w.publish(msg(b"%d" % i)) for i in range(200)]
        results = [p.get(10) for p in promises]
        assert [md.offset for md in results] == list(range(200))
        then_seen: list[Any] = []
        done = threading.Event()
        w.publish(msg(b"then")).then(lambda md: (then_seen.append(md), done.set()))
        assert done.wait(5)
        assert then_seen[0].offset == 200
        too_big = w.publish(msg(b"x" * 5000))
        with pytest.raises(InvalidMessageError, match="max_request_size"):
            too_big.get(5)
        assert too_big.is_rejected
        sync = writer(KafkaWriter, tansu, topic, type_spec={"max_request_size": 2000})
        sync.open()
        try:
            with pytest.raises(InvalidMessageError, match="too large"):
                sync.publish(msg(b"x" * 5000))
        finally:
            sync.close()
    finally:
        w.close()


def test_async_reader_order_and_failures(tansu: str, make_topic: Any) -> None:
    topic = make_topic(tansu)
    r = reader(KafkaAsyncReader, tansu, topic, type_spec={"group_id": None})
    got: list[bytes] = []
    failures: list[BaseException] = []
    threads: set[str] = set()

    def on_message(value: bytes, _topic: Any, _raw: Any) -> None:
        threads.add(threading.current_thread().name)
        if value == b"bad":
            raise ValueError("cannot decode")
        got.append(value)

    r.on_message = on_message
    r.on_failure = lambda exc, tb: failures.append(exc)
    r.open()
    w = writer(KafkaAsyncWriter, tansu, topic)
    w.open()
    try:
        ps = [w.publish(msg(b"%d" % i if i != 500 else b"bad")) for i in range(1000)]
        for p in ps:
            p.get(10)
        _wait_for(lambda: len(got) >= 999)
    finally:
        w.close()
        r.close()
    assert got == [b"%d" % i for i in range(1000) if i != 500]
    assert len(threads) == 1
    assert [type(e) for e in failures] == [ValueError]


def test_async_reader_seek_and_info(tansu: str, make_topic: Any) -> None:
    topic = make_topic(tansu)
    p = KafkaProducer(bootstrap_servers=tansu)
    for i in range(5):
        # one record per batch: Tansu 0.6 reports a wrong end offset (the base
        # offset of the last batch) after a multi-record batch
        p.send(topic, b"%d" % i).get(5)
    p.close()
    r = reader(KafkaAsyncReader, tansu, topic, type_spec={"group_id": None})
    got: list[bytes] = []
    r.on_message = lambda v, t, raw: got.append(v)
    r.open()
    try:
        assert r.info(["assignment"], {}) == [(topic, 0)]
        assert r.info([], {})["group_id"] is None
        time.sleep(0.2)
        assert got == []
        r.seek_to_beginning()
        _wait_for(lambda: len(got) == 5)
        assert isinstance(r.metrics(), dict)
    finally:
        r.close()
    assert got == [b"%d" % i for i in range(5)]


def test_exactly_once_idempotent_and_transactional(tansu: str, make_topic: Any) -> None:
    topic = make_topic(tansu)
    r = reader(KafkaReader, tansu, topic, consistency="EXACTLY_ONCE",
               type_spec={"group_id": None})  # fmt: skip
    r.open()
    idem = writer(KafkaWriter, tansu, topic, consistency="EXACTLY_ONCE")
    tx = writer(KafkaWriter, tansu, topic, consistency="EXACTLY_ONCE",
                type_spec={"transactional_id": f"tx-{uuid.uuid4().hex[:8]}"})  # fmt: skip
    idem.open()
    tx.open()
    try:
        assert idem.info(["enable_idempotence"], {}) is True
        idem.publish(msg(b"idempotent"))
        tx.publish(msg(b"in-a-transaction"))
        got = [v for v, _t, _r in take(r, 2)]
    finally:
        idem.close()
        tx.close()
        r.close()
    assert got == [b"idempotent", b"in-a-transaction"]


def test_v2_config_flat_params(tansu: str, make_topic: Any) -> None:
    topic = make_topic(tansu)
    v2 = ConfigVersion(2)
    common = {"type": "kafka", "brokers": tansu, "linger_ms": 1}
    w = KafkaWriter(v2, {**common, "topic": topic, "client_id": "v2w"})
    r = KafkaReader(
        v2,
        {**common, "topics": [topic], "client_id": "v2r", "receive_timeout_ms": 2000.0,
         "group_id": None},
    )  # fmt: skip
    r.open()
    w.open()
    try:
        w.publish(msg(b"v2"))
        assert [v for v, _t, _r in take(r, 1)] == [b"v2"]
    finally:
        w.close()
        r.close()


def test_sasl_refused_gives_authentication_error(tansu: str) -> None:
    """Tansu offers no SASL mechanism: the handshake is refused, as bad credentials are."""
    spec = {"sasl_mechanism": "SCRAM-SHA-256", "sasl_plain_username": b"alice",
            "sasl_plain_password": b"wonderland-secret", "bootstrap_timeout_ms": 800}  # fmt: skip
    for cls in (KafkaWriter, KafkaReader):
        plugin = (writer if cls is KafkaWriter else reader)(cls, tansu, "t", type_spec=spec)
        start = time.monotonic()
        with pytest.raises(AuthenticationError) as info:
            plugin.open()
        assert time.monotonic() - start < 3
        assert "sasl_mechanism" in str(info.value)
        assert "wonderland" not in str(info.value)
        assert "wonderland" not in repr(info.value)
