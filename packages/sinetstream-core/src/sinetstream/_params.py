"""Parameters as every layer sees them: the library defaults and how layers merge.

Both the configuration (:mod:`._config`) and the message pipeline
(:mod:`._pipeline`, :mod:`._codec`) build on this module, which imports
neither of them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from .error import InvalidArgumentError

__all__ = [
    "AT_LEAST_ONCE",
    "AT_MOST_ONCE",
    "DEFAULT_PARAMS",
    "EXACTLY_ONCE",
    "Consistency",
    "copy_params",
    "deep_merge",
    "parse_consistency",
    "with_defaults",
]


class Consistency(enum.IntEnum):
    """Delivery guarantee asked of the broker."""

    AT_MOST_ONCE = 1
    AT_LEAST_ONCE = 2
    EXACTLY_ONCE = 3


AT_MOST_ONCE = Consistency.AT_MOST_ONCE
AT_LEAST_ONCE = Consistency.AT_LEAST_ONCE
EXACTLY_ONCE = Consistency.EXACTLY_ONCE

#: Library defaults, the bottom layer of every merge (SINETStream 1.10's values).
DEFAULT_PARAMS: Mapping[str, Any] = {
    "consistency": Consistency.AT_MOST_ONCE,
    "value_type": "byte_array",
    "data_encryption": False,
    "data_compression": False,
    "compression": {"algorithm": "gzip"},
    "crypto": {
        "key_length": 128,
        "key_derivation": {
            "algorithm": "pbkdf2",
            "salt_bytes": 8,
            "iteration": 10000,
            "prf": "HMAC-SHA256",
        },
    },
    "message_format": 3,
    "user_data_only": False,
    # Traces and metrics when sinetstream.instrumentation is on; false switches a service off.
    "telemetry": True,
}


def deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``top`` into ``base`` in place: mappings key by key, other values replaced."""
    for key, value in top.items():
        old = base.get(key)
        if isinstance(old, dict) and isinstance(value, Mapping):
            deep_merge(old, value)
        else:
            base[key] = value
    return base


def copy_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``params`` whose mappings and lists can be changed freely."""

    # Callables and user objects (value_serializer, value_type objects) are kept by
    # reference; containers are copied so the caller's dicts are never mutated.
    def copy_node(node: Any) -> Any:
        if isinstance(node, Mapping):
            return {k: copy_node(v) for k, v in node.items()}
        if isinstance(node, list):
            return [copy_node(v) for v in node]
        return node

    return dict(copy_node(params))


def with_defaults(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` deep-merged over the library defaults (mappings merged key by key)."""
    return deep_merge(copy_params(DEFAULT_PARAMS), copy_params(params))


def parse_consistency(value: Any, where: str) -> Consistency:
    """Accept a Consistency member or its exact name; anything else is an error."""
    if isinstance(value, Consistency):
        return value
    if isinstance(value, str) and value in Consistency.__members__:
        return Consistency[value]
    raise InvalidArgumentError(
        f"{where}consistency: {value!r} is not one of AT_MOST_ONCE, AT_LEAST_ONCE, EXACTLY_ONCE"
    )
