"""The backend conformance suite: one set of tests every backend must pass.

A backend's test module subclasses :class:`ConformanceSuite` and provides a
``backend`` fixture describing how to reach the broker and what the backend
supports; pytest then runs every test of the suite against it::

    import pytest
    from sinetstream.testing import Backend, ConformanceSuite

    class TestMyBrokerConformance(ConformanceSuite):
        @pytest.fixture
        def backend(self, my_broker):          # your own fixture starting a broker
            return Backend(
                params={"type": "mybroker", "brokers": my_broker.address},
                features={"ordering", "persistence"},
            )

Features a backend may declare (tests needing an undeclared one are skipped):

``ordering``         messages of one writer arrive in publish order
``persistence``      messages published before a reader opened are delivered to it
``multiple_topics``  one reader can subscribe to several topics
``seek``             readers implement ``seek_to_beginning`` / ``seek_to_end``
``wildcards``        a topic filter given in ``Backend.wildcard`` matches sub-topics
``reconnect``        readers and writers at AT_LEAST_ONCE survive ``Backend.restart()``
                     (a broker restart) with no successfully published message lost
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FEATURES", "Backend", "ConformanceSuite"]

FEATURES = frozenset(
    {"ordering", "persistence", "multiple_topics", "seek", "wildcards", "reconnect"}
)


@dataclass
class Backend:
    """How the conformance suite reaches one backend, and what it supports.

    ``params`` are keyword arguments for every reader and writer (``type``,
    ``brokers``, ``type_spec``, ...; no topic). ``receive_timeout_ms`` bounds
    how long a test waits for a message. ``settle_s`` is slept after a reader
    opens, for backends whose subscription completes after ``open()``.
    ``wildcard`` turns a base topic into a filter matching ``base/<sub>``.
    ``restart`` stops and restarts the broker (keeping its storage) and returns
    when it accepts connections again.
    """

    params: dict[str, Any]
    features: frozenset[str] | set[str] = field(default_factory=frozenset)
    receive_timeout_ms: int = 3000
    settle_s: float = 0.0
    topic_prefix: str = "conformance"
    wildcard: Callable[[str], str] | None = None
    restart: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        unknown = set(self.features) - FEATURES
        if unknown:
            raise ValueError(f"unknown conformance features: {sorted(unknown)}")
        self.features = frozenset(self.features)

    def topic(self) -> str:
        """A fresh topic name, so tests never see each other's messages."""
        return f"{self.topic_prefix}-{uuid.uuid4().hex[:12]}"


from ._suite import ConformanceSuite  # noqa: E402 - needs Backend defined first
