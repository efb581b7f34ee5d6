"""What the conformance suite knows of the backend under test (see :mod:`sinetstream.testing`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FEATURES", "Backend"]

FEATURES = frozenset(
    {
        "ordering",
        "persistence",
        "multiple_topics",
        "seek",
        "wildcards",
        "reconnect",
        "manual_ack",
        "headers",
    }
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
