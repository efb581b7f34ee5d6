"""The bridge between two services (``sinetstream.Bridge``, ``sinetstream bridge``).

``_core.py`` holds :class:`Bridge` and its forwarding loop, ``_window.py``
the in-flight window that acknowledges the source in read order,
``_endpoints.py`` the source reader and destination writer it drives, and
``_topic_map.py`` the ``SOURCE=>DESTINATION`` rules.
"""

from __future__ import annotations

from ._core import Bridge
from ._window import BridgeMetrics

__all__ = ["Bridge", "BridgeMetrics"]
