"""Raw client baselines: the jobs of the SINETStream driver, on paho-mqtt 2.x and kafka-python 3.x.

Job ``params`` use SINETStream's names (``type``, ``brokers``, ``topic`` /
``topics``, ``consistency``) so that ``run.py`` sends one job to every
implementation. The raw side sends and receives the bytes as they are.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from types import ModuleType
from typing import Any

QOS = {"AT_MOST_ONCE": 0, "AT_LEAST_ONCE": 1, "EXACTLY_ONCE": 2}


def _host_port(brokers: str, default: int) -> tuple[str, int]:
    host, _, port = brokers.partition(":")
    return host, int(port or default)


class _Mqtt:
    """A connected paho-mqtt 2.x client (callback API version 2, MQTT 3.1.1)."""

    def __init__(self, params: dict[str, Any]) -> None:
        import paho.mqtt.client as mqtt

        self.qos = QOS[params.get("consistency", "AT_MOST_ONCE")]
        spec = params.get("type_spec") or {}
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=params.get("client_id") or f"bench-raw-{uuid.uuid4().hex[:12]}",
            clean_session=spec.get("clean_session", True),
            protocol=mqtt.MQTTv311,
        )
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.client.on_connect = lambda *_a: self.connected.set()
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        host, port = _host_port(params["brokers"], 1883)
        self.client.connect(host, port)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise RuntimeError("raw paho: no CONNACK within 10 s")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class _Kafka:
    @staticmethod
    def producer(params: dict[str, Any]) -> Any:
        """A producer with the delivery settings ours uses at AT_LEAST_ONCE.

        acks=all (kafka-python's own default) without the idempotent producer:
        the same work for the broker, so the ratio is the library's overhead.
        """
        from kafka import KafkaProducer

        return KafkaProducer(
            bootstrap_servers=params["brokers"], acks="all", enable_idempotence=False
        )

    @staticmethod
    def consumer(params: dict[str, Any], topics: list[str], timeout_ms: int) -> Any:
        """A group-less consumer assigned every partition of ``topics`` from the start.

        assign() skips the subscription round trips: the raw client at its best.
        """
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(
            bootstrap_servers=params["brokers"],
            group_id=None,
            auto_offset_reset="earliest",
            consumer_timeout_ms=timeout_ms,
        )
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or {0})
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        return consumer


def _topics(params: dict[str, Any]) -> list[str]:
    topics: str | list[str] = params.get("topics") or params["topic"]
    return [topics] if isinstance(topics, str) else list(topics)


class RawImpl:
    """Jobs run on the raw client libraries."""

    def __init__(self, workload: ModuleType) -> None:
        self.workload = workload

    def hello(self) -> dict[str, Any]:
        import sys
        from importlib import metadata

        versions: dict[str, str | None] = {}
        for dist in ("paho-mqtt", "kafka-python", "crc32c"):
            try:
                versions[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                versions[dist] = None
        return {"impl": "raw", "version": versions, "python": sys.version.split()[0]}

    # -- codec: the bare primitive, the ceiling for any framing around it -----------------

    def codec(self, job: dict[str, Any]) -> Any:
        """Time the compression or cipher call alone, on the same payload as the codec job."""
        wl = self.workload
        payload = wl.make_payload(job["size"], job.get("kind", "text"))
        encode, decode = _primitive(job["params"])
        fn = encode if job["direction"] == "encode" else decode
        data = payload if job["direction"] == "encode" else encode(payload)
        n = 0
        start = now = time.perf_counter()
        deadline = start + job["duration"]
        while now < deadline:
            for _ in range(64):
                fn(data)
            n += 64
            now = time.perf_counter()
        return wl.Measurement(n, n * len(payload), now - start)

    def roundtrip(self, job: dict[str, Any]) -> Any:
        """Time the bare primitive's encode and decode of one payload, back to back."""
        wl = self.workload
        payload = wl.make_payload(job["size"], job.get("kind", "text"))
        encode, decode = _primitive(job["params"])
        n = 0
        start = now = time.perf_counter()
        deadline = start + job["duration"]
        while now < deadline:
            for _ in range(64):
                decode(encode(payload))
            n += 64
            now = time.perf_counter()
        return wl.Measurement(n, n * len(payload), now - start)

    # -- writers -----------------------------------------------------------------------

    def write(self, job: dict[str, Any]) -> Any:
        wl = self.workload
        payload = wl.make_payload(job["size"], job.get("kind", "random"))
        writer = self._writer(job["params"], job.get("async", False))
        try:
            return wl.write_messages_on(
                writer,
                payload,
                count=job["count"],
                duration=job["duration"],
                async_api=job.get("async", False),
            )
        finally:
            writer.close()

    def prime(self, job: dict[str, Any]) -> Any:
        """Create a persistent MQTT session (subscribe, disconnect) for a reader to resume.

        The broker then queues the feed for that session, so the reader drains a
        backlog at its own speed instead of being paced by a live publisher.
        """
        conn = _Mqtt(job["params"])
        for topic in _topics(job["params"]):
            conn.client.subscribe(topic, conn.qos)
        if not conn.subscribed.wait(10):
            raise RuntimeError("raw paho: no SUBACK within 10 s")
        conn.close()
        return {}

    def create_topic(self, job: dict[str, Any]) -> Any:
        """Create a Kafka topic with ``partitions`` partitions (1: one ordered log to read)."""
        from kafka.admin import KafkaAdminClient, NewTopic

        admin = KafkaAdminClient(bootstrap_servers=job["params"]["brokers"])
        try:
            admin.create_topics([NewTopic(job["topic"], job.get("partitions", 1), 1)])
        finally:
            admin.close()
        return {}

    def feed(self, job: dict[str, Any]) -> Any:
        """Publish ``count`` copies of ``wire_hex`` as fast as possible (a reader's input)."""
        wire = bytes.fromhex(job["wire_hex"])
        writer = self._writer(job["params"], True)
        try:
            start = time.perf_counter()
            promises = [writer.publish(wire) for _ in range(job["count"])]
            for promise in promises:
                promise.get(60)
            seconds = time.perf_counter() - start
        finally:
            writer.close()
        return self.workload.Measurement(len(promises), len(promises) * len(wire), seconds)

    def _writer(self, params: dict[str, Any], async_api: bool) -> Any:
        if params["type"] == "mqtt":
            return _MqttWriter(params, async_api)
        if params["type"] == "kafka":
            return _KafkaWriter(params, async_api)
        raise ValueError(f"no raw baseline for type {params['type']!r}")

    # -- readers -----------------------------------------------------------------------

    def open_reader(self, job: dict[str, Any]) -> list[float]:
        """Seconds each ``KafkaConsumer(topic)`` took to build (it connects and subscribes;
        partitions and positions come at the first poll), on a topic that holds a message."""
        from kafka import KafkaConsumer

        writer = _KafkaWriter(job["writer_params"], False)
        try:
            writer.publish(os.urandom(job["size"]))
        finally:
            writer.close()
        params = job["params"]
        times: list[float] = []
        for _ in range(job["repeat"]):
            start = time.perf_counter()
            consumer = KafkaConsumer(
                *_topics(params), bootstrap_servers=params["brokers"], group_id=None
            )
            times.append(time.perf_counter() - start)
            consumer.close()
        return times

    def read(self, job: dict[str, Any], ready: Callable[[], None]) -> Any:
        params = job["params"]
        timeout_s = params.get("receive_timeout_ms", 3000) / 1000
        if params["type"] == "mqtt":
            return self._read_mqtt(params, job["count"], timeout_s, ready)
        if params["type"] == "kafka":
            return self._read_kafka(params, job["count"], timeout_s, ready)
        raise ValueError(f"no raw baseline for type {params['type']!r}")

    def _read_mqtt(
        self, params: dict[str, Any], count: int, timeout_s: float, ready: Callable[[], None]
    ) -> Any:
        start = time.perf_counter()
        conn = _Mqtt(params)
        stamps: list[float] = []
        nbytes = [0]
        done = threading.Event()

        def on_message(_client: Any, _userdata: Any, msg: Any) -> None:
            stamps.append(time.perf_counter())
            nbytes[0] += len(msg.payload)
            if len(stamps) >= count:
                done.set()

        conn.client.on_message = on_message
        for topic in _topics(params):
            conn.client.subscribe(topic, conn.qos)
        conn.subscribed.wait(10)
        ready()
        seen = -1
        while not done.wait(timeout_s):
            if len(stamps) == seen:  # idle for timeout_s: the feed is over
                break
            seen = len(stamps)
        conn.close()
        return self._reader_measure(start, stamps, nbytes[0])

    def _read_kafka(
        self, params: dict[str, Any], count: int, timeout_s: float, ready: Callable[[], None]
    ) -> Any:
        start = time.perf_counter()
        consumer = _Kafka.consumer(params, _topics(params), int(timeout_s * 1000))
        ready()
        stamps: list[float] = []
        nbytes = 0
        try:
            for record in consumer:
                stamps.append(time.perf_counter())
                nbytes += len(record.value)
                if len(stamps) >= count:
                    break
        finally:
            consumer.close()
        return self._reader_measure(start, stamps, nbytes)

    def _reader_measure(self, start: float, stamps: list[float], nbytes: int) -> Any:
        """From before connecting to the last message, as ``_workload.read_messages``."""
        n = len(stamps)
        return self.workload.Measurement(n, nbytes, stamps[-1] - start if n else 0.0)


def _primitive(params: dict[str, Any]) -> tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]:
    """(encode, decode) doing only what a codec option costs: zlib, zstd, AES-GCM, AES-CBC."""
    import os
    import zlib

    if params.get("data_compression"):
        algorithm = params["compression"]["algorithm"]
        if algorithm == "gzip":
            return zlib.compress, zlib.decompress
        import zstandard

        compressor = zstandard.ZstdCompressor(level=3)
        decompressor = zstandard.ZstdDecompressor()
        return compressor.compress, decompressor.decompress
    crypto = params["crypto"]
    key = os.urandom(crypto["key_length"] // 8)  # derived once per writer, as in the codec
    if crypto["mode"] == "GCM":
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        aead = AESGCM(key)
        salt = os.urandom(8)  # one per writer, as in the codec

        # The associated data is salt ‖ nonce (24 bytes), as in the SINETStream format.
        def gcm_encrypt(data: bytes) -> bytes:
            nonce = os.urandom(16)
            aad = salt + nonce
            return aad + aead.encrypt(nonce, data, aad)

        def gcm_decrypt(blob: bytes) -> bytes:
            return aead.decrypt(blob[8:24], blob[24:], blob[:24])

        return gcm_encrypt, gcm_decrypt
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    def cbc_encrypt(data: bytes) -> bytes:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(data) + padder.finalize()
        enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        return iv + enc.update(padded) + enc.finalize()

    def cbc_decrypt(blob: bytes) -> bytes:
        dec = Cipher(algorithms.AES(key), modes.CBC(blob[:16])).decryptor()
        padded = dec.update(blob[16:]) + dec.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()

    return cbc_encrypt, cbc_decrypt


class _Settled:
    """The result of a raw publish, with the promise's ``get(timeout)``."""

    __slots__ = ("_wait",)

    def __init__(self, wait: Callable[[float], Any]) -> None:
        self._wait = wait

    def get(self, timeout: float) -> Any:
        return self._wait(timeout)


class _MqttWriter:
    """``publish`` + ``wait_for_publish`` (sync) or ``publish`` alone (async)."""

    def __init__(self, params: dict[str, Any], async_api: bool) -> None:
        self.conn = _Mqtt(params)
        self.topic = _topics(params)[0]
        self.async_api = async_api

    def publish(self, value: bytes) -> Any:
        info = self.conn.client.publish(self.topic, value, self.conn.qos)
        if self.async_api:
            return _Settled(info.wait_for_publish)
        info.wait_for_publish(60)
        return info

    def close(self) -> None:
        self.conn.close()


class _KafkaWriter:
    """``send().get()`` (sync) or fire-and-forget ``send`` (async), acks=all."""

    def __init__(self, params: dict[str, Any], async_api: bool) -> None:
        self.producer = _Kafka.producer(params)
        self.topic = _topics(params)[0]
        self.async_api = async_api

    def publish(self, value: bytes) -> Any:
        future = self.producer.send(self.topic, value)
        if self.async_api:
            return _Settled(future.get)
        return future.get(60)

    def close(self) -> None:
        self.producer.close()
