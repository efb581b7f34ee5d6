"""Test support: Mosquitto processes, generated certificates, plugin params.

One session broker serves five listeners (plain, password + ACL, TLS
server-only, TLS with client certificates, websockets); tests that restart
their broker start their own. Mosquitto started as root drops to the user
``mosquitto``, so every generated file is world-readable (644 / 755).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sinetstream.testing.tls import Certificates, make_certificates

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"

USERS = {"alice": "alice-secret", "bob": "bob-secret"}
# alice may do anything under test/; bob may only read test/ and write bob/.
ACL = """\
user alice
topic readwrite test/#
topic readwrite sinetstream/#

user bob
topic read test/#
topic readwrite bob/#
"""


def free_port() -> int:
    """A TCP port nobody listens on right now (on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _world_readable(path: Path) -> None:
    path.chmod(0o755)
    for p in path.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)


# -- certificates -------------------------------------------------------------

Certs = Certificates


def make_certs(folder: Path) -> Certs:
    """The test PKI; the client leaf's CN ``certuser`` becomes its MQTT user name."""
    return make_certificates(folder, client_cn="certuser")


# -- Mosquitto ------------------------------------------------------------------


@dataclass
class Mosquitto:
    """One Mosquitto process started from a generated config; stopped by PID."""

    folder: Path
    config: str
    ports: dict[str, int]
    certs: Certs | None = None
    #: Folders the broker writes to (persistence), made writable for its user.
    writable: tuple[Path, ...] = ()
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def conf_path(self) -> Path:
        return self.folder / "mosquitto.conf"

    def broker(self, listener: str = "plain") -> str:
        """``127.0.0.1:<port>`` of a listener."""
        return f"127.0.0.1:{self.ports[listener]}"

    def start(self) -> None:
        self.conf_path.write_text(self.config)
        _world_readable(self.folder)
        for path in self.writable:
            path.chmod(0o777)
        log = (self.folder / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf_path)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        port = next(iter(self.ports.values()))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"mosquitto did not start: {self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM (Mosquitto saves its persistence file) and wait."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def password_file(folder: Path) -> Path:
    path = folder / "passwd"
    for i, (user, pw) in enumerate(USERS.items()):
        flags = ["-c"] if i == 0 else []
        subprocess.run(
            [MOSQUITTO_PASSWD, *flags, "-b", str(path), user, pw],
            check=True,
            capture_output=True,
        )
    return path


def spi_params(broker: str, **extra: Any) -> dict[str, Any]:
    """The params dict the core hands to a plugin (config version 3 shape)."""
    params: dict[str, Any] = {
        "type": "mqtt",
        "brokers": broker,
        "consistency": "AT_LEAST_ONCE",
        "receive_timeout_ms": 5000.0,
        "type_spec": {},
    }
    params.update(extra)
    # No client_id: paho then lets the broker assign one, so a reader and a
    # writer built from the same dict do not kick each other off.
    return params
