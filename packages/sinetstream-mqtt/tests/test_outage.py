"""The outage rule both MQTT readers follow (Kafka's): once per outage of 2 s.

The broker tests (test_restart.py) check it end to end; these walk the rule
through a clock the test moves, calling ``check`` where the timer would.
"""

from __future__ import annotations

from sinetstream_mqtt._outage import OUTAGE_REPORT_S, RECONNECTED_S, OutageWatch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Watch(OutageWatch):
    """Records when the timer would fire instead of starting it."""

    def __init__(self, clock: Clock) -> None:
        self.reports = 0
        self.due: list[float] = []
        super().__init__(self._count, clock)
        self.clock = clock

    def _count(self) -> None:
        self.reports += 1

    def _arm(self, delay: float) -> None:
        self.due.append(self.clock() + delay)

    def fire(self) -> None:
        """Move the clock to the earliest pending check and run it."""
        self.clock.now = max(self.clock.now, min(self.due))
        self.due.remove(min(self.due))
        self.check()


def test_a_loss_reconnected_within_the_limit_is_not_reported() -> None:
    watch = Watch(Clock())
    watch.lost()
    watch.clock.now += 0.3
    watch.connected()
    while watch.due:
        watch.fire()
    assert watch.reports == 0


def test_a_connection_down_for_the_limit_is_reported_once() -> None:
    watch = Watch(Clock())
    start = watch.clock.now
    watch.lost()
    watch.fire()
    assert watch.reports == 1
    assert watch.clock.now - start == OUTAGE_REPORT_S
    watch.clock.now += 5
    watch.lost()  # paho's reconnects failing: the same outage
    assert watch.due == []
    watch.connected()
    watch.clock.now += RECONNECTED_S
    watch.lost()  # a new outage after a connection that stayed up
    watch.fire()
    assert watch.reports == 2


def test_connections_dropped_at_once_are_one_outage() -> None:
    # A broker (or proxy) that accepts the connection and drops it again.
    watch = Watch(Clock())
    start = watch.clock.now
    watch.lost()
    while watch.reports == 0:
        watch.clock.now += 0.2
        watch.connected()
        watch.clock.now += 0.1
        watch.lost()
        while watch.due and min(watch.due) <= watch.clock.now:
            watch.fire()
    assert watch.reports == 1
    assert OUTAGE_REPORT_S <= watch.clock.now - start < OUTAGE_REPORT_S + 0.5


def test_nothing_is_reported_after_close() -> None:
    watch = Watch(Clock())
    watch.lost()
    watch.close()
    watch.fire()
    assert watch.reports == 0
