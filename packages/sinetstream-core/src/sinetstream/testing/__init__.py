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
``manual_ack``       sync readers implement ``enable_manual_ack`` / ``ack`` (see
                     :mod:`sinetstream.spi`): what was read and not acknowledged is
                     read again by the next reader with the same client id
``headers``          writers say ``supports_headers`` and readers hand the headers back
                     (see :mod:`sinetstream.spi`): with ``opentelemetry-sdk`` installed,
                     the reader's span joins the writer's trace
"""

from __future__ import annotations

from ._backend import FEATURES, Backend
from ._suite import ConformanceSuite

__all__ = ["FEATURES", "Backend", "ConformanceSuite"]
