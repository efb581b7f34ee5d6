"""The compression registry (the module of SINETStream 1.10's name).

``compression_registry.register(name, cls)`` makes ``compression: {algorithm:
name}`` usable without packaging the plugin; ``cls`` is a
:class:`sinetstream.spi.PluginCompression` class, or an object whose ``load()``
returns one. See docs/plugins.md.
"""

from __future__ import annotations

from ._registry import Registry, registry

__all__ = ["compression_registry"]

#: The plugins of the ``sinetstream.compression`` entry-point group.
compression_registry: Registry = registry("compression")
