"""Bridge throughput, MQTT -> Kafka at 1 KiB, against the slower of the two raw clients.

    python benchmarks/bridge.py [--count 20000] [--rounds 3] [--docs docs]

Three measurements per round, on a private Mosquitto and Tansu (``_brokers.py``):

* raw MQTT: a paho-mqtt QoS 1 subscriber resumes its persistent session, which
  the broker filled while it was away, and drains it (timed from connect);
* raw Kafka: a kafka-python producer (acks=all, the bridge writer's batch
  size) sends the same number of messages without waiting, timed until every
  one is acknowledged;
* bridge: ``sinetstream.Bridge`` (passthrough, at least once) resumes its
  session filled the same way and forwards to Kafka (acks=all), timed from
  ``run()`` until every message is acknowledged on the MQTT side, i.e. the
  destination acknowledged it first.

The medians go into the "Bridge" section of docs/performance.md (between
markers that ``nox -s bench`` keeps when it rewrites the page).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import paho.mqtt.client as mqtt
from _brokers import mosquitto, tansu
from _sections import put_section
from paho.mqtt.enums import CallbackAPIVersion

BEGIN, END = "<!-- bridge: benchmarks/bridge.py -->", "<!-- /bridge -->"


def _client(port: int, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    return client


def _subscribe_once(port: int, client_id: str, topic: str) -> None:
    """Create the persistent session and its QoS 1 subscription, then leave."""
    client = _client(port, client_id)
    done = threading.Event()
    client.on_subscribe = lambda *a: done.set()
    client.loop_start()
    client.subscribe(topic, 1)
    done.wait(5)
    client.disconnect()
    client.loop_stop()


def _fill(port: int, topic: str, count: int, payload: bytes) -> None:
    client = _client(port, f"fill-{uuid.uuid4().hex[:8]}")
    client.loop_start()
    infos = [client.publish(topic, payload, 1) for _ in range(count)]
    for info in infos:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


def raw_mqtt(port: int, count: int, payload: bytes) -> float:
    topic, cid = f"raw/{uuid.uuid4().hex[:8]}", f"raw-{uuid.uuid4().hex[:8]}"
    _subscribe_once(port, cid, topic)
    _fill(port, topic, count, payload)
    got = 0
    done = threading.Event()

    def on_message(*_: Any) -> None:
        nonlocal got
        got += 1
        if got >= count:
            done.set()

    start = time.perf_counter()
    client = _client(port, cid)
    client.on_message = on_message
    client.loop_start()
    done.wait(120)
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return count / elapsed


def raw_kafka(port: int, count: int, payload: bytes) -> float:
    from kafka import KafkaProducer
    from sinetstream_kafka._params import DEFAULT_BATCH_SIZE

    # The batch size the bridge's writer uses, so that only the bridge's own work differs.
    producer = KafkaProducer(
        bootstrap_servers=f"127.0.0.1:{port}", acks="all", batch_size=DEFAULT_BATCH_SIZE
    )
    topic = f"raw-{uuid.uuid4().hex[:8]}"
    producer.send(topic, payload).get(30)  # topic created, metadata known
    start = time.perf_counter()
    futures = [producer.send(topic, payload) for _ in range(count)]
    producer.flush()
    for f in futures:
        f.get(30)
    elapsed = time.perf_counter() - start
    producer.close()
    return count / elapsed


def bridge(mqtt_port: int, kafka_port: int, count: int, payload: bytes, folder: Path) -> float:
    from sinetstream import Bridge

    topic, cid = f"bridge/{uuid.uuid4().hex[:8]}", f"bridge-{uuid.uuid4().hex[:8]}"
    kafka_topic = f"bridged-{uuid.uuid4().hex[:8]}"
    config = folder / f"{cid}.yml"
    config.write_text(
        "header: {version: 3}\nconfig:\n"
        f"  sensors: {{type: mqtt, brokers: '127.0.0.1:{mqtt_port}', topic: '{topic}', "
        f"client_id: {cid}, type_spec: {{persistent_session: true}}}}\n"
        f"  analytics: {{type: kafka, brokers: '127.0.0.1:{kafka_port}', "
        f"topic: {kafka_topic}}}\n"
    )
    _subscribe_once(mqtt_port, cid, topic)
    _fill(mqtt_port, topic, count, payload)
    b = Bridge("sensors", "analytics", config_file=str(config))
    start = time.perf_counter()
    with b:
        while b.metrics.acknowledged < count:
            time.sleep(0.005)
        elapsed = time.perf_counter() - start
    return count / elapsed


def write_section(
    docs: Path, rows: dict[str, float], ratio: float, count: int, rounds: int
) -> None:
    page = docs / "performance.md"
    section = "\n".join(
        [
            BEGIN,
            "## Bridge, MQTT → Kafka (Mosquitto and Tansu on loopback, 1 KiB)",
            "",
            f"`python benchmarks/bridge.py`: {count:,} messages, median of {rounds} rounds "
            "after a warm-up round, "
            f"measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
            f"{os.cpu_count()} CPUs. The bridge forwards passthrough at least once "
            "(QoS 1 in, acks=all out, MQTT PUBACK only after Kafka acknowledged); the raw "
            "clients each do their half alone: a paho QoS 1 subscriber draining its "
            "persistent session, a kafka-python producer with acks=all and the batch size "
            "the bridge's writer uses.",
            "",
            "| case | msgs/s |",
            "|---|---|",
            f"| raw paho-mqtt QoS 1 subscriber | {rows['raw_mqtt']:,.0f} |",
            f"| raw kafka-python producer, acks=all | {rows['raw_kafka']:,.0f} |",
            f"| sinetstream bridge MQTT → Kafka | {rows['bridge']:,.0f} |",
            "",
            f"| target | ratio | measured | target | verdict |\n|---|---|---|---|---|\n"
            f"| #19 | bridge / slower raw client (median of the rounds' ratios) | {ratio:.2f} | "
            "≥ 0.7 | "
            f"{'pass' if ratio >= 0.7 else 'FAIL'} |",
            END,
        ]
    )
    put_section(page, section)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--docs", type=Path, help="update DOCS/performance.md")
    args = parser.parse_args()
    payload = os.urandom(1024)
    results: dict[str, list[float]] = {"raw_mqtt": [], "raw_kafka": [], "bridge": []}
    with mosquitto() as mqtt_port, tansu() as kafka_port, tempfile.TemporaryDirectory() as tmp:
        # Round 0 warms up (imports, first connections, topic metadata) and is not kept.
        for r in range(args.rounds + 1):
            results["raw_mqtt"].append(raw_mqtt(mqtt_port, args.count, payload))
            results["raw_kafka"].append(raw_kafka(kafka_port, args.count, payload))
            results["bridge"].append(bridge(mqtt_port, kafka_port, args.count, payload, Path(tmp)))
            print(f"round {r}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in results.items()))
            if r == 0:
                results = {k: [] for k in results}
    rows = {k: statistics.median(v) for k, v in results.items()}
    # The ratio of each round (its three runs were back to back), then the median.
    ratio = statistics.median(
        b / min(m, k)
        for b, m, k in zip(
            results["bridge"], results["raw_mqtt"], results["raw_kafka"], strict=True
        )
    )
    print(", ".join(f"{k} {v:,.0f} msg/s" for k, v in rows.items()) + f"; ratio {ratio:.2f}")
    if args.docs is not None:
        write_section(args.docs, rows, ratio, args.count, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
