"""A round trip through an installed sinetstream, run by ``nox -s release`` in a fresh venv.

Usage: ``python -I roundtrip.py '{"type": "kafka", "brokers": "127.0.0.1:9092", ...}'``.
Copied out of the checkout before it runs, it imports only what pip installed: it
fails when any ``sinetstream*`` module comes from outside the venv. Messages go
through encryption and zstd compression, so those dependencies are exercised too.
"""

from __future__ import annotations

import json
import sys
import uuid
from importlib import metadata
from pathlib import Path

import sinetstream
from sinetstream import MessageReader, MessageWriter

COUNT = 20


def main() -> None:
    params = json.loads(sys.argv[1])
    topic = f"release-{uuid.uuid4().hex[:12]}"
    options = {
        "no_config": True,
        "value_type": "text",
        "data_compression": True,
        "compression": {"algorithm": "zstd"},
        "data_encryption": True,
        "crypto": {"algorithm": "AES", "key_length": 256, "mode": "GCM", "password": "release"},
        **params,
    }
    sent = [f"message {i} of {topic}" for i in range(COUNT)]
    with MessageReader(None, topic, receive_timeout_ms=10_000, **options) as reader:
        with MessageWriter(None, topic, **options) as writer:
            for value in sent:
                writer.publish(value)
        received = []
        for message in reader:
            received.append(message.value)
            if len(received) == COUNT:
                break
    # Sorted: a topic Kafka creates on first use has several partitions, ordered each.
    if sorted(received) != sorted(sent):
        sys.exit(f"roundtrip: sent {COUNT}, received {received!r}")
    venv = Path(sys.prefix).resolve()
    ours = {
        m: mod for m, mod in sys.modules.items() if m.partition(".")[0].startswith("sinetstream")
    }
    outside = [
        m for m, mod in ours.items() if venv not in Path(mod.__file__ or "/").resolve().parents
    ]
    if outside:
        sys.exit(f"roundtrip: modules from outside {venv}: {outside}")
    installed = sorted(
        f"{d.metadata['Name']} {d.version}"
        for d in metadata.distributions()
        if d.metadata["Name"].startswith("sinetstream")
    )
    print(
        f"roundtrip: {params['type']}: {COUNT} encrypted, compressed messages through "
        f"{', '.join(installed)} (core {sinetstream.__version__}, all from {venv})"
    )


if __name__ == "__main__":
    main()
