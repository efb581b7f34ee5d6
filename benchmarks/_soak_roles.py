"""The processes of the soak: a paced writer and a counting reader, through the public API.

Run by ``soak.py`` as ``python _soak_roles.py ROLE SPEC_JSON``. Each message is
1 KiB whose first 8 bytes are its sequence number; every service uses AES-GCM-256.
Both roles print a progress line every 10 s and write one JSON result file at the end.

* ``writer``: an :class:`~sinetstream.AsyncMessageWriter` paced at ``rate`` msgs/s for
  ``duration`` s; counts the promises fulfilled and keeps the numbers of those rejected.
* ``reader``: a :class:`~sinetstream.MessageReader` marking each number in a bitmap
  allocated up front (so counting does not grow the process); stops when every
  message the writer published was seen, or ``grace`` s after the writer finished.
* ``both``: the two above as threads of one process (the in-process queue backend).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sinetstream import AsyncMessageWriter, MessageReader

SIZE = 1024
PASSWORD = "soak-Pässw0rd-0123456789"
CRYPTO = {
    "data_encryption": True,
    "crypto": {"algorithm": "AES", "mode": "GCM", "key_length": 256, "password": PASSWORD},
}
PROGRESS_EVERY = 10.0


def _say(role: str, text: str) -> None:
    print(f"    [{role}] {text}", flush=True)


def run_writer(spec: dict[str, Any]) -> dict[str, Any]:
    """Publish at the given rate; return what was published, acknowledged and failed."""
    rate, duration = float(spec["rate"]), float(spec["duration"])
    payload = bytearray(SIZE)
    lock = threading.Lock()
    acked = [0]
    failed: list[int] = []

    def fulfilled(_receipt: Any) -> None:
        with lock:
            acked[0] += 1

    def rejected_for(seq: int) -> Any:
        def rejected(_error: Exception) -> None:
            with lock:
                failed.append(seq)

        return rejected

    seq = 0
    params = {**spec["params"], **spec["writer_params"]}
    with AsyncMessageWriter(no_config=True, **params, **CRYPTO) as writer:
        start = time.monotonic()
        next_report = start + PROGRESS_EVERY
        while (now := time.monotonic()) - start < duration:
            due = int((now - start) * rate) + 1
            while seq < due:
                payload[:8] = seq.to_bytes(8, "big")
                writer.publish(bytes(payload)).then(fulfilled, rejected_for(seq))
                seq += 1
            if now >= next_report:
                _say("writer", f"t={now - start:4.0f}s published={seq} acked={acked[0]}")
                next_report += PROGRESS_EVERY
            time.sleep(max(0.0, start + (seq + 1) / rate - time.monotonic()))
        deadline = time.monotonic() + 60
        while acked[0] + len(failed) < seq and time.monotonic() < deadline:
            time.sleep(0.05)
        elapsed = time.monotonic() - start
    with lock:
        return {"published": seq, "acked": acked[0], "failed": sorted(failed), "elapsed": elapsed}


def run_reader(spec: dict[str, Any], ready: Path, writer_done: Path) -> dict[str, Any]:
    """Count every message by number until the writer's messages are all in (or grace ends)."""
    capacity = int(spec["rate"] * spec["duration"] * 1.5) + 10_000
    seen = bytearray(capacity)
    received = distinct = duplicates = out_of_range = 0
    expected: int | None = None
    done_at = 0.0
    params = {**spec["params"], **spec["reader_params"]}
    with MessageReader(no_config=True, receive_timeout_ms=1000, **params, **CRYPTO) as reader:
        ready.touch()
        start = time.monotonic()
        next_report = start + PROGRESS_EVERY
        while True:
            for message in reader:
                seq = int.from_bytes(message.value[:8], "big")
                received += 1
                if seq >= capacity:
                    out_of_range += 1
                elif seen[seq]:
                    duplicates += 1
                else:
                    seen[seq] = 1
                    distinct += 1
                if received % 1000 == 0:
                    break
            now = time.monotonic()
            if now >= next_report:
                _say("reader", f"t={now - start:4.0f}s received={received} distinct={distinct}")
                next_report += PROGRESS_EVERY
            if expected is None and writer_done.exists():
                expected = int(json.loads(writer_done.read_text())["published"])
                done_at = now
            if expected is not None and (
                distinct >= expected or now - done_at > float(spec["grace"])
            ):
                break
    missing = [i for i in range(expected or 0) if not seen[i]]
    return {
        "received": received,
        "distinct": distinct,
        "duplicates": duplicates,
        "out_of_range": out_of_range,
        "missing": missing[:100],
        "missing_count": len(missing),
    }


def main(role: str, spec_json: str) -> None:
    spec = json.loads(spec_json)
    folder = Path(spec["folder"])
    ready, writer_done = folder / "reader.ready", folder / "writer.json"
    if role == "writer":
        writer_done.write_text(json.dumps(run_writer(spec)))
    elif role == "reader":
        (folder / "reader.json").write_text(json.dumps(run_reader(spec, ready, writer_done)))
    elif role == "both":
        result: dict[str, Any] = {}

        def read() -> None:
            result.update(run_reader(spec, ready, writer_done))

        thread = threading.Thread(target=read, name="soak-reader")
        thread.start()
        while not ready.exists():
            time.sleep(0.01)
        writer_done.write_text(json.dumps(run_writer(spec)))
        thread.join()
        (folder / "reader.json").write_text(json.dumps(result))
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
