"""A writer process killed mid-stream, for durability tests against a real broker.

    delivered = run_killed_writer(params, "sync", after=300)
    # every number in `delivered` must now reach a reader that was subscribed

The child process publishes the numbers 0, 1, 2, ... as text through the public
API and reports each one once it is delivered in the sense the API promises:
``MessageWriter.publish`` returned (``"sync"``) or the promise of
``AsyncMessageWriter.publish`` resolved (``"async"``). Once ``after`` numbers
were reported, the child is killed with SIGKILL: no ``close()``, no flush.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from typing import Any

__all__ = ["run_killed_writer"]

_CHILD = """
import json, sys, time
from sinetstream import AsyncMessageWriter, MessageWriter

params, mode, pause = json.loads(sys.argv[1]), sys.argv[2], float(sys.argv[3])
out = sys.stdout

def report(seq):
    def fulfilled(_receipt):
        out.write(f"{seq}\\n")
        out.flush()
    return fulfilled

if mode == "sync":
    with MessageWriter(**params) as writer:
        for seq in range(10_000_000):
            writer.publish(str(seq))
            report(seq)(None)
            time.sleep(pause)
else:
    with AsyncMessageWriter(**params) as writer:
        for seq in range(10_000_000):
            writer.publish(str(seq)).then(report(seq))
            time.sleep(pause)
"""


def run_killed_writer(
    params: dict[str, Any], mode: str, after: int, pause: float = 0.001, timeout: float = 60.0
) -> list[int]:
    """Run a writer process and SIGKILL it once it reported ``after`` messages as delivered.

    ``params`` are the writer's keyword arguments (JSON-serializable: ``no_config``,
    ``type``, ``brokers``, ``topic``, ...; ``value_type`` is forced to text).
    ``mode`` is ``"sync"`` or ``"async"``; ``pause`` is slept between publishes.
    Returns every number the child reported before it died, in report order.
    Raises :class:`RuntimeError` when the child exits early or reports too few
    within ``timeout`` seconds.
    """
    if mode not in ("sync", "async"):
        raise ValueError(f"mode must be 'sync' or 'async', not {mode!r}")
    argv = [sys.executable, "-c", _CHILD, json.dumps({**params, "value_type": "text"}), mode]
    proc = subprocess.Popen(
        [*argv, str(pause)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    killer = threading.Timer(timeout, proc.kill)  # a stuck writer must not hang the test
    killer.daemon = True
    killer.start()
    reported: list[int] = []
    try:
        for line in proc.stdout:
            reported.append(int(line))
            if len(reported) >= after:
                os.kill(proc.pid, signal.SIGKILL)
                break
        # numbers already in the pipe when the child died were reported too
        reported.extend(int(line) for line in proc.stdout)
    finally:
        killer.cancel()
        proc.kill()
        stderr = proc.communicate(timeout=10)[1]
    if len(reported) < after or proc.returncode != -signal.SIGKILL:
        raise RuntimeError(
            f"the writer process reported {len(reported)} of {after} and exited with "
            f"{proc.returncode}: {stderr[-2000:]}"
        )
    return reported
