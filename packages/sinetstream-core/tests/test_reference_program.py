"""A program written for SINETStream 1.10 runs unchanged on the queue backend."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CONFIG = """\
header:
  version: 3
config:
  service-1:
    type: queue
    brokers: reference-program
    topic: sensor
    value_type: text
    consistency: AT_LEAST_ONCE
    data_encryption: true
    crypto:
      algorithm: AES
      key_length: 256
      mode: GCM
      password: my-secret-password
    data_compression: true
    compression:
      algorithm: zstd
"""

# Only names and calls documented for SINETStream 1.10.
PROGRAM = """\
import threading
from sinetstream import (MessageReader, MessageWriter, AsyncMessageWriter, AsyncMessageReader,
                         AT_LEAST_ONCE, TEXT, SinetError, InvalidArgumentError)

received = []
done = threading.Event()

def on_message(message):
    received.append(message.value)
    if len(received) == 6:
        done.set()

areader = AsyncMessageReader('service-1')
areader.on_message = on_message
areader.open()

with MessageReader('service-1', receive_timeout_ms=500) as reader:
    assert reader.consistency == AT_LEAST_ONCE
    assert reader.value_type == TEXT
    with MessageWriter('service-1') as writer:
        for i in range(3):
            writer.publish('message %d' % i)
        print('writer', writer.metrics.msg_count_total)
    for message in reader:
        print(message.topic, message.value, message.timestamp > 0)
    print('reader', reader.metrics.msg_count_total, reader.metrics.error_count_total)

with AsyncMessageWriter('service-1') as writer:
    results = []
    for i in range(3):
        writer.publish('async %d' % i).then(lambda _: results.append('ok'))
print('async', results)
assert done.wait(5)
areader.close()
print('callbacks', sorted(received))
try:
    MessageWriter('service-1', consistency='SOMETIMES')
except InvalidArgumentError:
    print('bad consistency refused')
"""


def test_reference_program_runs_unchanged(tmp_path: Path) -> None:
    (tmp_path / ".sinetstream_config.yml").write_text(CONFIG)
    (tmp_path / "program.py").write_text(PROGRAM)
    out = subprocess.run(
        [sys.executable, "program.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == textwrap.dedent("""\
        writer 3
        sensor message 0 True
        sensor message 1 True
        sensor message 2 True
        reader 3 0
        async ['ok', 'ok', 'ok']
        callbacks ['async 0', 'async 1', 'async 2', 'message 0', 'message 1', 'message 2']
        bad consistency refused
        """)
