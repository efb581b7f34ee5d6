"""When a reader reports a lost connection: once per outage of at least 2 s.

paho reconnects by itself. A connection it re-establishes within
:data:`OUTAGE_REPORT_S` (a keepalive drop after a stalled consumer, a broker
restarted at once) is only logged: SINETStream 1.10's readers never reported
it, and a ``for msg in reader:`` loop written for them would end on it. A
connection down for longer is reported once, as the Kafka readers do
(``sinetstream_kafka._fetch.OUTAGE_REPORT_S`` and ``ConnectionWatch``: the
same 2 s, and a connection ends an outage only once it has stayed up 1 s, so
a broker that accepts connections and drops them at once is one outage).

The check runs on a timer thread, armed when a connection is lost: paho's
network thread never waits for it, and received messages cost nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from paho.mqtt.reasoncodes import ReasonCode
from sinetstream.error import ConnectionError as SinetConnectionError
from sinetstream.error import SinetError

from ._client import BufferedClient
from ._connection import MqttConnection, log

__all__ = ["OUTAGE_REPORT_S", "RECONNECTED_S", "OutageWatch", "ReaderConnection"]

# A reader reports a lost connection once it has had none for this long (Kafka's value).
OUTAGE_REPORT_S = 2.0
# How long a connection must stay up to end an outage (Kafka's value).
RECONNECTED_S = 1.0


class OutageWatch:
    """Calls ``report`` (on a timer thread) once per outage of :data:`OUTAGE_REPORT_S`.

    ``lost`` and ``connected`` are called on paho's network thread; ``check``
    on the timer thread (tests call it with their own ``clock``).
    """

    def __init__(
        self,
        report: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
        report_after: float = OUTAGE_REPORT_S,
    ) -> None:
        self._report = report
        self._clock = clock
        self.report_after = report_after
        self._lock = threading.Lock()
        self._down_since: float | None = None  # start of the open outage
        self._up_since: float | None = None  # the current connection's CONNACK
        self._reported = False
        self._timer: threading.Timer | None = None
        self._timer_due = 0.0  # when the pending check runs (clock time)
        self._closed = False

    def lost(self) -> None:
        """A connection was lost: an outage starts, or the one still open goes on."""
        with self._lock:
            now = self._clock()
            up = self._up_since
            if self._down_since is None or (up is not None and now - up >= RECONNECTED_S):
                self._down_since = now
                self._reported = False
            self._up_since = None
            if not self._reported:
                self._arm(self._down_since + self.report_after - now)

    def connected(self) -> None:
        """A connection was established (it ends the outage once it stayed up)."""
        with self._lock:
            self._up_since = self._clock()

    def check(self) -> None:
        """Report the outage if it lasted long enough; else look again when it may have."""
        with self._lock:
            if self._timer is threading.current_thread():
                self._timer = None  # (a check that was replaced leaves the new one be)
            down = self._down_since
            if self._closed or down is None or self._reported:
                return
            now = self._clock()
            up = self._up_since
            if up is not None:
                if now - up >= RECONNECTED_S:
                    self._down_since = None  # the outage is over, unreported
                else:
                    self._arm(up + RECONNECTED_S - now)
                return
            if now - down < self.report_after:
                self._arm(down + self.report_after - now)
                return
            self._reported = True
        self._report()  # outside the lock: on_failure may take its time

    def close(self) -> None:
        """Cancel the pending check; nothing is reported after this."""
        with self._lock:
            self._closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _arm(self, delay: float) -> None:
        # Holding the lock. One pending check at a time: the earlier one wins.
        if self._closed:
            return
        due = self._clock() + delay
        pending = self._timer
        if pending is not None:
            if self._timer_due <= due:
                return
            pending.cancel()
        timer = threading.Timer(max(delay, 0.0), self.check)
        timer.daemon = True
        timer.name = "sinetstream-mqtt-outage"
        self._timer = timer
        self._timer_due = due
        timer.start()


def _outage(address: str, reason: str | None) -> SinetConnectionError:
    """What both readers report when no connection has existed for OUTAGE_REPORT_S."""
    return SinetConnectionError(
        f"lost the connection to MQTT broker {address} ({reason}) and no connection for "
        f"{OUTAGE_REPORT_S:g} s; still reconnecting"
    )


class ReaderConnection(MqttConnection):
    """What both readers do when paho loses the connection (it reconnects by itself).

    Every loss is logged; one that lasts :data:`OUTAGE_REPORT_S` is reported
    once (see :mod:`._outage`) through :meth:`_report_outage`.
    """

    _outage_watch: OutageWatch | None = None

    def _install_callbacks(self, client: BufferedClient) -> None:
        if self._outage_watch is not None:
            self._outage_watch.close()
        self._outage_watch = OutageWatch(self._outage_due)

    def _outage_due(self) -> None:
        # Timer thread.
        if not self._closing:
            self._report_outage(_outage(self._settings.address, self._last_disconnect))

    def _report_outage(self, error: SinetError) -> None:
        """Role hook (timer thread): report a connection down for OUTAGE_REPORT_S."""

    def _connected_hook(self) -> None:
        watch = self._outage_watch
        if watch is not None:
            watch.connected()

    def _disconnected_hook(self, reason: ReasonCode) -> None:
        log.warning(
            "lost the connection to MQTT broker %s (%s); reconnecting",
            self._settings.address,
            reason.getName(),
        )
        watch = self._outage_watch
        if watch is not None:
            watch.lost()

    def _shutdown(self) -> None:
        watch = self._outage_watch
        if watch is not None:
            watch.close()
        super()._shutdown()
