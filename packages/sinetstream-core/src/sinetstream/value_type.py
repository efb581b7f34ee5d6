"""Value types by name, and their registry (the module of SINETStream 1.10's name).

``value_type_registry.register(name, cls)`` makes ``value_type: name`` usable
without packaging the plugin; ``cls`` is a :class:`sinetstream.spi.PluginValueType`
class, or an object whose ``load()`` returns one. See docs/plugins.md.
"""

from __future__ import annotations

from ._registry import Registry, registry
from ._value_type import BYTE_ARRAY, TEXT

__all__ = ["BYTE_ARRAY", "TEXT", "value_type_registry"]

#: The plugins of the ``sinetstream.value_type`` entry-point group.
value_type_registry: Registry = registry("value_type")
